"""A Media/Media2 and PTZ client for any ONVIF server, on zeep and the official WSDLs (docs/wire-format.md §10).

``vmsgw media`` and ``vmsgw ptz`` use it against a gateway (or a camera):
GetServices finds the services, Media2 is preferred where it is offered, as
Media2 is the one that names RTSP over HTTP (Media ver10 asks for it as an
HTTP transport).  Errors leave as :class:`LiveError`, one line each; a fault
keeps its reason (a gateway's says ``segment NAME: ...``) and its codes.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

from gateway.cli.query_client import DEVICE_BINDING, DEVICE_WSDL, WSDL_DIR, describe_fault
from gateway.downstream.reach import reachable
from gateway.onvif.ns import TPTZ, TR2, TRT

MEDIA_WSDL = WSDL_DIR / "ver10" / "media" / "wsdl" / "media.wsdl"
MEDIA2_WSDL = WSDL_DIR / "ver20" / "media" / "wsdl" / "media.wsdl"
PTZ_WSDL = WSDL_DIR / "ver20" / "ptz" / "wsdl" / "ptz.wsdl"
#: Seconds to wait for a connection and a reply: beyond the gateway's own bound on a forwarded call.
NETWORK_TIMEOUT = 15.0


class LiveError(Exception):
    """The call could not be carried out; the message is one line for the user."""


class LiveFault(LiveError):
    """The server answered with a fault: this call failed, the server works."""


def shown(text: str) -> str:
    """``text`` safe on a terminal: what a server sent cannot move the cursor or add lines to our output."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def fault_line(fault: Fault) -> str:
    """``<reason> (<codes>)``: the reason first, as a gateway's names the failing segment."""
    codes, _, reason = describe_fault(fault).partition(": ")
    return shown(f"{reason} ({codes})")


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """Translate zeep and requests errors into one-line :class:`LiveError` messages."""
    where = shown(url)  # an XAddr the server gave
    try:
        yield
    except Fault as err:
        if err.code is None:  # zeep's stand-in when an error reply holds no env:Fault (an HTML error page)
            raise LiveError(f"{where} answered an error that is not a SOAP fault") from None
        raise LiveFault(fault_line(err)) from None
    except TransportError as err:
        if err.status_code == 200:
            raise LiveError(f"{where} answered something that is not XML") from None
        hint = " (wrong user name or password?)" if err.status_code in (401, 403) else ""
        raise LiveError(f"{where} answered HTTP {err.status_code}{hint}") from None
    except requests.exceptions.SSLError as err:
        raise LiveError(f"TLS failure talking to {where}: {err.__class__.__name__}") from None
    except requests.exceptions.Timeout:
        raise LiveError(f"{where} did not answer within {NETWORK_TIMEOUT:g} s") from None
    except requests.exceptions.ConnectionError as err:
        if "aborted" in str(err) or "Disconnected" in str(err):
            raise LiveError(f"{where} closed the connection without answering") from None
        raise LiveError(f"cannot connect to {where}") from None
    except requests.exceptions.RequestException as err:
        raise LiveError(shown(f"request to {url} failed: {err}")) from None
    except (ZeepError, etree.XMLSyntaxError, ValueError) as err:
        why = " ".join(str(err).split())
        raise LiveError(shown(f"{url} sent a reply that is not valid for the ONVIF WSDL: {why}")) from None


@dataclass(frozen=True)
class Uris:
    """What a server gives for one profile; a URI it refused is None, with the reason in ``errors``."""

    token: str
    service: str  # "media2" | "media"
    stream: str | None
    http: str | None
    snapshot: str | None
    errors: tuple[str, ...]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _vector(holder: Any) -> dict[str, float | None]:
    pan_tilt, zoom = getattr(holder, "PanTilt", None), getattr(holder, "Zoom", None)
    return {"pan": _number(getattr(pan_tilt, "x", None)), "tilt": _number(getattr(pan_tilt, "y", None)),
            "zoom": _number(getattr(zoom, "x", None))}


