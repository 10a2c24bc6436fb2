"""Configuration elements both media services and PTZ return: the video source, its configuration, PTZ."""
from __future__ import annotations

from lxml import etree

from tests.fakes.camera.model import (
    AUXILIARY_COMMANDS,
    MAX_PRESETS,
    PTZ_CONFIG,
    PTZ_NODE,
    SIZES,
    VIDEO_SOURCE,
    VIDEO_SOURCE_CONFIG,
    Device,
)
from tests.fakes.camera.ns import TT, el, tt, value

SPACES = "http://www.onvif.org/ver10/tptz/"
PT_POSITION = SPACES + "PanTiltSpaces/PositionGenericSpace"
ZOOM_POSITION = SPACES + "ZoomSpaces/PositionGenericSpace"
PT_TRANSLATION = SPACES + "PanTiltSpaces/TranslationGenericSpace"
ZOOM_TRANSLATION = SPACES + "ZoomSpaces/TranslationGenericSpace"
PT_VELOCITY = SPACES + "PanTiltSpaces/VelocityGenericSpace"
ZOOM_VELOCITY = SPACES + "ZoomSpaces/VelocityGenericSpace"
PT_SPEED = SPACES + "PanTiltSpaces/GenericSpeedSpace"
ZOOM_SPEED = SPACES + "ZoomSpaces/ZoomGenericSpeedSpace"
DEFAULT_TIMEOUT = "PT5S"


def _range(lo: float, hi: float) -> tuple[etree._Element, etree._Element]:
    return value(TT, "Min", lo), value(TT, "Max", hi)


def space2d(tag: str, uri: str, lo: float = -1.0, hi: float = 1.0) -> etree._Element:
    return tt(tag, value(TT, "URI", uri), tt("XRange", *_range(lo, hi)), tt("YRange", *_range(lo, hi)))


def space1d(tag: str, uri: str, lo: float = 0.0, hi: float = 1.0) -> etree._Element:
    return tt(tag, value(TT, "URI", uri), tt("XRange", *_range(lo, hi)))


def video_source(ns: str, tag: str) -> etree._Element:
    """The one physical video source (tt:VideoSource) at the main stream's size."""
    width, height = SIZES[0]
    return el(ns, tag, value(TT, "Framerate", 25.0),
              tt("Resolution", value(TT, "Width", width), value(TT, "Height", height)), token=VIDEO_SOURCE)


def video_source_configuration(ns: str, tag: str, device: Device) -> etree._Element:
    width, height = SIZES[0]
    return el(ns, tag, value(TT, "Name", "VideoSourceConfig"), value(TT, "UseCount", len(device.profiles)),
              value(TT, "SourceToken", VIDEO_SOURCE), tt("Bounds", x=0, y=0, width=width, height=height),
              token=VIDEO_SOURCE_CONFIG)


def ptz_configuration(ns: str, tag: str, device: Device) -> etree._Element:
    return el(ns, tag, value(TT, "Name", "PTZConfig"), value(TT, "UseCount", len(device.ptz_profiles)),
              value(TT, "NodeToken", PTZ_NODE),
              value(TT, "DefaultAbsolutePantTiltPositionSpace", PT_POSITION),
              value(TT, "DefaultAbsoluteZoomPositionSpace", ZOOM_POSITION),
              value(TT, "DefaultRelativePanTiltTranslationSpace", PT_TRANSLATION),
              value(TT, "DefaultRelativeZoomTranslationSpace", ZOOM_TRANSLATION),
              value(TT, "DefaultContinuousPanTiltVelocitySpace", PT_VELOCITY),
              value(TT, "DefaultContinuousZoomVelocitySpace", ZOOM_VELOCITY),
              tt("DefaultPTZSpeed", tt("PanTilt", x=0.5, y=0.5, space=PT_SPEED), tt("Zoom", x=0.5, space=ZOOM_SPEED)),
              value(TT, "DefaultPTZTimeout", DEFAULT_TIMEOUT),
              tt("PanTiltLimits", space2d("Range", PT_POSITION)), tt("ZoomLimits", space1d("Range", ZOOM_POSITION)),
              token=PTZ_CONFIG)


def ptz_spaces(tag: str) -> etree._Element:
    return tt(tag, space2d("AbsolutePanTiltPositionSpace", PT_POSITION),
              space1d("AbsoluteZoomPositionSpace", ZOOM_POSITION),
              space2d("RelativePanTiltTranslationSpace", PT_TRANSLATION),
              space1d("RelativeZoomTranslationSpace", ZOOM_TRANSLATION, -1.0, 1.0),
              space2d("ContinuousPanTiltVelocitySpace", PT_VELOCITY),
              space1d("ContinuousZoomVelocitySpace", ZOOM_VELOCITY, -1.0, 1.0),
              space1d("PanTiltSpeedSpace", PT_SPEED), space1d("ZoomSpeedSpace", ZOOM_SPEED))


def ptz_node(ns: str, tag: str) -> etree._Element:
    return el(ns, tag, value(TT, "Name", "PTZ"), ptz_spaces("SupportedPTZSpaces"),
              value(TT, "MaximumNumberOfPresets", MAX_PRESETS), value(TT, "HomeSupported", True),
              *(value(TT, "AuxiliaryCommands", c) for c in AUXILIARY_COMMANDS),
              token=PTZ_NODE, FixedHomePosition=False)
