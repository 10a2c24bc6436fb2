"""ONVIF generic faults and WS-BaseNotification fault details (docs/wire-format.md §7)."""
from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import TER, TEV, WSNT, WSRF_BF, WSRF_R
from gateway.soap.fault import SoapFault

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 8, 15, tzinfo=UTC)


def ter(local: str) -> str:
    return f"{{{TER}}}{local}"


def test_vocabulary_for_the_soap_core() -> None:
    v = faults.ONVIF_FAULTS
    assert v.well_formed == (ter("WellFormed"),)
    assert v.namespace == (ter("Namespace"),)
    assert v.too_large == (ter("InvalidArgs"),)
    assert v.no_endpoint == ("{http://www.w3.org/2005/08/addressing}DestinationUnreachable",)
    assert v.bad_request == (ter("InvalidArgs"),)
    assert v.not_authorized == (ter("NotAuthorized"),)
    assert v.internal == (ter("Action"),)


def test_generic_constructors() -> None:
    f = faults.sender("missing Timeout", faults.INVALID_ARGS)
    assert (f.code, f.reason, f.subcodes, f.http_status) == ("Sender", "missing Timeout", (ter("InvalidArgs"),), 400)
    f = faults.receiver("boom", faults.ACTION)
    assert (f.code, f.subcodes, f.http_status) == ("Receiver", (ter("Action"),), 500)
    assert faults.invalid_arg_val("NoProfile", "x").subcodes == (ter("InvalidArgVal"), ter("NoProfile"))
    assert faults.invalid_arg_val(None, "x").subcodes == (ter("InvalidArgVal"),)
    f = faults.not_authorized("who are you")
    assert (f.code, f.subcodes) == ("Sender", (ter("NotAuthorized"),))
    f = faults.action_not_supported("no Seek")
    assert (f.code, f.subcodes, f.http_status) == ("Receiver", (ter("ActionNotSupported"),), 500)
    f = faults.action_not_supported("no Media", faults.NO_SUCH_SERVICE)
    assert f.subcodes == (ter("ActionNotSupported"), ter("NoSuchService"))
    f = faults.unknown_action("Unknown Action: Frobnicate")
    assert (f.code, f.subcodes, f.http_status) == ("Sender", (ter("UnknownAction"),), 400)


def _detail(f: SoapFault) -> etree._Element:
    assert len(f.detail) == 1
    return f.detail[0]


def _texts(el: etree._Element) -> list[tuple[str, str | None]]:
    return [(c.tag, c.text) for c in el]


def test_invalid_filter_lists_unknown_qnames_with_declared_prefixes() -> None:
    f = faults.invalid_filter(
        "unknown filter", ["{http://www.onvif.org/ver10/schema}PolygonFilter", "{urn:x}A", "Bare", "{urn:x}B"], now=NOW
    )
    assert (f.code, f.subcodes, f.http_status) == ("Sender", (f"{{{WSNT}}}InvalidFilterFault",), 400)
    el = _detail(f)
    assert el.tag == f"{{{WSNT}}}InvalidFilterFault"
    assert _texts(el) == [
        (f"{{{WSRF_BF}}}Timestamp", "2026-03-01T08:15:00Z"),
        (f"{{{WSRF_BF}}}Description", "unknown filter"),
        (f"{{{WSNT}}}UnknownFilter", "tt:PolygonFilter"),
        (f"{{{WSNT}}}UnknownFilter", "ns0:A"),
        (f"{{{WSNT}}}UnknownFilter", "Bare"),
        (f"{{{WSNT}}}UnknownFilter", "ns0:B"),
    ]
    # Every QName text resolves, after a serialisation round trip, to the namespace it came from.
    reparsed = etree.fromstring(etree.tostring(el))
    resolved = []
    for c in reparsed.iterchildren(f"{{{WSNT}}}UnknownFilter"):
        prefix, _, local = c.text.rpartition(":")
        resolved.append(etree.QName(c.nsmap[prefix or None] or None, local).text)
    assert resolved == ["{http://www.onvif.org/ver10/schema}PolygonFilter", "{urn:x}A", "Bare", "{urn:x}B"]


