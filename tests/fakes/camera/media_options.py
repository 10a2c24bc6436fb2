"""The reads clients make while setting a camera up, for both media services: configuration options, compatible
configurations, encoder instances, video source modes, and the empty lists of a camera without audio, metadata
or OSDs. Unknown tokens fault as the main reads do (``ter:NoProfile``, ``ter:NoConfig``, ``ter:NoVideoSource``).
"""
from __future__ import annotations

from lxml import etree

from tests.fakes.camera import media1
from tests.fakes.camera.configs import video_source_configuration
from tests.fakes.camera.context import Context, Handler
from tests.fakes.camera.faults import invalid_arg, no_profile
from tests.fakes.camera.model import SIZES, VIDEO_SOURCE, VIDEO_SOURCE_CONFIG, Profile
from tests.fakes.camera.ns import TR2, TRT, TT, el, tt, value

VIDEO_SOURCE_MODE = "VideoSourceMode_1"


def _int_range(tag: str, lo: int, hi: int) -> etree._Element:
    return tt(tag, value(TT, "Min", lo), value(TT, "Max", hi))


def _check(ctx: Context, op: etree._Element, ns: str, encoder: bool) -> list[Profile]:
    """The profiles a request's optional ProfileToken and ConfigurationToken (of an encoder configuration, or
    else of the video source configuration) narrow the answer to."""
    profiles = list(ctx.device.profiles)
    token = op.findtext(f"{{{ns}}}ProfileToken")
    if token is not None:
        profiles = [p for p in profiles if p.token == token.strip()]
        if not profiles:
            raise no_profile(token)
    config = op.findtext(f"{{{ns}}}ConfigurationToken")
    if config is not None and encoder:
        profiles = [p for p in profiles if p.encoder_token == config.strip()]
        if not profiles:
            raise invalid_arg("NoConfig", f"no video encoder configuration {config.strip()[:64]!r}")
    elif config is not None and config.strip() != VIDEO_SOURCE_CONFIG:
        raise invalid_arg("NoConfig", f"no video source configuration {config.strip()[:64]!r}")
    return profiles


def _source_options(ns: str) -> etree._Element:
    width, height = SIZES[0]
    return el(ns, "Options", tt("BoundsRange", _int_range("XRange", 0, 0), _int_range("YRange", 0, 0),
                                _int_range("WidthRange", width, width), _int_range("HeightRange", height, height)),
              value(TT, "VideoSourceTokensAvailable", VIDEO_SOURCE), MaximumNumberOfProfiles=16)


def _resolutions(ns: str = TT) -> list[etree._Element]:
    return [el(ns, "ResolutionsAvailable", value(TT, "Width", w), value(TT, "Height", h)) for w, h in SIZES]


def _modes(ns: str) -> etree._Element:
    width, height = SIZES[0]
    return el(ns, "VideoSourceModes", value(ns, "MaxFramerate", 25.0),
              el(ns, "MaxResolution", value(TT, "Width", width), value(TT, "Height", height)),
              value(ns, "Encodings", "H264"), value(ns, "Reboot", False), token=VIDEO_SOURCE_MODE, Enabled=True)


def _source_token(op: etree._Element, ns: str) -> None:
    token = (op.findtext(f"{{{ns}}}VideoSourceToken") or "").strip()
    if token != VIDEO_SOURCE:
        raise invalid_arg("NoVideoSource", f"no video source {token[:64]!r}")


# ---------------------------------------------------------------------- Media ver10


def v10_encoder_options(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TRT, encoder=True)
    h264 = tt("H264", *_resolutions(), _int_range("GovLengthRange", 1, 250), _int_range("FrameRateRange", 1, 25),
              _int_range("EncodingIntervalRange", 1, 1), value(TT, "H264ProfilesSupported", "Baseline"))
    return el(TRT, "GetVideoEncoderConfigurationOptionsResponse",
              el(TRT, "Options", _int_range("QualityRange", 1, 5), h264))


def v10_source_options(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TRT, encoder=False)
    return el(TRT, "GetVideoSourceConfigurationOptionsResponse", _source_options(TRT))


