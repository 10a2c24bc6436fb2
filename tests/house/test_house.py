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


#: lint-imports, run by this interpreter.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _require(module: str) -> None:
    """Skip the test when ``module`` is not installed; fail it in CI."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install -e '.[test]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def _run(module: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with this interpreter from the repository root, on this checkout; ``module`` must be installed."""
    _require(module)
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
    _passes(_run("importlinter", ["-c", LINT_IMPORTS, "--no-logo", "--no-cache", "pyproject.toml"]))


#: The packages the contracts name, as an empty skeleton: enough for lint-imports to check the contracts themselves.
SKELETON = ("cli", "device", "events", "uplink_config", "federation", "media", "ptz", "downstream", "relay", "uplink",
            "uplink.listening", "uplink.connecting", "catalog", "query", "onvif", "addressing", "soap", "vocabulary", "supervision")


@pytest.mark.parametrize(("importer", "imported", "contract"), [
    (None, None, None),
    ("query", "gateway.catalog", "Layers"),
    ("catalog", "gateway.runtime", "Layers"),
    ("events", "gateway.federation", "Layers"),  # siblings of one layer: neither imports the other
    ("soap", "gateway.vocabulary", "soap is a generic SOAP 1.2 core"),
    ("supervision", "gateway.vocabulary", "vocabulary and supervision are the bottom"),
    ("uplink.listening", "gateway.uplink.connecting", "The two sides of the uplink"),
    ("events", "sqlalchemy", "SQL stays in the catalog"),
], ids=lambda v: str(v))
def test_the_contracts_catch_what_they_forbid(tmp_path: Path, importer: str | None, imported: str | None,
                                              contract: str | None) -> None:
    """The contracts of pyproject.toml, on a skeleton of the layout with one import added: broken where they should."""
    for name in SKELETON:
        package = tmp_path.joinpath("gateway", *name.split("."))
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
    (tmp_path / "gateway" / "__init__.py").touch()
    (tmp_path / "gateway" / "runtime.py").touch()
    if importer is not None:
        tmp_path.joinpath("gateway", *importer.split("."), "offender.py").write_text(f"import {imported}\n")
    _require("importlinter")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "300"}  # wide: one line per contract in the report
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-logo", "--no-cache", str(ROOT / "pyproject.toml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    report = done.stdout + done.stderr
    broken = [line for line in report.splitlines() if line.endswith(" BROKEN")]
    if contract is None:
        assert done.returncode == 0, report
    else:  # the bottom packages' own contract repeats what the layers say; the others are each alone
        assert done.returncode == 1 and any(line.startswith(contract) for line in broken), report
        assert len(broken) == 1 or contract.startswith("vocabulary"), report
