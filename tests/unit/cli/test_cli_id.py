"""``vmsgw id explain``: the worked example of docs/wire-format.md §3.4 as a table and JSON, and refused IDs."""
from __future__ import annotations

import json

EXAMPLE = "32010001071321008015"


def test_explain_worked_example(vmsgw, capsys) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("id", "explain", EXAMPLE) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["field", "digits", "meaning"]
    rows = {line[:13].strip(): line[13:].split(None, 1) for line in lines[1:]}
    assert rows["province"] == ["32", "Jiangsu"]
    assert rows["unit"][0] == "01"
    assert rows["agency"] == ["07", "Agency Related to Traffic Management (Government Offices)"]
    assert rows["device type"] == ["132", "IPC (peripheral device)"]
    assert rows["serial"] == ["008015", "device or user number 8015"]
    assert len(rows) == 8


def test_explain_json(vmsgw, capsys) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("id", "explain", EXAMPLE, "--json") == 0
    fields = json.loads(capsys.readouterr().out)
    assert "".join(f["digits"] for f in fields) == EXAMPLE
    assert fields[5] == {"name": "device type", "digits": "132", "meaning": "IPC (peripheral device)"}


def test_invalid_id_names_the_position(vmsgw, capsys) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("id", "explain", "320100010713210080X5") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("vmsgw id explain: ") and "position 19" in err and err.count("\n") == 1


def test_wrong_length(vmsgw, capsys) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("id", "explain", "3201000107") == 2
    assert "10 characters" in capsys.readouterr().err
