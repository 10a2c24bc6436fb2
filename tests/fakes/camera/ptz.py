"""PTZ (``tptz``): one node in the generic spaces, moves that take time, presets kept in memory.

A continuous move lasts its ``Timeout`` (the configuration's default when none is given), so ``GetStatus`` shows a
head that moves and stops on its own; zero velocity stops it, as the PTZ specification says.
"""
from __future__ import annotations

import time

from lxml import etree

from tests.fakes.camera import configs
from tests.fakes.camera.configs import ptz_configuration, ptz_node, ptz_spaces
from tests.fakes.camera.context import Context, Handler
from tests.fakes.camera.faults import Fault, invalid_arg, no_profile
from tests.fakes.camera.model import (
    AUXILIARY_COMMANDS,
    MAX_PRESETS,
    PTZ_CONFIG,
    PTZ_NODE,
    Motion,
    Preset,
    Profile,
    Vector,
)
from tests.fakes.camera.ns import TPTZ, TT, el, tt, value
from tests.fakes.camera.values import iso_time, parse_duration, parse_float

MAX_TIMEOUT = 60.0


def service_capabilities(_ctx: Context) -> etree._Element:
    return el(TPTZ, "Capabilities", EFlip=False, Reverse=False, GetCompatibleConfigurations=False, MoveStatus=True,
              StatusPosition=True)


def _ptz_profile(ctx: Context, op: etree._Element) -> Profile:
    token = op.findtext(f"{{{TPTZ}}}ProfileToken")
    profile = ctx.device.profile(token.strip() if token else None)
    if profile is None:
        raise no_profile(token)
    if not profile.ptz:
        raise invalid_arg("NoPTZProfile", f"profile {profile.token} has no PTZ configuration")
    return profile


def _vector(parent: etree._Element | None, spaces: tuple[str, str], limits: tuple[float, float],
            error: str) -> Vector | None:
    """The pan/tilt/zoom of a tt:PTZVector or tt:PTZSpeed; None when ``parent`` is absent. Out of range or in an
    unknown space: ``ter:<error>`` / ``ter:SpaceNotSupported``."""
    if parent is None:
        return None
    result = Vector()
    pan_tilt, zoom = parent.find(f"{{{TT}}}PanTilt"), parent.find(f"{{{TT}}}Zoom")
    for node, space in ((pan_tilt, spaces[0]), (zoom, spaces[1])):
        if node is not None and node.get("space") not in (None, space):
            raise invalid_arg("SpaceNotSupported", f"space {node.get('space', '')[:80]!r} is not supported")
    if pan_tilt is not None:
        result.pan = parse_float(pan_tilt.get("x"), "PanTilt x")
        result.tilt = parse_float(pan_tilt.get("y"), "PanTilt y")
        if not all(-1.0 <= v <= 1.0 for v in (result.pan, result.tilt)):
            raise invalid_arg(error, "pan/tilt out of range")
    if zoom is not None:
        result.zoom = parse_float(zoom.get("x"), "Zoom x")
        if not limits[0] <= result.zoom <= limits[1]:
            raise invalid_arg(error, "zoom out of range")
    return result


