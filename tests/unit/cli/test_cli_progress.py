"""Progress on standard error: rewritten in place on a terminal, periodic lines otherwise, silent for quick work."""
from __future__ import annotations

import io

import pytest

from gateway.cli import progress as progress_module
from gateway.cli.progress import LOG_INTERVAL, TTY_INTERVAL, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    return now


def test_quick_work_prints_nothing(clock: list[float]) -> None:
    stream = io.StringIO()
    progress = Progress("importing x.csv", stream=stream)
    progress(10)
    progress.finish()
    assert stream.getvalue() == ""


def test_log_lines_when_not_a_terminal(clock: list[float]) -> None:
    stream = io.StringIO()
    progress = Progress("importing x.csv", stream=stream)
    clock[0] += TTY_INTERVAL
    progress(1_000)
    assert stream.getvalue() == ""  # a log gets a line per LOG_INTERVAL, not per TTY_INTERVAL
    clock[0] += LOG_INTERVAL
    progress(20_000)
    clock[0] += 1.0
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("importing x.csv: 20,000 rows, ") and "rows/s" in lines[0]
    assert lines[1].startswith("importing x.csv: 20,000 rows, ") and lines[1].endswith("s")
    assert "\r" not in stream.getvalue()


def test_terminal_line_is_rewritten_in_place(clock: list[float]) -> None:
    stream = Terminal()
    progress = Progress("seeding", unit="resources", stream=stream)
    for done in (5_000, 10_000):
        clock[0] += TTY_INTERVAL
        progress(done, 12_000)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "seeding: 10,000/12,000 resources, 25,000 resources/s" in text
