"""The one backoff, with the parameters of both of its users."""
from __future__ import annotations

import random

from gateway.federation import segment
from gateway.supervision.backoff import Backoff
from gateway.uplink.connecting import connector


class Fixed:
    """A random source that always draws the same point of the range: 0 its low end, 1 its high end."""

    def __init__(self, at: float) -> None:
        self.at, self.draws = at, 0

    def uniform(self, a: float, b: float) -> float:
        self.draws += 1
        return a + (b - a) * self.at


def test_exact_doubling_up_to_the_cap_and_back_to_the_start() -> None:
    backoff = Backoff(1.0, 30.0)
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert [backoff.next() for _ in range(2)] == [1, 2]


def test_spread_scales_each_delay_of_the_current_step() -> None:
    low, high = Fixed(0.0), Fixed(1.0)
    assert Backoff(1.0, 30.0, spread=(0.5, 1.0), rng=low).next() == 0.5
    backoff = Backoff(1.0, 4.0, spread=(0.5, 1.0), rng=high)
    assert [backoff.next() for _ in range(4)] == [1, 2, 4, 4]
    assert high.draws == 4  # one draw per delay


def test_a_segment_sync_jitters_every_delay_within_half_to_all_of_its_step() -> None:
    backoff = Backoff(segment.BACKOFF_START, segment.BACKOFF_CAP, spread=segment.BACKOFF_SPREAD,
                      rng=random.Random(3))
    delays = [backoff.next() for _ in range(8)]
    steps = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True)), delays
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_an_uplink_draws_its_start_once_then_doubles_exactly() -> None:
    rng = Fixed(0.5)
    backoff = Backoff.random_start(connector.FIRST_DELAY, connector.MAX_DELAY, rng=rng)
    assert [backoff.next() for _ in range(5)] == [3, 6, 12, 24, 30]
    backoff.reset()
    assert backoff.next() == 3 and rng.draws == 1  # the same individual start after a stable connection


def test_random_starts_are_individual() -> None:
    starts = {Backoff.random_start((1.0, 5.0), 30.0, rng=random.Random(seed)).next() for seed in range(20)}
    assert len(starts) > 1 and all(1.0 <= s <= 5.0 for s in starts)
