"""Reading passwords without echoing or logging them: from the environment, standard input or a prompt."""
from __future__ import annotations

import getpass
import os
import sys

from gateway.cli.output import UsageError

#: Environment variable ``vmsgw query`` reads the password from, when set.
PASSWORD_ENV = "VMSGW_PASSWORD"


def _refuse_empty(password: str) -> str:
    if not password:
        raise UsageError("the password is empty; give a non-empty password")
    return password


def read_stdin_line() -> str:
    """The first line of standard input, without its line ending; never empty."""
    line = sys.stdin.readline()
    return _refuse_empty(line.rstrip("\r\n"))


def new_password() -> str:
    """A password for a new account: prompted twice on a terminal, else one line of standard input."""
    if not sys.stdin.isatty():
        return read_stdin_line()
    first = _refuse_empty(getpass.getpass("Password: "))
    if getpass.getpass("Repeat password: ") != first:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


def client_password(user: str, *, from_stdin: bool) -> str:
    """The password to log in with: $VMSGW_PASSWORD, else standard input if asked, else a prompt."""
    if PASSWORD_ENV in os.environ:
        return _refuse_empty(os.environ[PASSWORD_ENV])
    if from_stdin:
        return read_stdin_line()
    if not sys.stdin.isatty():
        raise UsageError(f"no password: set {PASSWORD_ENV} or pass --password-stdin")
    return _refuse_empty(getpass.getpass(f"Password for {user}: "))