def continuous_move(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    velocity = _vector(op.find(f"{{{TPTZ}}}Velocity"), (configs.PT_VELOCITY, configs.ZOOM_VELOCITY), (-1.0, 1.0),
                       "InvalidVelocity")
    if velocity is None:
        raise Fault("Sender", ("InvalidArgs",), "Velocity is required")
    timeout_text = op.findtext(f"{{{TPTZ}}}Timeout")
    timeout = parse_duration(timeout_text) if timeout_text is not None else parse_duration(configs.DEFAULT_TIMEOUT)
    if timeout <= 0:
        raise Fault("Sender", ("InvalidArgVal",), "Timeout must be positive")
    now = time.monotonic()
    with ctx.device.lock:
        state = ctx.device.ptz
        state.settle(now)
        if (velocity.pan, velocity.tilt, velocity.zoom) != (0.0, 0.0, 0.0):
            state.motion = Motion(velocity, now, now + min(timeout, MAX_TIMEOUT))
    return el(TPTZ, "ContinuousMoveResponse")


def absolute_move(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    target = _vector(op.find(f"{{{TPTZ}}}Position"), (configs.PT_POSITION, configs.ZOOM_POSITION), (0.0, 1.0),
                     "InvalidPosition")
    if target is None:
        raise Fault("Sender", ("InvalidArgs",), "Position is required")
    with ctx.device.lock:
        ctx.device.ptz.motion = None
        ctx.device.ptz.position = target
    return el(TPTZ, "AbsoluteMoveResponse")


def relative_move(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    step = _vector(op.find(f"{{{TPTZ}}}Translation"), (configs.PT_TRANSLATION, configs.ZOOM_TRANSLATION),
                   (-1.0, 1.0), "InvalidTranslation")
    if step is None:
        raise Fault("Sender", ("InvalidArgs",), "Translation is required")
    with ctx.device.lock:
        state = ctx.device.ptz
        state.settle(time.monotonic())
        state.position = Vector(state.position.pan + step.pan, state.position.tilt + step.tilt,
                                state.position.zoom + step.zoom).clamped()
    return el(TPTZ, "RelativeMoveResponse")


def stop(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    with ctx.device.lock:
        ctx.device.ptz.settle(time.monotonic())
    return el(TPTZ, "StopResponse")


def _position(vector: Vector) -> tuple[etree._Element, etree._Element]:
    return (tt("PanTilt", x=vector.pan, y=vector.tilt, space=configs.PT_POSITION),
            tt("Zoom", x=vector.zoom, space=configs.ZOOM_POSITION))


def get_status(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    now = time.monotonic()
    with ctx.device.lock:
        position, moving = ctx.device.ptz.now_position(now), ctx.device.ptz.moving(now)
    state = "MOVING" if moving else "IDLE"
    return el(TPTZ, "GetStatusResponse", el(
        TPTZ, "PTZStatus", tt("Position", *_position(position)),
        tt("MoveStatus", value(TT, "PanTilt", state), value(TT, "Zoom", state)),
        value(TT, "UtcTime", iso_time(ctx.device.utc_now()))))


def get_presets(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    with ctx.device.lock:
        presets = list(ctx.device.ptz.presets.values())
    return el(TPTZ, "GetPresetsResponse", *(
        el(TPTZ, "Preset", value(TT, "Name", p.name), tt("PTZPosition", *_position(p.position)), token=p.token)
        for p in presets))


def _preset_token(op: etree._Element) -> str:
    return (op.findtext(f"{{{TPTZ}}}PresetToken") or "").strip()


def goto_preset(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    token = _preset_token(op)
    with ctx.device.lock:
        preset = ctx.device.ptz.presets.get(token)
        if preset is None:
            raise invalid_arg("NoToken", f"no preset {token[:64]!r}")
        ctx.device.ptz.motion = None
        ctx.device.ptz.position = preset.position
    return el(TPTZ, "GotoPresetResponse")


def set_preset(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    token = _preset_token(op)
    name = (op.findtext(f"{{{TPTZ}}}PresetName") or "").strip()
    with ctx.device.lock:
        state = ctx.device.ptz
        state.settle(time.monotonic())
        if token and token not in state.presets:
            raise invalid_arg("NoToken", f"no preset {token[:64]!r}")
        if name and any(p.name == name and p.token != token for p in state.presets.values()):
            raise invalid_arg("PresetExist", f"a preset is named {name[:64]!r} already")
        if not token:
            if len(state.presets) >= MAX_PRESETS:
                raise Fault("Receiver", ("Action", "TooManyPresets"), "the preset list is full")
            token = f"Preset_{state.next_preset}"
            state.next_preset += 1
        old = state.presets.get(token)
        state.presets[token] = Preset(token, name or (old.name if old else token.replace("_", " ")), state.position)
    return el(TPTZ, "SetPresetResponse", value(TPTZ, "PresetToken", token))


def remove_preset(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    token = _preset_token(op)
    with ctx.device.lock:
        if ctx.device.ptz.presets.pop(token, None) is None:
            raise invalid_arg("NoToken", f"no preset {token[:64]!r}")
    return el(TPTZ, "RemovePresetResponse")


def goto_home_position(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    with ctx.device.lock:
        ctx.device.ptz.motion = None
        ctx.device.ptz.position = ctx.device.ptz.home
    return el(TPTZ, "GotoHomePositionResponse")


def set_home_position(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    with ctx.device.lock:
        ctx.device.ptz.settle(time.monotonic())
        ctx.device.ptz.home = ctx.device.ptz.position
    return el(TPTZ, "SetHomePositionResponse")


def send_auxiliary_command(ctx: Context, op: etree._Element) -> etree._Element:
    _ptz_profile(ctx, op)
    command = (op.findtext(f"{{{TPTZ}}}AuxiliaryData") or "").strip()
    if command not in AUXILIARY_COMMANDS:
        raise Fault("Sender", ("InvalidArgVal",), f"auxiliary command {command[:64]!r} is not supported")
    return el(TPTZ, "SendAuxiliaryCommandResponse", value(TPTZ, "AuxiliaryResponse", command))


def get_nodes(_ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TPTZ, "GetNodesResponse", ptz_node(TPTZ, "PTZNode"))


def get_node(_ctx: Context, op: etree._Element) -> etree._Element:
    token = (op.findtext(f"{{{TPTZ}}}NodeToken") or "").strip()
    if token != PTZ_NODE:
        raise invalid_arg("NoEntity", f"no PTZ node {token[:64]!r}")
    return el(TPTZ, "GetNodeResponse", ptz_node(TPTZ, "PTZNode"))


def get_configurations(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TPTZ, "GetConfigurationsResponse", ptz_configuration(TPTZ, "PTZConfiguration", ctx.device))


def _configuration_token(op: etree._Element, tag: str) -> None:
    token = (op.findtext(f"{{{TPTZ}}}{tag}") or "").strip()
    if token != PTZ_CONFIG:
        raise invalid_arg("NoConfig", f"no PTZ configuration {token[:64]!r}")


def get_configuration(ctx: Context, op: etree._Element) -> etree._Element:
    _configuration_token(op, "PTZConfigurationToken")
    return el(TPTZ, "GetConfigurationResponse", ptz_configuration(TPTZ, "PTZConfiguration", ctx.device))


def get_configuration_options(_ctx: Context, op: etree._Element) -> etree._Element:
    _configuration_token(op, "ConfigurationToken")
    return el(TPTZ, "GetConfigurationOptionsResponse", el(
        TPTZ, "PTZConfigurationOptions", ptz_spaces("Spaces"),
        tt("PTZTimeout", value(TT, "Min", "PT1S"), value(TT, "Max", f"PT{int(MAX_TIMEOUT)}S"))))


def get_service_capabilities(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TPTZ, "GetServiceCapabilitiesResponse", service_capabilities(ctx))


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities, "GetNodes": get_nodes, "GetNode": get_node,
    "GetConfigurations": get_configurations, "GetConfiguration": get_configuration,
    "GetConfigurationOptions": get_configuration_options, "GetStatus": get_status,
    "ContinuousMove": continuous_move, "AbsoluteMove": absolute_move, "RelativeMove": relative_move, "Stop": stop,
    "GetPresets": get_presets, "GotoPreset": goto_preset, "SetPreset": set_preset, "RemovePreset": remove_preset,
    "GotoHomePosition": goto_home_position, "SetHomePosition": set_home_position,
    "SendAuxiliaryCommand": send_auxiliary_command,
}
PRE_AUTH = {"GetServiceCapabilities"}
#: Operations that move the camera or change its presets: the ACTUATE access class, not for User-level accounts.
ACTUATE = {"ContinuousMove", "AbsoluteMove", "RelativeMove", "Stop", "GotoPreset", "SetPreset", "RemovePreset",
           "GotoHomePosition", "SetHomePosition", "SendAuxiliaryCommand"}
