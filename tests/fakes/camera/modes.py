"""Run-time failure modes: how the camera misbehaves, for every call or only for named operations.

``normal``; ``hang`` (read the request, never answer; the connection is closed when the mode changes or the
camera stops); ``slow SECONDS`` (answer late); ``garbage`` (200 with bytes that are no XML); ``fault`` (an
env:Receiver/ter:Action fault for everything); ``close`` (drop the connection without a reply); ``truncate``
(half a reply, then close); ``http-error`` (503 with an HTML page, as a crashed web server answers).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

NAMES = ("normal", "hang", "slow", "garbage", "fault", "close", "truncate", "http-error")


@dataclass(frozen=True)
class Mode:
    name: str = "normal"
    seconds: float = 0.0  # for slow
    operations: frozenset[str] = frozenset()  # empty: every operation

    def applies(self, operation: str) -> bool:
        return self.name != "normal" and (not self.operations or operation in self.operations)


def parse(words: list[str]) -> Mode:
    """``NAME [SECONDS] [Op1,Op2]`` as the control channel sends it; ValueError when malformed."""
    if not words or words[0] not in NAMES:
        raise ValueError(f"mode must be one of {', '.join(NAMES)}")
    name, rest = words[0], words[1:]
    seconds = 0.0
    if name == "slow":
        if not rest:
            raise ValueError("slow needs SECONDS")
        seconds = float(rest.pop(0))
        if not 0 <= seconds <= 3600:
            raise ValueError("slow SECONDS must be within 0..3600")
    if len(rest) > 1:
        raise ValueError("operations are one comma-separated word")
    operations = frozenset(o for o in (rest[0].split(",") if rest else []) if o)
    return Mode(name, seconds, operations)


class Switch:
    """The current mode; hung requests wait on it until it changes."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._mode = Mode()
        self._generation = 0

    @property
    def mode(self) -> Mode:
        with self._changed:
            return self._mode

    def set(self, mode: Mode) -> None:
        with self._changed:
            self._mode = mode
            self._generation += 1
            self._changed.notify_all()

    def hold(self, stopping: threading.Event) -> None:
        """Block a hung request until the mode is changed or ``stopping`` is set."""
        with self._changed:
            generation = self._generation
            while self._generation == generation and not stopping.is_set():
                self._changed.wait(0.5)

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()
