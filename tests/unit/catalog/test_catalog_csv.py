"""CSV import and export, and the bulk path under them: validation, all-or-nothing, diffs, round trips."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from gateway.catalog.csvio import ImportReport, export_csv, import_csv
from gateway.catalog.errors import CatalogError
from gateway.catalog.feed import ApplyResult
from gateway.catalog.schema import resource
from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import RESOURCE_KINDS, Resource

HEADER = "token,kind,name,lat,lon,elevation,scopes,offline\n"
GOOD = (
    HEADER
    + '12010000001320000001:p0,MediaProfile,"Gate, north ""A""",52.520008,13.404954000000002,34.5,'
      "onvif://www.onvif.org/location/city/berlin onvif://www.onvif.org/name/gate,false\n"
    + "12010000001320000001:vs0,VideoSource,Kamera Süd,-0.1,-179.99999999999997,-12.25,,true\n"
    + "P2:x,Recording,,,,,,\n"
    + '12010000001320000002:p0,MediaProfile,"two\nlines",0.30000000000000004,1e-07,,s://a/b,\n'
)


def write(tmp_path: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_import_then_export_is_exact_and_reimport_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    report = import_csv(catalog, write(tmp_path, GOOD), skip_invalid=False)
    assert report == ImportReport(created=4)
    assert catalog.get("12010000001320000001:p0") == Resource(
        token="12010000001320000001:p0", kind="MediaProfile", name='Gate, north "A"', lat=52.520008,
        lon=13.404954000000002, elevation=34.5,
        scopes=("onvif://www.onvif.org/location/city/berlin", "onvif://www.onvif.org/name/gate"), offline=False)
    assert catalog.get("12010000001320000002:p0") == Resource(
        token="12010000001320000002:p0", name="two\nlines", lat=0.30000000000000004, lon=1e-07, scopes=("s://a/b",))
    assert catalog.get("P2:x") == Resource(token="P2:x", kind="Recording")
    out = tmp_path / "out.csv"
    assert export_csv(catalog, out) == 4
    assert out.read_text(encoding="utf-8") == (
        HEADER
        + '12010000001320000001:p0,MediaProfile,"Gate, north ""A""",52.520008,13.404954000000002,34.5,'
          "onvif://www.onvif.org/location/city/berlin onvif://www.onvif.org/name/gate,false\n"
        + "12010000001320000001:vs0,VideoSource,Kamera Süd,-0.1,-179.99999999999997,-12.25,,true\n"
        + '12010000001320000002:p0,MediaProfile,"two\nlines",0.30000000000000004,1e-07,,s://a/b,\n'
        + "P2:x,Recording,,,,,,\n"
    )
    head = catalog.head_seq()
    assert import_csv(catalog, out, skip_invalid=False) == ImportReport(unchanged=4)
    assert catalog.head_seq() == head == 4


def test_invalid_rows_are_reported_by_physical_line_and_nothing_is_imported(catalog: Catalog, tmp_path: Path) -> None:
    catalog.apply([Resource(token="Old:1")])
    text = (
        "\ufefftoken,lat,lon,name,offline,kind,elevation\n"  # a BOM, columns in another order
        'A:1,1,2,"spans\ntwo lines",,,\n'                       # lines 2-3, valid
        "nocolon,1,2,,,,\n"                                      # 4
        "A:2,91,0,,,,\n"                                         # 5
        "A:3,1,,,,,\n"                                           # 6
        "A:4,nan,1,,,,\n"                                        # 7
        "A:5,1,2,,yes,,\n"                                       # 8
        "\n"                                                     # 9: blank, ignored
        "A:6,1,2,,,Toaster,\n"                                   # 10
        "A:1,3,4,,,,\n"                                          # 11: repeats line 2
        "A:7,1\n"                                                # 12
        "A:8,1,2,,,,1_0\n"                                       # 13
        f"P:{'x' * 37},,,,,,\n"                                  # 14
        "A:9,-90,180,,FALSE,,-1e3\n"                             # 15, valid
    )
    report = import_csv(catalog, write(tmp_path, text), skip_invalid=False)
    assert report.errors == [
        (4, "remote token 'nocolon' has no ':' between prefix and local token"),
        (5, "lat 91.0 is outside [-90, 90]"),
        (6, "give both lat and lon, or neither"),
        (7, "lat 'nan' is not a decimal number"),
        (8, "offline 'yes' is not true, false or empty"),
        (10, "kind 'Toaster' is not one of " + ", ".join(RESOURCE_KINDS)),
        (11, "token 'A:1' repeats line 2"),
        (12, "2 fields, the header has 7"),
        (13, "elevation '1_0' is not a decimal number"),
        (14, f"local token '{'x' * 37}' of 'P:{'x' * 37}' is 37 characters; at most 36 allowed"),
    ]
    assert (report.created, report.changed, report.deleted, report.unchanged, report.skipped) == (0, 0, 0, 0, 10)
    assert catalog.head_seq() == 1 and [r.token for r in catalog.iter_resources()] == ["Old:1"]

    report = import_csv(catalog, write(tmp_path, text), skip_invalid=True)
    assert (report.created, report.changed, report.deleted, report.unchanged, report.skipped) == (2, 0, 1, 0, 10)
    assert len(report.errors) == 10
    assert catalog.get("A:1") == Resource(token="A:1", lat=1.0, lon=2.0, name="spans\ntwo lines")
    assert catalog.get("A:9") == Resource(token="A:9", lat=-90.0, lon=180.0, elevation=-1000.0, offline=False)
    # Rows whose token is valid but whose data is not are kept as stored, not deleted by replace:
    catalog.apply([Resource(token="A:2", name="kept")])
    again = import_csv(catalog, write(tmp_path, text), skip_invalid=True)
    assert (again.created, again.deleted, again.unchanged) == (0, 0, 2)
    assert catalog.get("A:2") == Resource(token="A:2", name="kept")


@pytest.mark.parametrize(("text", "error"), [
    ("", (1, "empty file: the first line must name the columns")),
    ("token,colour\nA:1,red\n", (1, "unknown column 'colour'; columns are token, kind, name, lat, lon, "
                                   "elevation, scopes, offline")),
    ("name,lat\nx,1\n", (1, "no token column")),
    ("token,token\nA:1,A:1\n", (1, "a column is named twice")),
    ('token,name\nA:1,ok\nA:2,"never closed\n', (3, "malformed CSV: unexpected end of data")),
])
def test_file_level_errors_import_nothing_even_when_skipping(catalog: Catalog, tmp_path: Path,
                                                             text: str, error: tuple[int, str]) -> None:
    catalog.apply([Resource(token="Old:1")])
    assert import_csv(catalog, write(tmp_path, text), skip_invalid=True) == ImportReport(errors=[error])
    assert [r.token for r in catalog.iter_resources()] == ["Old:1"]


def test_a_file_that_is_not_utf8_imports_nothing(catalog: Catalog, tmp_path: Path) -> None:
    report = import_csv(catalog, write(tmp_path, "token,name\nA:1,Süd\n", encoding="latin-1"), skip_invalid=True)
    assert report.errors[0][1].startswith("not UTF-8:") and report.created == 0
    assert catalog.head_seq() == 0


def test_replace_deletes_what_the_file_lacks_and_merge_keeps_it(catalog: Catalog, tmp_path: Path) -> None:
    import_csv(catalog, write(tmp_path, "token\nA:1\nA:2\nA:3\n"), skip_invalid=False)
    assert import_csv(catalog, write(tmp_path, "token\nA:2\nA:4\n"), skip_invalid=False, replace=False) \
        == ImportReport(created=1, unchanged=1)
    assert import_csv(catalog, write(tmp_path, "token\nA:2\n"), skip_invalid=False) \
        == ImportReport(deleted=3, unchanged=1)
    assert [(c.seq, c.token, c.old, c.new) for c in catalog.changes_after(4, 100)] == [
        (5, "A:1", Resource(token="A:1"), None), (6, "A:3", Resource(token="A:3"), None),
        (7, "A:4", Resource(token="A:4"), None),
    ]
    assert [r.token for r in catalog.iter_resources()] == ["A:2"]


def test_replace_leaves_a_segments_resources_to_its_sync(catalog: Catalog, tmp_path: Path) -> None:
    catalog.apply([Resource(token="Seg:1"), Resource(token="Loc:1")])
    with catalog.engine.begin() as conn:
        conn.execute(update(resource).where(resource.c.token == "Seg:1").values(segment="district-a"))
    assert import_csv(catalog, write(tmp_path, "token\nLoc:2\n"), skip_invalid=False) \
        == ImportReport(created=1, deleted=1)
    assert [r.token for r in catalog.iter_resources()] == ["Loc:2", "Seg:1"]


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_every_kind_of_change_is_found_with_old_and_new_images(catalog: Catalog, batch: int) -> None:
    """Includes scope lists equal as sets, or equal to another resource's: compared per resource and position."""
    s1, s2, s3 = "s://a/1", "s://a/2", "s://a/3"
    before = [
        Resource(token="C:same", scopes=(s1, s2), lat=1.0, lon=2.0),
        Resource(token="C:swapped", scopes=(s1, s2)),
        Resource(token="C:other", scopes=(s2, s1)),
        Resource(token="C:fewer", scopes=(s1, s2)),
        Resource(token="C:more", scopes=(s1,)),
        Resource(token="C:replaced", scopes=(s1, s2)),
        Resource(token="C:moved", lat=1.0, lon=2.0),
        Resource(token="C:unlocated", lat=1.0, lon=2.0),
        Resource(token="C:named", name="a"),
        Resource(token="C:offline", offline=False),
        Resource(token="C:kind"),
        Resource(token="C:gone"),
    ]
    after = [
        before[0],
        Resource(token="C:swapped", scopes=(s2, s1)),
        before[2],
        Resource(token="C:fewer", scopes=(s1,)),
        Resource(token="C:more", scopes=(s1, s2)),
        Resource(token="C:replaced", scopes=(s1, s3)),
        Resource(token="C:moved", lat=1.0, lon=2.0000000000000004),
        Resource(token="C:unlocated"),
        Resource(token="C:named"),
        Resource(token="C:offline", offline=None),
        Resource(token="C:kind", kind="PTZNode"),
        Resource(token="C:new", elevation=3.0),
    ]
    assert catalog.import_resources(before, replace=True, batch=batch) == ApplyResult(created=12)
    result = catalog.import_resources(after, replace=True, batch=batch)
    assert result == ApplyResult(created=1, changed=9, deleted=1, unchanged=2)
    changes = {(c.token, c.old, c.new) for c in catalog.changes_after(12, 100)}
    olds = {r.token: r for r in before}
    assert changes == {(r.token, olds.get(r.token), r) for r in after[1:] if r != olds.get(r.token)} | {
        ("C:gone", olds["C:gone"], None)}
    assert sorted(catalog.iter_resources(), key=lambda r: r.token) == sorted(after, key=lambda r: r.token)
    assert catalog.import_resources(after, replace=True, batch=batch) == ApplyResult(unchanged=12)
    assert catalog.head_seq() == 23


def test_import_resources_refuses_repeated_tokens_and_reports_progress(catalog: Catalog) -> None:
    seen: list[int] = []
    with pytest.raises(CatalogError, match=r"1 repeated tokens, e.g. 'A:1' \(items 1 and 3\); nothing imported"):
        catalog.import_resources([Resource(token="A:1"), Resource(token="A:2"), Resource(token="A:1")],
                                 replace=True, batch=2, progress=seen.append)
    assert seen == [2, 3] and catalog.head_seq() == 0
    assert catalog.import_resources([Resource(token=f"A:{i}") for i in range(5)], replace=False, batch=2) \
        == ApplyResult(created=5)
    assert [c.seq for c in catalog.changes_after(0, 100)] == [1, 2, 3, 4, 5]