class LiveClient:
    """One server, one user: its services found once, clients made per service on first use."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        self._transport = Transport(timeout=NETWORK_TIMEOUT, operation_timeout=NETWORK_TIMEOUT)
        self._security = UsernameToken(user, password, use_digest=True)
        self._xaddrs: dict[str, str] | None = None

    def _client(self, wsdl: Any) -> Client:
        with _errors(self.url):
            return Client(str(wsdl), wsse=self._security, transport=self._transport,
                          settings=Settings(strict=False, xml_huge_tree=True), plugins=[WsAddressingPlugin()])

    def services(self) -> dict[str, str]:
        """Namespace -> XAddr, from GetServices, re-addressed to ``url``'s host when a camera behind NAT
        reports its own (docs/wire-format.md §12.3); a gateway answers with the host it was asked at."""
        if self._xaddrs is None:
            device = self._client(DEVICE_WSDL).create_service(DEVICE_BINDING, self.url)
            with _errors(self.url):
                listed = device.GetServices(IncludeCapability=False)
            self._xaddrs = {str(s.Namespace): reachable(self.url, str(s.XAddr)) for s in listed or ()
                            if s.Namespace and s.XAddr}
        return self._xaddrs

    def _service(self, namespace: str, wsdl: Any, binding: str, what: str) -> tuple[Any, str]:
        address = self.services().get(namespace)
        if address is None:
            raise LiveError(f"{self.url} offers no {what} service")
        return self._client(wsdl).create_service(f"{{{namespace}}}{binding}", address), address

    def uris(self, token: str) -> Uris:
        """The stream URI (RTSP over TCP), the RTSP-over-HTTP URI and the snapshot URI of profile ``token``."""
        media2 = TR2 in self.services()
        asks: dict[str, Callable[[], Any]]
        if media2:
            service, address = self._service(TR2, MEDIA2_WSDL, "Media2Binding", "media")
            asks = {"stream": lambda: service.GetStreamUri(Protocol="RtspUnicast", ProfileToken=token),
                    "http": lambda: service.GetStreamUri(Protocol="RtspOverHttp", ProfileToken=token),
                    "snapshot": lambda: service.GetSnapshotUri(ProfileToken=token)}
        else:
            service, address = self._service(TRT, MEDIA_WSDL, "MediaBinding", "media")

            def setup(protocol: str) -> dict[str, Any]:
                return {"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}}

            asks = {"stream": lambda: service.GetStreamUri(StreamSetup=setup("RTSP"), ProfileToken=token).Uri,
                    "http": lambda: service.GetStreamUri(StreamSetup=setup("HTTP"), ProfileToken=token).Uri,
                    "snapshot": lambda: service.GetSnapshotUri(ProfileToken=token).Uri}
        found: dict[str, str | None] = {}
        errors: list[str] = []
        for what, ask in asks.items():
            try:
                with _errors(address):
                    found[what] = shown(str(ask()))
            except LiveFault as err:  # this URI only; any other failure ends the command
                found[what] = None
                if what == "stream":  # the profile itself is refused: the other URIs would say the same
                    found |= {"http": None, "snapshot": None}
                    errors.append(str(err))
                    break
                errors.append(f"{what}: {err}")
        return Uris(token, "media2" if media2 else "media", found["stream"], found["http"], found["snapshot"],
                    tuple(errors))

    def _ptz(self) -> tuple[Any, str]:
        return self._service(TPTZ, PTZ_WSDL, "PTZBinding", "PTZ")

    def move(self, token: str, pan: float | None, tilt: float | None, zoom: float | None,
             timeout: float | None) -> None:
        """ContinuousMove; an axis not given is not moved."""
        velocity: dict[str, Any] = {}
        if pan is not None or tilt is not None:
            velocity["PanTilt"] = {"x": pan or 0.0, "y": tilt or 0.0}
        if zoom is not None:
            velocity["Zoom"] = {"x": zoom}
        service, address = self._ptz()
        extra = {"Timeout": dt.timedelta(seconds=timeout)} if timeout is not None else {}
        with _errors(address):
            service.ContinuousMove(ProfileToken=token, Velocity=velocity, **extra)

    def stop(self, token: str) -> None:
        service, address = self._ptz()
        with _errors(address):
            service.Stop(ProfileToken=token, PanTilt=True, Zoom=True)

    def presets(self, token: str) -> list[dict[str, Any]]:
        service, address = self._ptz()
        with _errors(address):
            found = service.GetPresets(ProfileToken=token)
        return [{"token": shown(str(p.token)), "name": None if p.Name is None else shown(str(p.Name)),
                 **_vector(getattr(p, "PTZPosition", None))} for p in found or ()]

    def goto(self, token: str, preset: str) -> None:
        service, address = self._ptz()
        with _errors(address):
            service.GotoPreset(ProfileToken=token, PresetToken=preset)

    def status(self, token: str) -> dict[str, Any]:
        service, address = self._ptz()
        with _errors(address):
            status = service.GetStatus(ProfileToken=token)
        moving = getattr(status, "MoveStatus", None)
        when = getattr(status, "UtcTime", None)
        return {**_vector(getattr(status, "Position", None)),
                "pan_tilt_status": None if moving is None or moving.PanTilt is None else shown(str(moving.PanTilt)),
                "zoom_status": None if moving is None or moving.Zoom is None else shown(str(moving.Zoom)),
                "error": None if getattr(status, "Error", None) is None else shown(str(status.Error)),
                "utc_time": when.isoformat() if isinstance(when, dt.datetime) else None}
