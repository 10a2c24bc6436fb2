"""Media2 (``tr2``): profiles with their configurations, stream and snapshot URIs, configuration reads."""
from __future__ import annotations

from lxml import etree

from tests.fakes.camera.configs import ptz_configuration, video_source_configuration
from tests.fakes.camera.context import Context, Handler
from tests.fakes.camera.faults import Fault, invalid_arg, no_profile
from tests.fakes.camera.model import VIDEO_SOURCE_CONFIG, Profile
from tests.fakes.camera.ns import TR2, TT, el, tt, value

TYPES = {"All", "VideoSource", "VideoEncoder", "AudioSource", "AudioEncoder", "AudioOutput", "AudioDecoder",
         "Metadata", "Analytics", "PTZ", "Receiver"}
#: Protocols of tr2:TransportProtocol the camera streams with (its source speaks RTSP over TCP and HTTP).
PROTOCOLS = {"RtspUnicast", "RTSP", "RtspOverHttp"}


def service_capabilities(ctx: Context) -> etree._Element:
    return el(TR2, "Capabilities",
              el(TR2, "ProfileCapabilities", MaximumNumberOfProfiles=len(ctx.device.profiles),
                 ConfigurationsSupported="VideoSource VideoEncoder" + (" PTZ" if ctx.options.ptz else "")),
              el(TR2, "StreamingCapabilities", RTSPStreaming=True, RTPMulticast=False, RTP_RTSP_TCP=True,
                 NonAggregateControl=False),
              SnapshotUri=True, Rotation=False, VideoSourceMode=False, OSD=False)


def encoder_configuration(ns: str, tag: str, profile: Profile) -> etree._Element:
    return el(ns, tag, value(TT, "Name", f"VideoEncoder_{profile.index}"), value(TT, "UseCount", 1),
              value(TT, "Encoding", "H264"),
              tt("Resolution", value(TT, "Width", profile.width), value(TT, "Height", profile.height)),
              tt("RateControl", value(TT, "FrameRateLimit", 25.0), value(TT, "BitrateLimit", 256),
                 ConstantBitRate=False),
              value(TT, "Quality", 3.0), token=profile.encoder_token, GovLength=25, Profile="Baseline")


def media_profile(ctx: Context, profile: Profile, types: set[str]) -> etree._Element:
    node = el(TR2, "Profiles", value(TR2, "Name", profile.name), token=profile.token, fixed=True)
    if not types:
        return node
    every = "All" in types
    configurations = el(TR2, "Configurations")
    if every or "VideoSource" in types:
        configurations.append(video_source_configuration(TR2, "VideoSource", ctx.device))
    if every or "VideoEncoder" in types:
        configurations.append(encoder_configuration(TR2, "VideoEncoder", profile))
    if profile.ptz and (every or "PTZ" in types):
        configurations.append(ptz_configuration(TR2, "PTZ", ctx.device))
    node.append(configurations)
    return node


def _profile(ctx: Context, op: etree._Element) -> Profile:
    token = op.findtext(f"{{{TR2}}}ProfileToken")
    profile = ctx.device.profile(token.strip() if token else None)
    if profile is None:
        raise no_profile(token)
    return profile


def get_profiles(ctx: Context, op: etree._Element) -> etree._Element:
    """Without ``Token`` every profile; without ``Type`` no configurations, as Media2 says."""
    types = {(t.text or "").strip() for t in op.iterfind(f"{{{TR2}}}Type")}
    if types - TYPES:
        raise Fault("Sender", ("InvalidArgVal",), "unknown configuration type")
    token = op.findtext(f"{{{TR2}}}Token")
    with ctx.device.lock:
        profiles = list(ctx.device.profiles)
    if token is not None:
        profiles = [p for p in profiles if p.token == token.strip()]
        if not profiles:
            raise no_profile(token)
    return el(TR2, "GetProfilesResponse", *(media_profile(ctx, p, types) for p in profiles))


def get_stream_uri(ctx: Context, op: etree._Element) -> etree._Element:
    protocol = (op.findtext(f"{{{TR2}}}Protocol") or "").strip()
    profile = _profile(ctx, op)
    if protocol not in PROTOCOLS:
        raise invalid_arg("InvalidStreamSetup", f"streaming protocol {protocol[:40]!r} is not supported")
    return el(TR2, "GetStreamUriResponse", value(TR2, "Uri", ctx.stream_uri(profile.index)))


def get_snapshot_uri(ctx: Context, op: etree._Element) -> etree._Element:
    profile = _profile(ctx, op)
    return el(TR2, "GetSnapshotUriResponse", value(TR2, "Uri", ctx.snapshot_uri(profile.index)))


def _selection(ctx: Context, op: etree._Element) -> tuple[str | None, Profile | None]:
    """The ConfigurationToken and the profile a tr2:GetConfiguration request names (either may be absent)."""
    config = op.findtext(f"{{{TR2}}}ConfigurationToken")
    token = op.findtext(f"{{{TR2}}}ProfileToken")
    profile = None
    if token is not None:
        profile = ctx.device.profile(token.strip())
        if profile is None:
            raise no_profile(token)
    return (config.strip() if config is not None else None), profile


def get_video_source_configurations(ctx: Context, op: etree._Element) -> etree._Element:
    config, _ = _selection(ctx, op)
    if config is not None and config != VIDEO_SOURCE_CONFIG:
        raise invalid_arg("NoConfig", f"no video source configuration {config!r}")
    return el(TR2, "GetVideoSourceConfigurationsResponse",
              video_source_configuration(TR2, "Configurations", ctx.device))


def get_video_encoder_configurations(ctx: Context, op: etree._Element) -> etree._Element:
    config, profile = _selection(ctx, op)
    with ctx.device.lock:
        chosen = [profile] if profile is not None else list(ctx.device.profiles)
    if config is not None:
        chosen = [p for p in chosen if p.encoder_token == config]
        if not chosen:
            raise invalid_arg("NoConfig", f"no video encoder configuration {config!r}")
    return el(TR2, "GetVideoEncoderConfigurationsResponse",
              *(encoder_configuration(TR2, "Configurations", p) for p in chosen))


def get_service_capabilities(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TR2, "GetServiceCapabilitiesResponse", service_capabilities(ctx))


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities, "GetProfiles": get_profiles,
    "GetStreamUri": get_stream_uri, "GetSnapshotUri": get_snapshot_uri,
    "GetVideoSourceConfigurations": get_video_source_configurations,
    "GetVideoEncoderConfigurations": get_video_encoder_configurations,
}
PRE_AUTH = {"GetServiceCapabilities"}
