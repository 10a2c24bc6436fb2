"""Device segments in the catalog: their kind, prefix and location kept, checked, and migrated in.

On SQLite and, when VMSGW_TEST_POSTGRES_URL is set, PostgreSQL (tests/conftest.py).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from gateway.catalog import migrate
from gateway.catalog.errors import CatalogError
from gateway.catalog.model import DEVICE, GATEWAY, Segment
from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import Operation, SegmentUpdate

#: The head before device segments: a catalog of the previous release.
PREVIOUS = "3d5e8a1f0b27"
CAM = Segment(name="cam", url="http://cam/onvif/device_service", user="admin", password="pw", kind=DEVICE,
              device_prefix="gate8", location=(32.06, 118.79, 12.5))


def test_a_device_segment_keeps_its_settings(catalog: Catalog) -> None:
    catalog.add_segment(CAM)
    catalog.add_segment(dataclasses.replace(CAM, name="bare", device_prefix=None, location=None))
    assert catalog.get_segment("cam") == CAM
    bare = catalog.get_segment("bare")
    assert bare is not None and (bare.kind, bare.device_prefix, bare.location) == (DEVICE, None, None)
    catalog.add_segment(dataclasses.replace(CAM, device_prefix=None, location=(1.0, 2.0, None)), replace=True)
    again = catalog.get_segment("cam")
    assert again is not None and (again.device_prefix, again.location) == (None, (1.0, 2.0, None))


@pytest.mark.parametrize(("change", "why"), [
    ({"kind": "toaster"}, "kind"),
    ({"kind": GATEWAY}, "only a device segment"),
    ({"device_prefix": "a:b"}, "device prefix"),
    ({"device_prefix": "x" * 40}, "longer"),
    ({"location": (91.0, 0.0, None)}, "WGS84"),
    ({"location": (0.0, float("nan"), None)}, "WGS84"),
    ({"location": (0.0, 0.0, float("inf"))}, "WGS84"),
])
def test_a_device_setting_out_of_bounds_is_refused(catalog: Catalog, change: dict[str, object], why: str) -> None:
    with pytest.raises(CatalogError, match=why):
        catalog.add_segment(dataclasses.replace(CAM, **change))  # type: ignore[arg-type]
    assert catalog.list_segments() == []


def test_status_shows_the_prefix_a_device_presents(catalog: Catalog) -> None:
    catalog.add_segment(CAM)
    generation = catalog.segment_begin_sync("cam")
    catalog.segment_apply("cam", generation, [SegmentUpdate(operation=Operation.INITIALIZED, kind="MediaProfile",
                                                            token="gate8:Profile_1")])
    (status,) = catalog.segment_status(dt.datetime.now(dt.UTC))
    assert (status["kind"], status["device_prefix"], status["location"]) == (DEVICE, "gate8", [32.06, 118.79, 12.5])
    assert status["prefixes"] == [{"remote_prefix": "gate8", "local_prefix": "gate8"}]


def test_the_previous_releases_segments_become_gateways(catalog_url: str) -> None:
    c = Catalog.open(catalog_url)
    try:
        migrate.upgrade(c.engine, PREVIOUS)
        c.engine.dispose()
        with c.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO segment (name, url, \"user\", password, verify_tls, heartbeat, state, generation, "
                "rejected, created) VALUES ('old', 'http://old/', 'u', 'p', true, 10, 'up', 3, 0, "
                "CURRENT_TIMESTAMP)")
        c.upgrade()
        migrate.check(c.engine)
        old = c.get_segment("old")
        assert old is not None and (old.kind, old.device_prefix, old.location, old.generation) == (
            GATEWAY, None, None, 3)
    finally:
        c.close()
