"""The segment protocol core: what we send, and what any reply turns into."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.downstream import wire
from gateway.downstream.errors import SegmentFault, SegmentMisbehaved, SegmentUnavailable
from gateway.federation import protocol
from gateway.onvif import faults
from gateway.onvif.ns import NSMAP, TEV
from gateway.onvif.resource_event.write import pull_messages_response
from gateway.soap.build import build_fault, build_response
from gateway.soap.envelope import parse_envelope
from gateway.soap.fault import FaultVocabulary
from gateway.vocabulary.resource import Operation, Resource, SegmentUpdate

CAM = Resource(token="32010001071321008015:Profile_1", name="Gate 8", lat=32.06, lon=118.79, elevation=12.5,
               scopes=("onvif://www.onvif.org/name/Gate8", "onvif://www.onvif.org/location/city/x"), offline=False)


def pull_reply(*events: tuple[Resource, Operation]) -> bytes:
    resp = pull_messages_response("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", events)
    return build_response(resp, action="a", relates_to=None, nsmap=NSMAP)


def body_of(data: bytes, status: int = 200) -> etree._Element:
    return wire.reply_body(wire.Reply(url="http://seg/pp/1", status=status, data=data))


def test_requests_are_addressed_and_authenticated() -> None:
    body, action = protocol.pull_messages(10, 1000)
    data = wire.request(body, action=action, to="http://seg/pp/1", credentials=wire.Credentials(user="u", password="p"))
    env = parse_envelope(data, max_bytes=10**6, vocab=FaultVocabulary())
    assert env.action == action and env.to == "http://seg/pp/1" and env.message_id.startswith("urn:uuid:")
    assert env.security is not None and b"PasswordDigest" in data and b">p<" not in data
    assert env.body.findtext(f"{{{TEV}}}Timeout") == "PT10S"


def test_our_own_events_round_trip() -> None:
    batch = protocol.parse_pull(body_of(pull_reply(
        (CAM, Operation.INITIALIZED), (CAM, Operation.DELETED),
        (Resource(token="p:2", kind="Recording"), Operation.CHANGED))))
    assert batch.rejected == []
    first, deleted, bare = batch.events
    assert first == SegmentUpdate(operation=Operation.INITIALIZED, kind="MediaProfile", token=CAM.token,
                                          name="Gate 8", location=(32.06, 118.79, 12.5), scopes=CAM.scopes,
                                          offline=False)
    assert deleted.operation is Operation.DELETED and deleted.name is None and deleted.scopes is None
    assert bare.kind == "Recording" and bare.location is None and bare.offline is None


@pytest.mark.parametrize(("bad", "why"), [
    (Resource(token="p:" + "x" * 63), "exceeds"),
    (Resource(token="p:1", lat=91.0, lon=0.0), "out of range"),
    (Resource(token="p:1", name="n" * 2000), "name longer"),
    (Resource(token="p:1", scopes=tuple(f"s:{i}" for i in range(65))), "scope"),
])
def test_bad_items_are_refused_and_the_rest_kept(bad: Resource, why: str) -> None:
    batch = protocol.parse_pull(body_of(pull_reply((bad, Operation.INITIALIZED), (CAM, Operation.CHANGED))))
    assert [e.token for e in batch.events] == [CAM.token]
    assert len(batch.rejected) == 1 and why in batch.rejected[0]


def test_other_topics_are_ignored_and_unknown_kinds_refused() -> None:
    data = pull_reply((CAM, Operation.INITIALIZED)).replace(b"tns1:Resource/MediaProfile", b"tns1:VideoSource/Motion")
    assert protocol.parse_pull(body_of(data)).events == []
    data = pull_reply((CAM, Operation.INITIALIZED)).replace(b"tns1:Resource/MediaProfile", b"tns1:Resource/Toaster")
    assert "unsupported resource topic" in protocol.parse_pull(body_of(data)).rejected[0]


def test_faults_are_typed() -> None:
    data = build_fault(faults.resource_unknown("gone"), relates_to=None, nsmap=NSMAP)
    with pytest.raises(SegmentFault) as info:
        body_of(data)
    assert info.value.resource_unknown and info.value.code == "Sender"


@pytest.mark.parametrize("data", [
    pull_reply((CAM, Operation.INITIALIZED))[:-40],
    b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>',
    b"HTTP/1.1 200 OK",
    b"<x/>" + b" " * (wire.MAX_REPLY_BYTES + 1),
])
def test_broken_replies_are_misbehaviour(data: bytes) -> None:
    with pytest.raises(SegmentMisbehaved):
        protocol.parse_pull(body_of(data))


@pytest.mark.parametrize(("status", "error"), [
    (500, SegmentUnavailable), (503, SegmentUnavailable), (401, SegmentUnavailable), (403, SegmentUnavailable),
    (404, SegmentUnavailable), (200, SegmentMisbehaved), (400, SegmentMisbehaved),
])
def test_a_reply_that_is_not_soap_is_down_or_misbehaving_by_its_status(status: int, error: type) -> None:
    with pytest.raises(error):
        body_of(b"<html>Service Unavailable</html>", status)


def test_a_fault_stays_a_fault_whatever_the_status() -> None:
    data = build_fault(faults.resource_unknown("gone"), relates_to=None, nsmap=NSMAP)
    with pytest.raises(SegmentFault):
        body_of(data, 400)


def test_a_reply_of_the_wrong_kind_is_misbehaviour() -> None:
    with pytest.raises(SegmentMisbehaved):
        protocol.parse_pull(etree.Element(f"{{{TEV}}}GetEventPropertiesResponse"))
    with pytest.raises(SegmentMisbehaved):
        protocol.subscription_address(etree.fromstring(
            f'<r xmlns:tev="{TEV}" xmlns:wsa="http://www.w3.org/2005/08/addressing">'
            "<tev:SubscriptionReference><wsa:Address>file:///etc/passwd</wsa:Address></tev:SubscriptionReference></r>"))


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_batch_or_a_segment_error(data: bytes) -> None:
    try:
        protocol.parse_pull(body_of(data))
    except (SegmentMisbehaved, SegmentFault):
        pass
