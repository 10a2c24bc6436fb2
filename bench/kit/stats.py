"""Latency distributions with nearest-rank percentiles (the figures every report shows)."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def nearest_rank(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted, non-empty values."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values; 0 for none."""
    if not values:
        return 0.0
    return nearest_rank(sorted(values), pct)


@dataclass(frozen=True)
class Dist:
    """Latency distribution in milliseconds: p50, p95, max."""

    n: int
    p50: float
    p95: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Dist:
        ms = sorted(s * 1000.0 for s in seconds)
        return cls(n=len(ms), p50=nearest_rank(ms, 50), p95=nearest_rank(ms, 95), max=ms[-1],
                   mean=statistics.fmean(ms))


@dataclass(frozen=True)
class TailDist:
    """Latency distribution in milliseconds with the tail: p50, p90, p99, max (NaN for none)."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> TailDist:
        ms = sorted(s * 1000.0 for s in seconds)
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(n=len(ms), p50=nearest_rank(ms, 50), p90=nearest_rank(ms, 90), p99=nearest_rank(ms, 99),
                   max=ms[-1], mean=statistics.fmean(ms))

    def text(self) -> str:
        return f"{self.p50:.0f} / {self.p90:.0f} / {self.p99:.0f} / {self.max:.0f} ms (mean {self.mean:.0f})"
