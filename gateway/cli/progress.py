"""Progress of long work (imports, seeding) on standard error: count, rate, and elapsed time.

On a terminal one line is rewritten in place at most :data:`TTY_INTERVAL`
apart; otherwise (a log file, CI) a full line is written every
:data:`LOG_INTERVAL` seconds, so logs stay readable.  Standard output stays
free for the command's result.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between in-place updates on a terminal: fast enough to look live.
TTY_INTERVAL = 0.2
#: Seconds between lines when standard error is not a terminal.
LOG_INTERVAL = 5.0


class Progress:
    """A callable ``progress(done, total=None)`` that reports ``done`` rows of work.

    Catalog bulk operations call it as they go; :meth:`finish` writes the final
    line.  Nothing is written for work that ends within the first interval.
    """

    def __init__(self, label: str, *, unit: str = "rows", stream: TextIO | None = None) -> None:
        self._label = label
        self._unit = unit
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._interval = TTY_INTERVAL if self._tty else LOG_INTERVAL
        self._start = time.monotonic()
        self._last = self._start
        self._done = 0
        self._total: int | None = None
        self._shown = False

    def __call__(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._show(now)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        count = f"{self._done:,}" if self._total is None else f"{self._done:,}/{self._total:,}"
        return f"{self._label}: {count} {self._unit}, {rate:,.0f} {self._unit}/s, {elapsed:.1f} s"

    def _show(self, now: float) -> None:
        self._shown = True
        if self._tty:
            self._stream.write("\r\x1b[K" + self._line(now))
        else:
            self._stream.write(self._line(now) + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """End an in-place line, or write the last count if anything was shown."""
        if self._shown:
            self._show(time.monotonic())
            if self._tty:
                self._stream.write("\n")
                self._stream.flush()
