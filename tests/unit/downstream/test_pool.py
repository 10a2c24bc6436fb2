"""The registry of segment clients: one per segment and configuration, services cached, device tokens stripped."""
from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from lxml import etree

from gateway.catalog.model import DEVICE, Segment
from gateway.downstream.errors import SegmentMisbehaved, SegmentUnavailable
from gateway.downstream.pool import Downstream
from gateway.downstream.tokens import ForeignToken, device_token, segment_token
from gateway.downstream.wire import get_services, service_addresses
from gateway.onvif.ns import NSMAP, TDS, TEV, TR2
from gateway.soap.build import build_response
from gateway.uplink.listening.transport import UplinkTransport

CAM = Segment(name="cam", url="http://cam/onvif/device_service", user="u", password="p", kind=DEVICE)


def services(*pairs: tuple[str, str]) -> etree._Element:
    resp = etree.Element(f"{{{TDS}}}GetServicesResponse", nsmap=NSMAP)
    for namespace, xaddr in pairs:
        svc = etree.SubElement(resp, f"{{{TDS}}}Service")
        etree.SubElement(svc, f"{{{TDS}}}Namespace").text = namespace
        etree.SubElement(svc, f"{{{TDS}}}XAddr").text = xaddr
    return resp


def test_one_client_per_segment_until_its_configuration_changes() -> None:
    async def go() -> None:
        pool = Downstream()
        first = pool.client(CAM)
        assert pool.client(dataclasses.replace(CAM, state="up", heartbeat=3)) is first  # not configuration
        second = pool.client(dataclasses.replace(CAM, password="new"))
        assert second is not first and second.credentials is not None and second.credentials.password == "new"
        await pool.aclose()
        assert first.client.is_closed and second.client.is_closed
        with pytest.raises(SegmentUnavailable, match="reconfigured or removed"):
            await first.call(CAM.url, get_services(), 1)
    asyncio.run(go())


def test_an_uplinked_segment_travels_over_its_link() -> None:
    async def go() -> None:
        pool = Downstream()
        c = pool.client(dataclasses.replace(CAM, uplink_identity="cam.example", user="", password=""))
        assert isinstance(c.client._transport, UplinkTransport) and c.credentials is None
        await pool.drop("cam", c)
        assert c.client.is_closed
    asyncio.run(go())


def test_services_are_read_once_and_again_on_refresh() -> None:
    asked: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(1)
        body = services((TEV, "http://cam/ev"), (TR2, f"http://cam/media2/{len(asked)}"))
        return httpx.Response(200, content=build_response(body, action="a", relates_to=None, nsmap=NSMAP))

    async def go() -> None:
        pool = Downstream()
        pool.client(CAM).client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
        got = await asyncio.gather(*(pool.services(CAM) for _ in range(5)))
        assert {s.address(TR2) for s in got} == {"http://cam/media2/1"} and len(asked) == 1
        assert (await pool.services(CAM, refresh=True)).address(TR2) == "http://cam/media2/2"
        pool.forget_services("cam")
        assert (await pool.services(CAM)).address(TR2) == "http://cam/media2/3"
        with pytest.raises(SegmentMisbehaved, match="no service"):
            (await pool.services(CAM)).address("urn:nothing")
        await pool.aclose()
    asyncio.run(go())


@pytest.mark.parametrize("xaddr", ["ftp://cam/x", "http://cam/ x", "", "http://" + "x" * 3000])
def test_a_bad_xaddr_is_misbehaviour(xaddr: str) -> None:
    with pytest.raises(SegmentMisbehaved):
        service_addresses(services((TR2, xaddr)))


def test_the_first_of_a_namespace_listed_twice_wins() -> None:
    assert service_addresses(services((TR2, "http://a/"), (TR2, "http://b/"))) == {TR2: "http://a/"}
    with pytest.raises(SegmentMisbehaved, match="GetServicesResponse"):
        service_addresses(etree.Element(f"{{{TDS}}}GetScopesResponse"))


def test_device_tokens_lose_their_prefix_and_gateway_tokens_stay() -> None:
    assert segment_token("34020000001320000001", "Profile_1") == "34020000001320000001:Profile_1"
    assert device_token(CAM, "34020000001320000001:Profile_1") == "Profile_1"
    assert device_token(CAM, "p:a:b") == "a:b"  # a device's own token may hold a colon
    gateway = dataclasses.replace(CAM, kind="gateway")
    assert device_token(gateway, "p:Profile_1") == "p:Profile_1"
    for bad in ("Profile_1", ":x", "p:"):
        with pytest.raises(ForeignToken):
            device_token(CAM, bad)
