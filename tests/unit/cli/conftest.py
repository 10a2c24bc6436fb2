"""Fixtures for the CLI tests: a throwaway catalog and an in-process ``vmsgw`` runner."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli.main import main

Vmsgw = Callable[..., int]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def vmsgw(monkeypatch: pytest.MonkeyPatch) -> Vmsgw:
    """``vmsgw(*argv, stdin="...")`` runs ``main(argv)`` in process and returns its exit code."""

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # not a TTY: passwords come from it
        with pytest.raises(SystemExit) as exited:
            main(list(argv))
        return int(exited.value.code or 0)

    return run
