"""``vmsgw user``: passwords from standard input, never shown again."""
from __future__ import annotations

import json

from gateway.catalog.store import Catalog

PASSWORD = "s3cret-Pa55"


def test_add_reads_the_password_from_stdin(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("user", "add", "alice", "--level", "operator", "--db", db_url, stdin=PASSWORD + "\n") == 0
    assert "alice" in capsys.readouterr().out
    catalog = Catalog.open(db_url)
    try:
        user = catalog.get_user("alice")
    finally:
        catalog.close()
    assert user is not None and user.level == "Operator" and user.password == PASSWORD


def test_list_never_shows_passwords(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    vmsgw("user", "add", "alice", "--level", "administrator", "--db", db_url, stdin=PASSWORD)
    vmsgw("user", "add", "bob", "--level", "user", "--db", db_url, stdin=PASSWORD + "-b\n")
    capsys.readouterr()
    assert vmsgw("user", "list", "--db", db_url) == 0
    table = capsys.readouterr().out
    assert [line.split() for line in table.splitlines()] == [["name", "level"], ["alice", "Administrator"],
                                                             ["bob", "User"]]
    assert vmsgw("user", "list", "--json", "--db", db_url) == 0
    listed = capsys.readouterr().out
    assert json.loads(listed) == [{"name": "alice", "level": "Administrator"}, {"name": "bob", "level": "User"}]
    assert PASSWORD not in table + listed


def test_empty_password_is_refused(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("user", "add", "alice", "--level", "user", "--db", db_url, stdin="\n") == 2
    assert "empty" in capsys.readouterr().err


def test_existing_user_needs_update(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("user", "add", "alice", "--level", "user", "--db", db_url, stdin="one") == 0
    assert vmsgw("user", "add", "alice", "--level", "operator", "--db", db_url, stdin="two") == 2
    assert "--update" in capsys.readouterr().err
    assert vmsgw("user", "add", "alice", "--level", "operator", "--update", "--db", db_url, stdin="two") == 0


def test_unknown_level_and_remove(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("user", "add", "alice", "--level", "root", "--db", db_url, stdin="pw") == 2
    assert vmsgw("user", "remove", "alice", "--db", db_url) == 2
    assert "no user named 'alice'" in capsys.readouterr().err
    vmsgw("user", "add", "alice", "--level", "user", "--db", db_url, stdin="pw")
    assert vmsgw("user", "remove", "alice", "--db", db_url) == 0
