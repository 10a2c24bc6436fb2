"""The house rules, checked on every run of the test suite (so by CI, through the README's test command).

``ruff`` (lint), ``mypy`` (types) and ``lint-imports`` (the layering of
``gateway/`` as import contracts) are configured in ``pyproject.toml`` and
installed by the ``test`` extra.  Each runs as a subprocess of this
interpreter from the repository root, on this checkout, and a failure shows
the tool's own report.  A tool that is not installed skips its test on a
developer's machine and fails it in CI (``CI=true``): CI must not pass by
checking nothing.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Seconds each tool may take; mypy from a cold cache takes about 15 s on two cores.
TIMEOUT = 600


def _run(module: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with this interpreter if ``module`` is importable; skip (fail in CI) when it is not."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install -e '.[test]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def _passes(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        pytest.fail(f"exit {done.returncode}\n{done.stdout}{done.stderr}", pytrace=False)


def test_ruff_finds_nothing() -> None:
    _passes(_run("ruff", ["-m", "ruff", "check", "--no-cache", "gateway", "bench", "tests"]))


def test_mypy_finds_nothing() -> None:
    _passes(_run("mypy", ["-m", "mypy"]))  # the files and settings of [tool.mypy]


def test_the_import_contracts_are_kept() -> None:
    lint_imports = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    _passes(_run("importlinter", ["-c", lint_imports, "--no-logo", "--no-cache", "pyproject.toml"]))