def v10_compatible_encoders(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TRT, encoder=False)
    return el(TRT, "GetCompatibleVideoEncoderConfigurationsResponse",
              *(media1.encoder_configuration("Configurations", p, TRT) for p in ctx.device.profiles))


def v10_compatible_sources(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TRT, encoder=False)
    return el(TRT, "GetCompatibleVideoSourceConfigurationsResponse",
              video_source_configuration(TRT, "Configurations", ctx.device))


def v10_guaranteed_instances(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TRT, encoder=False)
    count = len(ctx.device.profiles)
    return el(TRT, "GetGuaranteedNumberOfVideoEncoderInstancesResponse", value(TRT, "TotalNumber", count),
              value(TRT, "H264", count))


def v10_source_modes(_ctx: Context, op: etree._Element) -> etree._Element:
    _source_token(op, TRT)
    return el(TRT, "GetVideoSourceModesResponse", _modes(TRT))


def _empty(ns: str, operation: str) -> Handler:
    def handler(_ctx: Context, _op: etree._Element) -> etree._Element:
        return el(ns, operation + "Response")

    return handler


EMPTY_V10 = ("GetAudioSources", "GetAudioSourceConfigurations", "GetAudioEncoderConfigurations",
             "GetMetadataConfigurations")
MEDIA1: dict[str, Handler] = {
    "GetVideoEncoderConfigurationOptions": v10_encoder_options,
    "GetVideoSourceConfigurationOptions": v10_source_options,
    "GetCompatibleVideoEncoderConfigurations": v10_compatible_encoders,
    "GetCompatibleVideoSourceConfigurations": v10_compatible_sources,
    "GetGuaranteedNumberOfVideoEncoderInstances": v10_guaranteed_instances,
    "GetVideoSourceModes": v10_source_modes,
    **{name: _empty(TRT, name) for name in EMPTY_V10},
}


# ---------------------------------------------------------------------- Media2


def v20_encoder_options(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TR2, encoder=True)
    options = el(TR2, "Options", value(TT, "Encoding", "H264"),
                 tt("QualityRange", value(TT, "Min", 1.0), value(TT, "Max", 5.0)), *_resolutions(),
                 _int_range("BitrateRange", 64, 4096), GovLengthRange="1 250", FrameRatesSupported="25 12.5 6.25",
                 ProfilesSupported="Baseline", ConstantBitRateSupported=True)
    return el(TR2, "GetVideoEncoderConfigurationOptionsResponse", options)


def v20_source_options(ctx: Context, op: etree._Element) -> etree._Element:
    _check(ctx, op, TR2, encoder=False)
    return el(TR2, "GetVideoSourceConfigurationOptionsResponse", _source_options(TR2))


def v20_encoder_instances(ctx: Context, op: etree._Element) -> etree._Element:
    config = (op.findtext(f"{{{TR2}}}ConfigurationToken") or "").strip()
    if config != VIDEO_SOURCE_CONFIG:
        raise invalid_arg("NoConfig", f"no video source configuration {config[:64]!r}")
    count = len(ctx.device.profiles)
    return el(TR2, "GetVideoEncoderInstancesResponse", el(
        TR2, "Info", el(TR2, "Codec", value(TR2, "Encoding", "H264"), value(TR2, "Number", count)),
        value(TR2, "Total", count)))


def v20_source_modes(_ctx: Context, op: etree._Element) -> etree._Element:
    _source_token(op, TR2)
    return el(TR2, "GetVideoSourceModesResponse", _modes(TR2))


EMPTY_V20 = ("GetAudioSourceConfigurations", "GetAudioEncoderConfigurations", "GetMetadataConfigurations",
             "GetOSDs")
MEDIA2: dict[str, Handler] = {
    "GetVideoEncoderConfigurationOptions": v20_encoder_options,
    "GetVideoSourceConfigurationOptions": v20_source_options,
    "GetVideoEncoderInstances": v20_encoder_instances,
    "GetVideoSourceModes": v20_source_modes,
    **{name: _empty(TR2, name) for name in EMPTY_V20},
}
