"""The device sync against a scripted ONVIF device (httpx.MockTransport) and a real catalog.

The device is a small state machine: its profiles can change, it can stop
answering or answer garbage, and it may lack Media2.  Integration against the
fake camera process is in tests/interop/test_device_segments.py.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable

import httpx
import pytest
from lxml import etree

from gateway.catalog.model import DEVICE, Segment
from gateway.catalog.store import Catalog
from gateway.downstream.client import SegmentClient
from gateway.downstream.wire import Credentials
from gateway.federation import device
from gateway.onvif.ns import NSMAP, TDS, TEV, TPTZ, TR2, TRT, TT
from gateway.soap.build import build_fault, build_response
from gateway.soap.envelope import parse_envelope
from gateway.soap.fault import SENDER, FaultVocabulary, SoapFault
from gateway.vocabulary.resource import Resource

URL = "http://cam/onvif/device_service"
SEGMENT = Segment(name="cam", url=URL, user="u", password="p", kind=DEVICE, heartbeat=0.1)


@dataclasses.dataclass
class Device:
    profiles: dict[str, str] = dataclasses.field(default_factory=lambda: {"P1": "Main", "P2": "Sub"})
    media2: bool = True
    mode: str = "ok"  # ok | down | garbage
    serial: str = "S-1"
    geo: bool = True
    ahead: float = 0.0  # seconds the device's clock runs ahead; a UsernameToken must be Created on its clock
    clock_needs_login: bool = False
    events: bool = False  # lists an event service, whose every call faults
    asked: list[str] = dataclasses.field(default_factory=list)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ahead)

    def fresh(self, request: httpx.Request) -> bool:
        created = re.search(rb"Created>([^<]+)<", request.content)
        if created is None:
            return False
        when = dt.datetime.fromisoformat(created.group(1).decode().replace("Z", "+00:00"))
        return abs((when - self.now()).total_seconds()) < 5

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("refused", request=request)
        if self.mode == "garbage":
            return httpx.Response(200, content=b"\xff\xfe not xml")
        body = parse_envelope(request.content, max_bytes=10**6, vocab=FaultVocabulary()).body
        op = etree.QName(body).localname
        self.asked.append(op)
        if (op != "GetSystemDateAndTime" or self.clock_needs_login) and not self.fresh(request):
            return httpx.Response(401, content=b"no")
        answer = getattr(self, op, None) if op != "GetGeoLocation" or self.geo else None
        if answer is None:
            return httpx.Response(400, content=build_fault(SoapFault(SENDER, f"no {op}"), relates_to=None,
                                                           nsmap=NSMAP))
        return httpx.Response(200, content=build_response(answer(), action="a", relates_to=None, nsmap=NSMAP))

    def _resp(self, ns: str, name: str) -> etree._Element:
        return etree.Element(f"{{{ns}}}{name}Response", nsmap={**NSMAP, "tr2": TR2, "trt": TRT, "tptz": TPTZ})

    def GetSystemDateAndTime(self) -> etree._Element:
        resp = self._resp(TDS, "GetSystemDateAndTime")
        utc = etree.SubElement(etree.SubElement(resp, f"{{{TDS}}}SystemDateAndTime"), f"{{{TT}}}UTCDateTime")
        now = self.now()
        time_, date = etree.SubElement(utc, f"{{{TT}}}Time"), etree.SubElement(utc, f"{{{TT}}}Date")
        for parent, fields in ((time_, ("Hour", "Minute", "Second")), (date, ("Year", "Month", "Day"))):
            for name in fields:
                etree.SubElement(parent, f"{{{TT}}}{name}").text = str(getattr(now, name.lower()))
        return resp

    def GetServices(self) -> etree._Element:
        resp = self._resp(TDS, "GetServices")
        for ns in (TDS, TRT, *((TR2,) if self.media2 else ()), TPTZ, *((TEV,) if self.events else ())):
            svc = etree.SubElement(resp, f"{{{TDS}}}Service")
            etree.SubElement(svc, f"{{{TDS}}}Namespace").text = ns
            etree.SubElement(svc, f"{{{TDS}}}XAddr").text = URL
        return resp

    def GetDeviceInformation(self) -> etree._Element:
        resp = self._resp(TDS, "GetDeviceInformation")
        for tag, text in (("Manufacturer", "Acme"), ("Model", "X1"), ("SerialNumber", self.serial)):
            etree.SubElement(resp, f"{{{TDS}}}{tag}").text = text
        return resp

    def GetScopes(self) -> etree._Element:
        resp = self._resp(TDS, "GetScopes")
        scope = etree.SubElement(resp, f"{{{TDS}}}Scopes")
        etree.SubElement(scope, f"{{{TT}}}ScopeDef").text = "Fixed"
        etree.SubElement(scope, f"{{{TT}}}ScopeItem").text = "onvif://www.onvif.org/name/Gate8"
        return resp

    def GetGeoLocation(self) -> etree._Element:
        resp = self._resp(TDS, "GetGeoLocation")
        etree.SubElement(etree.SubElement(resp, f"{{{TDS}}}Location"), f"{{{TT}}}GeoLocation", lat="32.06",
                         lon="118.79")
        return resp

    def GetProfiles(self) -> etree._Element:
        ns = TR2 if self.media2 else TRT
        resp = self._resp(ns, "GetProfiles")
        for token, name in self.profiles.items():
            etree.SubElement(etree.SubElement(resp, f"{{{ns}}}Profiles", token=token), f"{{{ns}}}Name").text = name
        return resp

    def GetVideoSources(self) -> etree._Element:
        resp = self._resp(TRT, "GetVideoSources")
        etree.SubElement(resp, f"{{{TRT}}}VideoSources", token="VS1")
        return resp

    def GetNodes(self) -> etree._Element:
        resp = self._resp(TPTZ, "GetNodes")
        etree.SubElement(etree.SubElement(resp, f"{{{TPTZ}}}PTZNode", token="N1"), f"{{{TT}}}Name").text = "Head"
        return resp


def resources(catalog: Catalog) -> dict[str, Resource]:
    return {r.token: r for r in catalog.iter_resources()}


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _quick(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.1))


def run(catalog: Catalog, cam: Device, script: Callable[[], object], segment: Segment = SEGMENT) -> None:
    catalog.add_segment(segment)

    async def go() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(cam.handle))
        client = SegmentClient(segment.name, Credentials(user="u", password="p"), http)
        task = asyncio.create_task(device.DeviceSync(segment, catalog, client, lambda: None, _quick).run())
        try:
            await script()  # type: ignore[misc]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await http.aclose()
    asyncio.run(go())


def test_a_device_is_published_kept_current_marked_down_and_back(catalog: Catalog) -> None:
    cam = Device()

    async def script() -> None:
        await until(lambda: len(resources(catalog)) == 4)
        got = resources(catalog)
        prefix = next(iter(got)).split(":")[0]
        assert prefix.startswith("onvif-")
        assert set(got) == {f"{prefix}:{t}" for t in ("P1", "P2", "VS1", "N1")}
        main = got[f"{prefix}:P1"]
        assert (main.kind, main.name, main.lat, main.lon, main.offline) == ("MediaProfile", "Main", 32.06, 118.79,
                                                                             False)
        assert main.scopes == ("onvif://www.onvif.org/name/Gate8",)
        assert (got[f"{prefix}:VS1"].kind, got[f"{prefix}:VS1"].name) == ("VideoSource", "Gate8")
        assert got[f"{prefix}:N1"].kind == "PTZNode"
        cam.profiles = {"P1": "Main renamed"}
        await until(lambda: f"{prefix}:P2" not in resources(catalog)
                    and resources(catalog)[f"{prefix}:P1"].name == "Main renamed")
        cam.mode = "down"
        await until(lambda: all(r.offline for r in resources(catalog).values()))
        status = catalog.get_segment("cam")
        assert status is not None and status.state == "down" and "ConnectError" in (status.last_error or "")
        cam.mode = "ok"
        await until(lambda: not any(r.offline for r in resources(catalog).values()))
        assert set(resources(catalog)) == {f"{prefix}:{t}" for t in ("P1", "VS1", "N1")}
    run(catalog, cam, script)


def test_a_device_without_media2_is_read_with_media_ver10(catalog: Catalog) -> None:
    cam = Device(media2=False, geo=False)

    async def script() -> None:
        await until(lambda: len(resources(catalog)) == 4)
        assert all(r.lat is None for r in resources(catalog).values())  # GetGeoLocation faulted: unknown
    run(catalog, cam, script)
    assert "GetProfiles" in cam.asked and "GetVideoSourceConfigurations" not in cam.asked


def test_the_configured_location_and_the_annex_a_id_win(catalog: Catalog) -> None:
    cam = Device(serial="34020000001320000001")
    segment = dataclasses.replace(SEGMENT, device_prefix="mine", location=(1.0, 2.0, 3.0))

    async def script() -> None:
        await until(lambda: len(resources(catalog)) == 4)
        got = resources(catalog)["34020000001320000001:P1"]
        assert (got.lat, got.lon, got.elevation) == (1.0, 2.0, 3.0)
    run(catalog, cam, script, segment)
    assert "GetGeoLocation" not in cam.asked


@pytest.mark.parametrize("mode", ["garbage", "down"])
def test_a_device_that_never_answered_properly_stores_nothing(catalog: Catalog, mode: str) -> None:
    cam = Device(mode=mode)

    async def script() -> None:
        await until(lambda: (s := catalog.get_segment("cam")) is not None and s.state == "down")
    run(catalog, cam, script)
    assert resources(catalog) == {}


@pytest.mark.parametrize(("ahead", "clock_needs_login", "works"), [
    (3600.0, False, True),  # the UsernameToken follows the device's clock
    (0.0, True, True),  # a device that wants a login for its clock too: ours is close enough
    (3600.0, True, False),  # ... but then an hour off cannot be learnt
])
def test_the_login_follows_the_devices_clock(catalog: Catalog, ahead: float, clock_needs_login: bool,
                                             works: bool) -> None:
    cam = Device(ahead=ahead, clock_needs_login=clock_needs_login)

    async def script() -> None:
        if works:
            await until(lambda: len(resources(catalog)) == 4)
        else:
            await until(lambda: (s := catalog.get_segment("cam")) is not None and s.state == "down"
                        and "refused" in (s.last_error or ""))
    run(catalog, cam, script)


def test_the_call_timeout_follows_the_heartbeat() -> None:
    assert device.call_timeout(SEGMENT) == pytest.approx(0.1 + device.GRACE)
    assert device.call_timeout(dataclasses.replace(SEGMENT, heartbeat=300)) == device.MAX_CALL_TIMEOUT


def test_a_token_too_long_under_the_prefix_is_refused_and_counted(catalog: Catalog) -> None:
    cam = Device(profiles={"P1": "Main", "x" * 60: "Too long"})

    async def script() -> None:
        await until(lambda: (s := catalog.get_segment("cam")) is not None and s.rejected >= 1
                    and len(resources(catalog)) == 3)
        await until(lambda: cam.asked.count("GetProfiles") >= 4)  # read again, at each heartbeat
    run(catalog, cam, script)
    segment = catalog.get_segment("cam")
    assert segment is not None and segment.rejected == 1  # once, however many reads listed it again
    assert not any("xxxx" in t for t in resources(catalog))


def test_a_faulting_event_service_leaves_the_heartbeat_polls(catalog: Catalog) -> None:
    cam = Device(events=True)

    async def script() -> None:
        await until(lambda: len(resources(catalog)) == 4)
        cam.profiles = {"P1": "Main"}
        await until(lambda: len(resources(catalog)) == 3)
        assert (s := catalog.get_segment("cam")) is not None and s.state == "up"
    run(catalog, cam, script)
    assert cam.asked.count("CreatePullPointSubscription") == 1  # tried once per session, then polled

