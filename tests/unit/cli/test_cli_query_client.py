"""``vmsgw query`` against a scripted server behind zeep's transport: the whole flow, offline.

The real-server run is the interop suite's; here a fake transport answers
each operation with canned SOAP, so the requests zeep builds from the
official WSDLs and the client's handling of replies and faults are checked
without a network.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from lxml import etree
from zeep.transports import Transport

from gateway.cli import query_client
from gateway.onvif.ns import TDS, TEV, TNS1, TT, WSNT
from gateway.soap.ns import SOAP_ENV, WSA, WSSE

URL = "http://gw.test/onvif/device_service"
EVENTS = "http://gw.test/onvif/event_service"
PULL_POINT = "http://gw.test/onvif/pullpoint/abc"
PREFIX = "32010001071321008015"


def _envelope(body: str) -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:tds="{TDS}" xmlns:tev="{TEV}" xmlns:tt="{TT}" '
            f'xmlns:wsnt="{WSNT}" xmlns:wsa="{WSA}" xmlns:tns1="{TNS1}" '
            f'xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>{body}</s:Body></s:Envelope>').encode()


def _event(operation: str, kind: str, local: str, data: str = "") -> str:
    return (f'<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/'
            f'ConcreteSet">tns1:Resource/{kind}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2026-03-01T08:00:00Z" '
            f'PropertyOperation="{operation}"><tt:Source><tt:SimpleItem Name="Token" Value="{PREFIX}:{local}"/>'
            f"</tt:Source><tt:Data>{data}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>")


def _located(name: str) -> str:
    return (f'<tt:SimpleItem Name="Name" Value="{name}"/><tt:ElementItem Name="Location">'
            '<tt:GeoLocation lon="118.7969" lat="32.0603"/></tt:ElementItem>'
            '<tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/location/city/nanjing"/>'
            '<tt:SimpleItem Name="Offline" Value="false"/>')


MOTION = ('<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/'
          'ConcreteSet">tns1:VideoSource/MotionAlarm</wsnt:Topic><wsnt:Message><tt:Message '
          'UtcTime="2026-03-01T08:00:00Z"/></wsnt:Message></wsnt:NotificationMessage>')
PULLS = [
    [_event("Initialized", "MediaProfile", "Profile_1", _located("Gate 8 - main")),
     _event("Initialized", "MediaProfile", "Profile_2", _located("Gate 8 - sub")),
     _event("Initialized", "VideoSource", "VS_1", _located("Gate 8"))],
    [_event("Changed", "MediaProfile", "Profile_1", '<tt:SimpleItem Name="Offline" Value="true"/>'),
     _event("Deleted", "MediaProfile", "Profile_2")],
    [MOTION],  # not a resource event, yet not the empty pull that ends the enumeration
    [],
]
TIMES = ("<tev:CurrentTime>2026-03-01T08:00:00Z</tev:CurrentTime>"
         "<tev:TerminationTime>2026-03-01T08:01:00Z</tev:TerminationTime>")
FAULT = ('<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:InvalidArgVal</s:Value><s:Subcode>'
         '<s:Value>ter:InvalidFilterFault</s:Value></s:Subcode></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">'
         'unknown filter\n element Foo</s:Text></s:Reason></s:Fault>')


class FakeServer(Transport):
    """Answers by body element; ``fault_on`` names an operation to answer with a Sender fault (HTTP 400)."""

    fault_on: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, str, etree._Element]] = []
        self.pulls = iter(PULLS)

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> requests.Response:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
        operation = etree.QName(body).localname
        self.calls.append((address, operation, envelope))
        assert envelope.find(f".//{{{WSSE}}}UsernameToken") is not None
        assert envelope.findtext(f".//{{{WSA}}}To") == address
        status, reply = 200, self.answer(operation)
        if operation == self.fault_on:
            status, reply = 400, FAULT
        response = requests.Response()
        response.status_code = status
        response.headers["Content-Type"] = "application/soap+xml; charset=utf-8"
        response._content = _envelope(reply)
        return response

    def answer(self, operation: str) -> str:
        if operation == "GetServices":
            return (f"<tds:GetServicesResponse><tds:Service><tds:Namespace>{TEV}</tds:Namespace><tds:XAddr>{EVENTS}"
                    "</tds:XAddr><tds:Version><tt:Major>24</tt:Major><tt:Minor>12</tt:Minor></tds:Version>"
                    "</tds:Service></tds:GetServicesResponse>")
        if operation == "GetCapabilities":
            return (f"<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>{EVENTS}</tt:XAddr>"
                    "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
                    "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                    "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
                    "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events></tds:Capabilities>"
                    "</tds:GetCapabilitiesResponse>")
        if operation == "CreatePullPointSubscription":
            return (f"<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>{PULL_POINT}"
                    "</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>2026-03-01T08:00:00Z</wsnt:CurrentTime>"
                    "<wsnt:TerminationTime>2026-03-01T08:01:00Z</wsnt:TerminationTime>"
                    "</tev:CreatePullPointSubscriptionResponse>")
        if operation == "PullMessages":
            return f"<tev:PullMessagesResponse>{TIMES}{''.join(next(self.pulls))}</tev:PullMessagesResponse>"
        assert operation == "Unsubscribe"
        return "<wsnt:UnsubscribeResponse/>"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> list[FakeServer]:
    """The fake transports the client creates (one per query run)."""
    made: list[FakeServer] = []

    def make(**kwargs: Any) -> FakeServer:
        made.append(FakeServer(**kwargs))
        return made[-1]

    monkeypatch.setattr(query_client, "Transport", make)
    monkeypatch.setenv("VMSGW_PASSWORD", "pw")
    return made


def test_flow_and_table(vmsgw, capsys, server) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("query", "--url", URL, "--user", "demo", "--near", "32.0603,118.7969", "--radius", "100",
                 "--topic", "MediaProfile", "--topic", "VideoSource", "--wait", "2") == 0
    calls = server[0].calls
    assert [(a, op) for a, op, _ in calls] == [
        (URL, "GetServices"), (EVENTS, "CreatePullPointSubscription"),
        *[(PULL_POINT, "PullMessages")] * len(PULLS), (PULL_POINT, "Unsubscribe"),
    ]  # fmt: skip
    create = calls[1][2]
    topic = create.find(f".//{{{TEV}}}Filter/{{{WSNT}}}TopicExpression")
    assert topic.text == "tns1:Resource/MediaProfile|tns1:Resource/VideoSource"
    assert create.findtext(f".//{{{TEV}}}Filter/{{{TT}}}LocationFilter/{{{TT}}}radius") == "100"
    pull = calls[2][2]
    assert pull.findtext(f".//{{{TEV}}}Timeout") == "PT2S" and pull.findtext(f".//{{{TEV}}}MessageLimit") == "1000"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["token", "kind", "name", "lat", "lon", "offline", "scopes"]
    assert f"{PREFIX}:Profile_1" in lines[1] and "yes" in lines[1]  # Changed: now offline, name kept
    assert "Gate 8 - main" in lines[1]
    assert f"{PREFIX}:VS_1" in lines[2]
    assert lines[3:] == ["2 resources"]  # Profile_2 was deleted


def test_json(vmsgw, capsys, server) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("query", "--url", URL, "--user", "demo", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["token"] for r in listed] == [f"{PREFIX}:Profile_1", f"{PREFIX}:VS_1"]
    assert listed[0] | {"scopes": []} == {
        "token": f"{PREFIX}:Profile_1", "kind": "MediaProfile", "name": "Gate 8 - main", "lat": 32.0603,
        "lon": 118.7969, "elevation": None, "scopes": [], "offline": True,
    }  # fmt: skip
    assert server[0].calls[1][2].findtext(f".//{{{WSNT}}}TopicExpression") == "tns1:Resource//."


def test_falls_back_to_get_capabilities(vmsgw, capsys, server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FakeServer, "fault_on", "GetServices")
    assert vmsgw("query", "--url", URL, "--user", "demo") == 0
    assert [(a, op) for a, op, _ in server[0].calls[:3]] == [
        (URL, "GetServices"), (URL, "GetCapabilities"), (EVENTS, "CreatePullPointSubscription"),
    ]
    assert capsys.readouterr().out.endswith("2 resources\n")


def test_server_fault_is_one_line(vmsgw, capsys, server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FakeServer, "fault_on", "CreatePullPointSubscription")
    assert vmsgw("query", "--url", URL, "--user", "demo") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("vmsgw query: server fault: env:Sender ter:InvalidArgVal/ter:InvalidFilterFault: "
                   "unknown filter element Foo\n")


def test_fault_during_pull_still_unsubscribes(vmsgw, capsys, server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FakeServer, "fault_on", "PullMessages")
    assert vmsgw("query", "--url", URL, "--user", "demo") == 1
    assert server[0].calls[-1][:2] == (PULL_POINT, "Unsubscribe")
    assert "server fault: env:Sender" in capsys.readouterr().err


def test_unreachable_server(vmsgw, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VMSGW_PASSWORD", "pw")
    assert vmsgw("query", "--url", "http://127.0.0.1:9/onvif/device_service", "--user", "demo") == 1
    assert capsys.readouterr().err == "vmsgw query: cannot connect to http://127.0.0.1:9/onvif/device_service\n"