def test_termination_time_faults_carry_the_range() -> None:
    later = NOW + dt.timedelta(days=1)
    el = _detail(faults.unacceptable_initial_termination_time("too far", NOW, later, now=NOW))
    assert el.tag == f"{{{WSNT}}}UnacceptableInitialTerminationTimeFault"
    assert _texts(el)[2:] == [
        (f"{{{WSNT}}}MinimumTime", "2026-03-01T08:15:00Z"),
        (f"{{{WSNT}}}MaximumTime", "2026-03-02T08:15:00Z"),
    ]
    f = faults.unacceptable_termination_time("past", NOW, now=NOW)
    assert f.subcodes == (f"{{{WSNT}}}UnacceptableTerminationTimeFault",)
    assert _texts(_detail(f))[2:] == [(f"{{{WSNT}}}MinimumTime", "2026-03-01T08:15:00Z")]


def test_resource_unknown_is_wsrf_r() -> None:
    f = faults.resource_unknown("no such subscription", now=NOW)
    assert (f.code, f.subcodes) == ("Sender", (f"{{{WSRF_R}}}ResourceUnknownFault",))
    assert _texts(_detail(f)) == [
        (f"{{{WSRF_BF}}}Timestamp", "2026-03-01T08:15:00Z"),
        (f"{{{WSRF_BF}}}Description", "no such subscription"),
    ]


def test_request_faults_are_sender_capacity_faults_receiver() -> None:
    sender_side = {
        faults.unable_to_get_messages: "UnableToGetMessagesFault",
        faults.topic_expression_dialect_unknown: "TopicExpressionDialectUnknownFault",
        faults.invalid_topic_expression: "InvalidTopicExpressionFault",
        faults.topic_not_supported: "TopicNotSupportedFault",
        faults.invalid_message_content_expression: "InvalidMessageContentExpressionFault",
        faults.invalid_producer_properties_expression: "InvalidProducerPropertiesExpressionFault",
    }
    for build, name in sender_side.items():
        f = build("why", now=NOW)
        assert (f.code, f.http_status, f.subcodes, f.reason) == ("Sender", 400, (f"{{{WSNT}}}{name}",), "why")
        assert _detail(f).tag == f"{{{WSNT}}}{name}"
        assert _detail(f)[0].text == "2026-03-01T08:15:00Z"
    for build, name in {
        faults.subscribe_creation_failed: "SubscribeCreationFailedFault",
        faults.unable_to_destroy_subscription: "UnableToDestroySubscriptionFault",
    }.items():
        f = build("full", now=NOW)
        assert (f.code, f.http_status, f.subcodes) == ("Receiver", 500, (f"{{{WSNT}}}{name}",))


def test_unrecognized_policy_names_the_policies() -> None:
    f = faults.unrecognized_policy_request("unknown policy", [f"{{{WSNT}}}UseRaw"], now=NOW)
    assert f.subcodes == (f"{{{WSNT}}}UnrecognizedPolicyRequestFault",)
    assert _texts(_detail(f))[2:] == [(f"{{{WSNT}}}UnrecognizedPolicy", "wsnt:UseRaw")]


def test_timestamp_defaults_to_now() -> None:
    before = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    stamp = _detail(faults.topic_not_supported("x"))[0].text
    assert stamp is not None and stamp.endswith("Z")
    assert dt.datetime.fromisoformat(stamp) >= before


def test_pull_messages_fault() -> None:
    f = faults.pull_messages_fault(600.0, 1000)
    assert (f.code, f.http_status, f.subcodes) == ("Sender", 400, (f"{{{TEV}}}PullMessagesFaultResponse",))
    el = _detail(f)
    assert el.tag == f"{{{TEV}}}PullMessagesFaultResponse"
    assert _texts(el) == [(f"{{{TEV}}}MaxTimeout", "PT600S"), (f"{{{TEV}}}MaxMessageLimit", "1000")]
