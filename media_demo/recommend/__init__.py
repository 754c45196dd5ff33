"""Recommendations: TF-IDF similarity, read counts and the strategy (no Reflex imports)."""

from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import ReadStats
from media_demo.recommend.strategy import ReaderProfile, Recommendation, recommend, strategy_name

__all__ = ["ArticleIndex", "ReadStats", "ReaderProfile", "Recommendation", "recommend", "strategy_name"]
