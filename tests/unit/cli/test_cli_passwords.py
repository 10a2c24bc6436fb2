"""Where passwords come from: a terminal prompt (twice for new accounts), standard input, or $VMSGW_PASSWORD."""
from __future__ import annotations

import argparse
import io

import pytest

from gateway.catalog.db import default_url
from gateway.cli import passwords
from gateway.cli.demo import demo_url
from gateway.cli.main import run
from gateway.cli.output import UsageError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _prompts(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Make getpass answer ``answers`` in turn on a fake terminal; return the prompts shown."""
    shown: list[str] = []
    replies = iter(answers)
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(passwords.getpass, "getpass", lambda prompt: shown.append(prompt) or next(replies))
    return shown


def test_new_password_asked_twice_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _prompts(monkeypatch, "pw-1", "pw-1")
    assert passwords.new_password() == "pw-1" and len(shown) == 2


def test_new_passwords_that_differ_are_refused(capsys, monkeypatch, db_url) -> None:  # type: ignore[no-untyped-def]
    _prompts(monkeypatch, "pw-1", "pw-2")
    assert run(["user", "add", "alice", "--level", "user", "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "differ" in err and "pw-1" not in err and "pw-2" not in err


def test_client_password_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(passwords.PASSWORD_ENV, "from-env")
    assert passwords.client_password("demo", from_stdin=True) == "from-env"
    monkeypatch.delenv(passwords.PASSWORD_ENV)
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\r\nignored\n"))
    assert passwords.client_password("demo", from_stdin=True) == "from-stdin"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(UsageError, match="VMSGW_PASSWORD or pass --password-stdin"):
        passwords.client_password("demo", from_stdin=False)
    shown = _prompts(monkeypatch, "typed")
    assert passwords.client_password("demo", from_stdin=False) == "typed" and shown == ["Password for demo: "]


def test_demo_never_uses_the_real_catalog(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="real catalog"):
        demo_url(argparse.Namespace(db=default_url()))
    assert demo_url(argparse.Namespace(db=None)).endswith("/demo.db")
    other = f"sqlite:///{tmp_path / 'x.db'}"
    assert demo_url(argparse.Namespace(db=other)) == other
