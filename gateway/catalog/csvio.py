"""The catalog CSV format: what ``vmsgw catalog import`` reads and ``export`` writes.

UTF-8 (a BOM is skipped), a header row naming the columns in any order::

    token,kind,name,lat,lon,elevation,scopes,offline

Only ``token`` is required.  Per row: ``token`` is a valid remote token
(docs/wire-format.md §3.2); ``kind`` defaults to MediaProfile; ``lat`` and ``lon`` are both
empty (location unknown) or both numbers in WGS84 range; ``elevation`` is
empty or a number; ``scopes`` is a whitespace-separated list of URIs;
``offline`` is ``true``, ``false`` or empty.  An empty ``name`` is no name.

The file holds local resources only: replacing never deletes a segment's
resources, and a row whose token prefix a segment has claimed is an error.
Errors name the physical line where the row starts.  Without
``skip_invalid`` one invalid row means nothing is imported; with it the valid
rows are, and a skipped row's token (if valid) is kept as stored rather than
deleted by ``replace``.  Export writes floats with ``repr``, so export then
import of the same catalog changes nothing.
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.catalog.bulk import BulkLoad
from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import RESOURCE_KINDS, Resource

COLUMNS = ("token", "kind", "name", "lat", "lon", "elevation", "scopes", "offline")
#: A decimal number as people write them; float() alone would also take "nan", "inf" and "1_0".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False, "": None}


@dataclass
class ImportReport:
    created: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, why), by line


class RowError(ValueError):
    """Why one row is not a resource."""


def _number(text: str, what: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise RowError(f"{what} {text!r} is not a decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise RowError(f"{what} {text!r} is out of range")
    return value


def _optional(text: str, what: str) -> float | None:
    return _number(text, what) if text else None


def parse_row(row: dict[str, str]) -> Resource:
    """The resource a row describes, or RowError saying why it is none."""
    from gateway.addressing.tokens import TokenError, validate_remote_token

    token = row["token"]
    try:
        validate_remote_token(token)
    except TokenError as err:
        raise RowError(str(err)) from None
    kind = row.get("kind") or "MediaProfile"
    if kind not in RESOURCE_KINDS:
        raise RowError(f"kind {kind!r} is not one of {', '.join(RESOURCE_KINDS)}")
    lat, lon = _optional(row.get("lat", ""), "lat"), _optional(row.get("lon", ""), "lon")
    if (lat is None) != (lon is None):
        raise RowError("give both lat and lon, or neither")
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise RowError(f"lat {lat!r} is outside [-90, 90]")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise RowError(f"lon {lon!r} is outside [-180, 180]")
    offline = row.get("offline", "")
    if offline.lower() not in _BOOLEANS:
        raise RowError(f"offline {offline!r} is not true, false or empty")
    return Resource(
        token=token, kind=kind, name=row.get("name") or None, lat=lat, lon=lon,
        elevation=_optional(row.get("elevation", ""), "elevation"),
        scopes=tuple(row.get("scopes", "").split()), offline=_BOOLEANS[offline.lower()],
    )


class FileError(ValueError):
    """The file as a whole cannot be read: nothing is imported, even with skip_invalid."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line = line


def _next(reader: Iterator[list[str]], line: int) -> list[str] | None:
    """The next record; FileError at ``line`` when the file breaks there."""
    try:
        return next(reader, None)
    except csv.Error as err:  # e.g. an unclosed quote: the reader cannot resynchronise
        raise FileError(line, f"malformed CSV: {err}") from None
    except UnicodeDecodeError as err:
        raise FileError(line, f"not UTF-8: {err.reason}") from None


def _header(reader: Any) -> list[str]:
    header = [name.strip() for name in _next(reader, 1) or []]
    if not header:
        raise FileError(1, "empty file: the first line must name the columns")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise FileError(1, f"unknown column {unknown[0]!r}; columns are {', '.join(COLUMNS)}")
    if len(set(header)) != len(header):
        raise FileError(1, "a column is named twice")
    if "token" not in header:
        raise FileError(1, "no token column")
    return header


def _rows(reader: Any, header: list[str]) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(start line, row) for each data row, or (start line, why) for one of the wrong width."""
    while True:
        start = reader.line_num + 1
        cells = _next(reader, start)
        if cells is None:
            return
        if not cells:
            continue  # a blank line
        if len(cells) != len(header):
            yield start, f"{len(cells)} fields, the header has {len(header)}"
        else:
            yield start, dict(zip(header, cells, strict=True))


def _stage(load: BulkLoad, path: Path, errors: list[tuple[int, str]]) -> None:
    """Stage every valid row of ``path`` in ``load``; append (line, why) for the others."""
    from gateway.addressing.tokens import TokenError, validate_remote_token

    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        for line, row in _rows(reader, _header(reader)):
            if isinstance(row, str):
                errors.append((line, row))
                continue
            try:
                load.add(parse_row(row), line)
            except RowError as err:
                errors.append((line, str(err)))
                try:
                    validate_remote_token(row["token"])
                except TokenError:
                    continue  # no usable token: nothing to keep
                load.keep(row["token"], line)


def import_csv(catalog: Catalog, path: Path, *, skip_invalid: bool, replace: bool = True,
               progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import ``path`` into ``catalog`` (module docstring); invalid rows are in ``errors``."""
    report = ImportReport()
    with catalog.bulk_load(replace=replace, progress=progress) as load:
        try:
            _stage(load, Path(path), report.errors)
        except FileError as err:
            return ImportReport(errors=[(err.line, str(err))])
        report.errors.extend((d.tag, f"token {d.token!r} repeats line {d.first}") for d in load.duplicates())
        report.errors.extend((c.tag, f"token {c.token!r} belongs to segment {c.segment!r} (its prefix)")
                             for c in load.claimed())
        report.errors.sort()
        report.skipped = len(report.errors)
        if report.errors and not skip_invalid:
            return report
        result = load.commit()
    report.created, report.changed = result.created, result.changed
    report.deleted, report.unchanged = result.deleted, result.unchanged
    return report


def export_csv(catalog: Catalog, path: Path) -> int:
    """Write every resource to ``path``, by token; how many."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in catalog.iter_resources():
            writer.writerow((
                r.token, r.kind, r.name or "", _text(r.lat), _text(r.lon), _text(r.elevation),
                " ".join(r.scopes), "" if r.offline is None else ("true" if r.offline else "false"),
            ))
            count += 1
    return count


def _text(value: float | None) -> str:
    return "" if value is None else repr(value)
