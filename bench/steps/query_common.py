"""bench/query.py's settings and the records its measurements return."""
from __future__ import annotations

from dataclasses import dataclass

from bench.kit.stats import Dist

DEFAULT_SIZE = 1_000_000
DEFAULT_QUERIES = 200
DEFAULT_DRAIN_TARGET = 10_000
QUERY_RADIUS_M = 100.0
FIRST_PAGE = 100
DRAIN_PAGE = 1000
DRAIN_REPEATS = 5
KIND = "MediaProfile"
#: Acceptance (the issue): first page "well under 100 ms", drain >= a third of the raw limit.
FIRST_PAGE_LIMIT_MS = 100.0
DRAIN_MIN_RATIO = 1 / 3
SERVER_START_TIMEOUT = 120.0
USER_LEVEL = "user"


@dataclass
class FirstPage:
    latency: Dist
    mean_page_hits: float
    mean_total_hits: float  # all matches within 100 m, of which the first page shows up to 100
    empty_share: float
    wrong_pages: int = 0  # pages whose size differs from min(SQL count, 100)


@dataclass
class Drain:
    matched: int  # SQL count of the filter
    seconds: float  # best run; for the gateway without the client's own XML parsing
    seconds_all: list[float]
    pulls: int
    verified: bool
    note: str = ""

    @property
    def rate(self) -> float:
        return self.matched / self.seconds if self.seconds else 0.0
