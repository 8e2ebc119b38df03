"""Confidence intervals without SciPy: Wilson for rates, Student's t for means."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "mean_interval", "wilson"]

Z95 = 1.959963984540054
"""The standard normal's 97.5th percentile (two-sided 95%)."""

# Student's t, 97.5th percentile, for 1-30 degrees of freedom; beyond, the normal's is
# within 2% of it.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Estimate:
    """A value with its 95% interval (``low``/``high`` are ``None`` when unknowable)."""

    value: float
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        """The estimate as JSON-ready data."""
        return {"value": self.value, "low": self.low, "high": self.high}


def wilson(successes: int, trials: int, *, z: float = Z95) -> Estimate:
    """The success rate with its Wilson score interval (sound at 0%, 100% and small n).

    Raises:
        ValueError: ``trials`` < 1 or ``successes`` outside 0..trials.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def t975(df: int) -> float:
    """Student's t 97.5th percentile for ``df`` degrees of freedom (normal beyond 30)."""
    return _T975[df - 1] if df <= len(_T975) else Z95


def mean_interval(values: Sequence[float]) -> Estimate:
    """The mean with its 95% t-interval (no interval from fewer than two values).

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("mean_interval() needs at least one value")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, None)
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half)
