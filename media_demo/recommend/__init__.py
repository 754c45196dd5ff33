"""Recommendations: the reader's profile, TF-IDF similarity, read and co-read counts, the strategies (no Reflex)."""

from media_demo.recommend.coreads import CoReads
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import Popularity, PopularitySnapshot, ReadStats
from media_demo.recommend.profile import ReaderProfile
from media_demo.recommend.strategy import Recommendation, interests, recommend, strategy_name

__all__ = [
    "ArticleIndex",
    "CoReads",
    "Popularity",
    "PopularitySnapshot",
    "ReadStats",
    "ReaderProfile",
    "Recommendation",
    "interests",
    "recommend",
    "strategy_name",
]
