"""What an experiment's readers and visits did: the report's input, read from the attribute engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitOutcome:
    """One exposed reader (an account, or a browser without one) and what they did in the experiment."""

    unit: str
    variant: str
    variants_seen: tuple[str, ...]  # more than one: the reader moved (e.g. signed in), left out of the analysis
    first_exposed_at: float  # epoch seconds
    exposures: int
    impressions: int
    clicks: int
    returned: bool  # came back in a later visit within 7 days of their first exposure
    reads_before: int  # CUPED's covariate


@dataclass(frozen=True)
class VisitOutcome:
    """One visit with a click on the experiment's panel: its variant and the stories read in it."""

    variant: str
    clicks: int
    reads: int
