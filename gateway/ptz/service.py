"""PTZ (``tptz``) at the gateway: every operation forwarded to the device its tokens lead to (docs/wire-format.md §10).

Moves need the ACTUATE access class, reads READ_MEDIA.  Nothing is retried
(gateway.downstream.forward Rule 3), and a ContinuousMove without a Timeout
is forwarded with :data:`CONTINUOUS_MOVE_TIMEOUT` and a longer one with
:data:`MAX_CONTINUOUS_MOVE`, so a Stop lost on the way cannot leave a camera
turning for long (docs/wire-format.md §10.3).  Preset tokens
travel unchanged: they are scoped to their profile.
"""
from __future__ import annotations

from lxml import etree

from gateway.downstream.forward import forwarding
from gateway.onvif import faults
from gateway.onvif.access import ACTUATE, PRE_AUTH, READ_MEDIA
from gateway.onvif.ns import TPTZ
from gateway.onvif.services import PTZ
from gateway.onvif.time import TimeFormatError, format_duration, parse_duration
from gateway.onvif.xml import child, element
from gateway.soap.dispatch import Handler, Request, Service

#: The Timeout given to a ContinuousMove that has none: how long a camera may move after a lost Stop.
CONTINUOUS_MOVE_TIMEOUT = "PT10S"
#: Seconds a ContinuousMove may last at most, whatever Timeout the client asked for.
MAX_CONTINUOUS_MOVE = 60.0


def capabilities(req: Request) -> etree._Element:
    """``tptz:Capabilities``: what the gateway itself adds, nothing; each device answers for its own moves."""
    return element(f"{{{TPTZ}}}Capabilities", EFlip="false", Reverse="false", GetCompatibleConfigurations="false")


async def get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TPTZ}}}GetServiceCapabilitiesResponse")
    resp.append(capabilities(req))
    return resp


def _bounded_move(body: etree._Element) -> None:
    """Give a ContinuousMove without a Timeout the bounded one, in its place after Velocity (schema order), and
    lower a Timeout beyond :data:`MAX_CONTINUOUS_MOVE` to it."""
    given = child(body, "Timeout")
    if given is not None:
        try:
            seconds = parse_duration(given.text or "")
        except TimeFormatError as exc:
            raise faults.invalid_arg_val(None, f"ContinuousMove Timeout: {exc}") from None
        if seconds <= 0:
            raise faults.invalid_arg_val(None, f"ContinuousMove Timeout {given.text!r} is not a positive duration")
        if seconds > MAX_CONTINUOUS_MOVE:
            given.text = format_duration(MAX_CONTINUOUS_MOVE)
        return
    timeout = etree.Element(f"{{{TPTZ}}}Timeout")
    timeout.text = CONTINUOUS_MOVE_TIMEOUT
    velocity = child(body, "Velocity")
    if velocity is None:
        raise faults.sender("ContinuousMove needs a Velocity", faults.INVALID_ARGS)
    velocity.addnext(timeout)


def _service() -> Service:
    handlers: dict[str, tuple[Handler, str]] = {"GetServiceCapabilities": (get_service_capabilities, PRE_AUTH)}
    for name in ("GetNodes", "GetConfigurations"):
        handlers[name] = (forwarding(PTZ, listing=True), READ_MEDIA)
    for name in ("GetNode", "GetConfiguration", "GetConfigurationOptions", "GetStatus", "GetPresets"):
        handlers[name] = (forwarding(PTZ, listing=False), READ_MEDIA)
    handlers["ContinuousMove"] = (forwarding(PTZ, listing=False, prepare=_bounded_move), ACTUATE)
    for name in ("AbsoluteMove", "RelativeMove", "Stop", "GotoPreset", "SetPreset", "RemovePreset",
                 "GotoHomePosition", "SetHomePosition", "SendAuxiliaryCommand"):
        handlers[name] = (forwarding(PTZ, listing=False), ACTUATE)
    return PTZ.service(handlers)


PTZ_SERVICE = _service()
