"""Media ver10 (``trt``), which Home Assistant, Node ``onvif`` and onvif-zeep read: the same profiles as Media2."""
from __future__ import annotations

from lxml import etree

from tests.fakes.camera.configs import ptz_configuration, video_source, video_source_configuration
from tests.fakes.camera.context import Context, Handler
from tests.fakes.camera.faults import invalid_arg, no_profile
from tests.fakes.camera.model import VIDEO_SOURCE_CONFIG, Profile
from tests.fakes.camera.ns import TRT, TT, el, tt, value

TRANSPORTS = {"UDP", "TCP", "RTSP", "HTTP"}


def service_capabilities(ctx: Context) -> etree._Element:
    return el(TRT, "Capabilities",
              el(TRT, "ProfileCapabilities", MaximumNumberOfProfiles=len(ctx.device.profiles)),
              el(TRT, "StreamingCapabilities", RTPMulticast=False, RTP_TCP=True, RTP_RTSP_TCP=True,
                 NonAggregateControl=False),
              SnapshotUri=True, Rotation=False, VideoSourceMode=False, OSD=False)


def encoder_configuration(tag: str, profile: Profile, ns: str = TT) -> etree._Element:
    return el(ns, tag, value(TT, "Name", f"VideoEncoder_{profile.index}"), value(TT, "UseCount", 1),
              value(TT, "Encoding", "H264"),
              tt("Resolution", value(TT, "Width", profile.width), value(TT, "Height", profile.height)),
              value(TT, "Quality", 3.0),
              tt("RateControl", value(TT, "FrameRateLimit", 25), value(TT, "EncodingInterval", 1),
                 value(TT, "BitrateLimit", 256)),
              tt("H264", value(TT, "GovLength", 25), value(TT, "H264Profile", "Baseline")),
              tt("Multicast", tt("Address", value(TT, "Type", "IPv4"), value(TT, "IPv4Address", "0.0.0.0")),
                 value(TT, "Port", 0), value(TT, "TTL", 1), value(TT, "AutoStart", False)),
              value(TT, "SessionTimeout", "PT60S"), token=profile.encoder_token)


def profile_element(ctx: Context, tag: str, profile: Profile) -> etree._Element:
    node = el(TRT, tag, value(TT, "Name", profile.name),
              video_source_configuration(TT, "VideoSourceConfiguration", ctx.device),
              encoder_configuration("VideoEncoderConfiguration", profile), token=profile.token, fixed=True)
    if profile.ptz:
        node.append(ptz_configuration(TT, "PTZConfiguration", ctx.device))
    return node


def _profile(ctx: Context, op: etree._Element) -> Profile:
    token = op.findtext(f"{{{TRT}}}ProfileToken")
    profile = ctx.device.profile(token.strip() if token else None)
    if profile is None:
        raise no_profile(token)
    return profile


def media_uri(uri: str) -> etree._Element:
    return el(TRT, "MediaUri", value(TT, "Uri", uri), value(TT, "InvalidAfterConnect", False),
              value(TT, "InvalidAfterReboot", False), value(TT, "Timeout", "PT0S"))


def get_profiles(ctx: Context, _op: etree._Element) -> etree._Element:
    with ctx.device.lock:
        profiles = list(ctx.device.profiles)
    return el(TRT, "GetProfilesResponse", *(profile_element(ctx, "Profiles", p) for p in profiles))


def get_profile(ctx: Context, op: etree._Element) -> etree._Element:
    return el(TRT, "GetProfileResponse", profile_element(ctx, "Profile", _profile(ctx, op)))


def get_stream_uri(ctx: Context, op: etree._Element) -> etree._Element:
    profile = _profile(ctx, op)
    stream = (op.findtext(f"{{{TRT}}}StreamSetup/{{{TT}}}Stream") or "").strip()
    transport = (op.findtext(f"{{{TRT}}}StreamSetup/{{{TT}}}Transport/{{{TT}}}Protocol") or "").strip()
    if stream != "RTP-Unicast" or transport not in TRANSPORTS:
        raise invalid_arg("InvalidStreamSetup", f"stream setup {stream[:20]!r}/{transport[:20]!r} is not supported")
    return el(TRT, "GetStreamUriResponse", media_uri(ctx.stream_uri(profile.index)))


def get_snapshot_uri(ctx: Context, op: etree._Element) -> etree._Element:
    return el(TRT, "GetSnapshotUriResponse", media_uri(ctx.snapshot_uri(_profile(ctx, op).index)))


def get_video_sources(_ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TRT, "GetVideoSourcesResponse", video_source(TRT, "VideoSources"))


def get_video_source_configurations(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TRT, "GetVideoSourceConfigurationsResponse",
              video_source_configuration(TRT, "Configurations", ctx.device))


def get_video_source_configuration(ctx: Context, op: etree._Element) -> etree._Element:
    token = (op.findtext(f"{{{TRT}}}ConfigurationToken") or "").strip()
    if token != VIDEO_SOURCE_CONFIG:
        raise invalid_arg("NoConfig", f"no video source configuration {token[:64]!r}")
    return el(TRT, "GetVideoSourceConfigurationResponse",
              video_source_configuration(TRT, "Configuration", ctx.device))


def get_video_encoder_configurations(ctx: Context, _op: etree._Element) -> etree._Element:
    with ctx.device.lock:
        profiles = list(ctx.device.profiles)
    return el(TRT, "GetVideoEncoderConfigurationsResponse",
              *(encoder_configuration("Configurations", p, TRT) for p in profiles))


def get_video_encoder_configuration(ctx: Context, op: etree._Element) -> etree._Element:
    token = (op.findtext(f"{{{TRT}}}ConfigurationToken") or "").strip()
    with ctx.device.lock:
        profile = next((p for p in ctx.device.profiles if p.encoder_token == token), None)
    if profile is None:
        raise invalid_arg("NoConfig", f"no video encoder configuration {token[:64]!r}")
    return el(TRT, "GetVideoEncoderConfigurationResponse", encoder_configuration("Configuration", profile, TRT))


def get_service_capabilities(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TRT, "GetServiceCapabilitiesResponse", service_capabilities(ctx))


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities, "GetProfiles": get_profiles, "GetProfile": get_profile,
    "GetStreamUri": get_stream_uri, "GetSnapshotUri": get_snapshot_uri, "GetVideoSources": get_video_sources,
    "GetVideoSourceConfigurations": get_video_source_configurations,
    "GetVideoSourceConfiguration": get_video_source_configuration,
    "GetVideoEncoderConfigurations": get_video_encoder_configurations,
    "GetVideoEncoderConfiguration": get_video_encoder_configuration,
}
PRE_AUTH = {"GetServiceCapabilities"}
