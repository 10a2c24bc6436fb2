"""How long a million-resource CSV takes to import, re-import and query: printed, never asserted.

Skipped unless ``VMSGW_BENCH_1M=1``; run with ``-s`` to see the figures::

    VMSGW_BENCH_1M=1 python -m pytest -s tests/unit/catalog/test_catalog_speed.py

The data imitates a city: four media profiles per device, each carrying its
device's three discovery scopes (location shared by a district, name per
device, hardware by model); half the devices spread over Europe, half
clustered around 60 towns.
"""
from __future__ import annotations

import csv
import os
import random
import statistics
import time
from pathlib import Path

import pytest

from gateway.catalog.csvio import import_csv
from gateway.catalog.store import Catalog
from gateway.query.model import LocationFilter, ResourceQuery

ROWS = 1_000_000
PROFILES_PER_DEVICE = 4
TOWNS = 60
#: Radius queries timed, centred on stored resources.
QUERIES = 200

pytestmark = pytest.mark.skipif(os.environ.get("VMSGW_BENCH_1M") != "1", reason="set VMSGW_BENCH_1M=1 to measure")


def write_city(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    towns = [(rnd.uniform(35, 70), rnd.uniform(-10, 40)) for _ in range(TOWNS)]
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["token", "kind", "name", "lat", "lon", "elevation", "scopes", "offline"])
        for i in range(rows):
            device = i // PROFILES_PER_DEVICE
            if device % 2:
                lat, lon = rnd.uniform(35, 70), rnd.uniform(-10, 40)
            else:
                town = towns[device % TOWNS]
                lat, lon = town[0] + rnd.gauss(0, 0.05), town[1] + rnd.gauss(0, 0.08)
            scopes = (f"onvif://www.onvif.org/location/city/c{device % TOWNS} "
                      f"onvif://www.onvif.org/name/cam{device} onvif://www.onvif.org/hardware/M{device % 97}")
            out.writerow([f"{32010000001320000000 + device}:profile-{i % PROFILES_PER_DEVICE}", "MediaProfile",
                          f"Camera {i}", repr(lat), repr(lon), "" if i % 3 else repr(rnd.uniform(0, 300)),
                          scopes, "false" if i % 5 else ""])


def test_a_million_rows(tmp_path: Path) -> None:
    source = tmp_path / "city.csv"
    write_city(source, ROWS)
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        catalog.upgrade()
        started = time.perf_counter()
        report = import_csv(catalog, source, skip_invalid=False)
        imported = time.perf_counter() - started
        assert report.created == ROWS
        started = time.perf_counter()
        again = import_csv(catalog, source, skip_invalid=False)
        reimported = time.perf_counter() - started
        assert again.unchanged == ROWS
        rnd = random.Random(1)
        centres = [r for i, r in enumerate(catalog.iter_resources(batch=50_000)) if i % (ROWS // QUERIES) == 0]
        timings, hits = [], []
        for centre in centres:
            assert centre.lat is not None and centre.lon is not None
            where = catalog.compile_filter(ResourceQuery(location=LocationFilter(
                lat=centre.lat + rnd.uniform(-1e-4, 1e-4), lon=centre.lon, radius=100.0)))
            t = time.perf_counter()
            hits.append(len(catalog.snapshot_page(where, 0, 1000)))
            timings.append((time.perf_counter() - t) * 1000)
        timings.sort()
        print(f"\n1M-row CSV import into an empty SQLite catalog: {imported:.1f} s; "
              f"re-import (no changes): {reimported:.1f} s; "
              f"100 m query: p50 {timings[len(timings) // 2]:.2f} ms, p95 {timings[int(len(timings) * 0.95)]:.2f} ms, "
              f"{statistics.mean(hits):.1f} hits on average")
    finally:
        catalog.close()
