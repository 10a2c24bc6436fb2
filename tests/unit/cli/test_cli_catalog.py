"""``vmsgw catalog import|export|stats``: all-or-nothing imports, FILE:LINE messages, idempotent round trips."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

HEADER = "token,kind,name,lat,lon,elevation,scopes,offline\n"
ROWS = [
    "32010001071321008015:Profile_1,MediaProfile,Gate 8 - main,32.0603,118.7969,12.5,"
    "onvif://www.onvif.org/location/city/nanjing onvif://www.onvif.org/name/Gate8,false\n",
    "32010001071321008015:Profile_2,MediaProfile,Gate 8 - sub,32.0603,118.7969,12.5,,false\n",
    "32010001071321008016:VS_1,VideoSource,Gate 9,,,,,\n",
]
BAD_ROW = "32010001071321008017:Profile_1,MediaProfile,Gate 10,95.5,118.8,,,\n"  # latitude out of range


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    return path


@pytest.fixture
def bad_csv(tmp_path: Path) -> Path:
    """The invalid row is on line 4 (line 1 is the header)."""
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + ROWS[0] + ROWS[1] + BAD_ROW + ROWS[2], encoding="utf-8")
    return path


def _stats(vmsgw, capsys, db_url: str) -> dict:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert vmsgw("catalog", "stats", "--json", "--db", db_url) == 0
    return json.loads(capsys.readouterr().out)


def test_import_then_reimport_changes_nothing(vmsgw, capsys, db_url: str, good_csv: Path) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("catalog", "import", str(good_csv), "--db", db_url) == 0
    assert capsys.readouterr().out == f"{good_csv}: 3 created, 0 changed, 0 deleted, 0 unchanged, 0 skipped\n"
    assert vmsgw("catalog", "import", str(good_csv), "--db", db_url) == 0
    assert capsys.readouterr().out == f"{good_csv}: 0 created, 0 changed, 0 deleted, 3 unchanged, 0 skipped\n"


def test_bad_row_names_file_and_line_and_imports_nothing(  # type: ignore[no-untyped-def]
    vmsgw, capsys, db_url: str, good_csv: Path, bad_csv: Path
) -> None:
    vmsgw("catalog", "import", str(good_csv), "--db", db_url)
    before = _stats(vmsgw, capsys, db_url)
    assert vmsgw("catalog", "import", str(bad_csv), "--db", db_url) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == ""
    assert lines[0].startswith(f"{bad_csv}:4: ") and "95.5" in lines[0]
    assert lines[1].startswith("vmsgw catalog import: 1 invalid row: nothing was imported")
    assert _stats(vmsgw, capsys, db_url) == before


def test_skip_invalid_imports_the_rest(vmsgw, capsys, db_url: str, bad_csv: Path) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("catalog", "import", str(bad_csv), "--skip-invalid", "--db", db_url) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"{bad_csv}:4: ")
    assert out == f"{bad_csv}: 3 created, 0 changed, 0 deleted, 0 unchanged, 1 skipped\n"
    assert _stats(vmsgw, capsys, db_url)["resources"] == 3


def test_replace_deletes_and_merge_keeps(vmsgw, capsys, db_url: str, good_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vmsgw("catalog", "import", str(good_csv), "--db", db_url)
    smaller = tmp_path / "smaller.csv"
    smaller.write_text(HEADER + ROWS[0].replace("Gate 8 - main", "Gate 8 - main (renamed)"), encoding="utf-8")
    capsys.readouterr()
    assert vmsgw("catalog", "import", str(smaller), "--merge", "--db", db_url) == 0
    assert "0 created, 1 changed, 0 deleted" in capsys.readouterr().out
    assert vmsgw("catalog", "import", str(smaller), "--db", db_url) == 0
    assert "0 created, 0 changed, 2 deleted, 1 unchanged" in capsys.readouterr().out


def test_export_import_round_trip_changes_nothing(  # type: ignore[no-untyped-def]
    vmsgw, capsys, db_url: str, good_csv: Path, tmp_path: Path, new_catalog
) -> None:
    vmsgw("catalog", "import", str(good_csv), "--db", db_url)
    exported = tmp_path / "export.csv"
    capsys.readouterr()
    assert vmsgw("catalog", "export", str(exported), "--db", db_url) == 0
    assert capsys.readouterr().out == f"{exported}: 3 resources written\n"
    assert vmsgw("catalog", "import", str(exported), "--db", db_url) == 0
    assert capsys.readouterr().out == f"{exported}: 0 created, 0 changed, 0 deleted, 3 unchanged, 0 skipped\n"
    other = new_catalog(tmp_path / "other.db")  # and into an empty catalog, the same three rows
    assert vmsgw("catalog", "import", str(exported), "--db", other) == 0
    assert vmsgw("catalog", "export", str(tmp_path / "again.csv"), "--db", other) == 0
    assert (tmp_path / "again.csv").read_text() == exported.read_text()


def test_stats_table(vmsgw, capsys, db_url: str, good_csv: Path) -> None:  # type: ignore[no-untyped-def]
    vmsgw("catalog", "import", str(good_csv), "--db", db_url)
    capsys.readouterr()
    assert vmsgw("catalog", "stats", "--db", db_url) == 0
    rows = dict(line.split() for line in capsys.readouterr().out.splitlines()[1:])
    assert rows["resources"] == "3" and rows["by_kind.VideoSource"] == "1"


def test_missing_file(vmsgw, capsys, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("catalog", "import", str(tmp_path / "nope.csv"), "--db", db_url) == 2
    assert capsys.readouterr().err == f"vmsgw catalog import: {tmp_path / 'nope.csv'}: no such file\n"


def test_unreadable_file_imports_nothing_even_when_skipping(  # type: ignore[no-untyped-def]
    vmsgw, capsys, db_url: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("token,colour\n" + ROWS[0], encoding="utf-8")
    assert vmsgw("catalog", "import", str(wrong), "--skip-invalid", "--db", db_url) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{wrong}:1: ") and "colour" in err[0]
    assert err[1] == "vmsgw catalog import: nothing was imported: the file cannot be read as a catalog CSV"


def test_export_to_a_directory_is_refused(vmsgw, capsys, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("catalog", "export", str(tmp_path), "--db", db_url) == 2
    assert capsys.readouterr().err.startswith(f"vmsgw catalog export: {tmp_path}: ")
