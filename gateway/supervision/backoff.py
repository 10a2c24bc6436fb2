"""One backoff: delays that double from a start to a cap, optionally jittered, back to the start on reset.

Both retrying loops of the gateway are this one object with different parameters:

* a segment sync (federation/segment.py): start 1 s, cap 30 s, each delay drawn from [0.5, 1] times the
  current step (``spread``), reset after a session that stored anything;
* an uplink (uplink/connecting/connector.py): the start drawn once from [1, 5] s (:meth:`Backoff.random_start`),
  exact doubling to 30 s, reset after a connection that stayed up long enough.

The caller decides what counts as stable or successful and calls :meth:`Backoff.reset`; the backoff only
counts.  Randomness comes from ``rng`` (anything with ``uniform(a, b)``), so tests can seed it.
"""
from __future__ import annotations

import random
from typing import Protocol


class Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


#: No jitter: every delay is the current step itself.
EXACT = (1.0, 1.0)


class Backoff:
    """``next()`` gives the delay to wait now and doubles the step (up to ``cap``); ``reset()`` restarts it."""

    def __init__(self, start: float, cap: float, *, spread: tuple[float, float] = EXACT,
                 rng: Uniform | None = None) -> None:
        self.start, self.cap, self.spread = start, cap, spread
        self._rng = rng if rng is not None else random.Random()
        self._step = start

    @classmethod
    def random_start(cls, first: tuple[float, float], cap: float, *, rng: Uniform | None = None) -> Backoff:
        """An individual backoff: its start is drawn once from ``first`` (low, high), then it doubles exactly."""
        rng = rng if rng is not None else random.Random()
        return cls(rng.uniform(*first), cap, rng=rng)

    def next(self) -> float:
        step, self._step = self._step, min(self._step * 2, self.cap)
        if self.spread == EXACT:
            return step
        return step * self._rng.uniform(*self.spread)

    def reset(self) -> None:
        self._step = self.start
