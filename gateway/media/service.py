"""Media2 (``tr2``) and Media ver10 (``trt``) at the gateway: the segments' devices, tokens adapted
(docs/wire-format.md §10).

Every operation but GetServiceCapabilities is forwarded to the segment its
tokens lead to (gateway.downstream.forward); a listing without a token asks
every segment and is bounded by gateway.downstream.forward.LIST_LIMIT items (docs/wire-format.md
§10.2).  GetStreamUri and GetSnapshotUri are forwarded too — the segment
proves the profile exists and may stream — but answer a URI of this gateway,
minted from the remote token (gateway.relay.paths, docs/wire-format.md §10.4):
``rtsp://`` at the RTSP listener for RTSP, the web-service address for
RtspOverHttp and snapshots.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from lxml import etree

from gateway.downstream.forward import Forwarder, budget_of, forwarding
from gateway.onvif import faults
from gateway.onvif.access import PRE_AUTH, READ_MEDIA
from gateway.onvif.ns import TR2, TRT
from gateway.onvif.services import MEDIA, MEDIA2, ServiceContract
from gateway.onvif.xml import child, element, sub
from gateway.relay.paths import UriTooLong, snapshot_uri, stream_uri
from gateway.soap.dispatch import Handler, Request, Service

#: What the gateway asks a segment for when it checks a stream: RTSP, which every level relays over TCP.
_MEDIA2_PROTOCOL = "RtspUnicast"
#: Media2 protocols and the kind of URI each gets: RTSP at the RTSP listener, or tunnelled over the web port.
_RTSP_PROTOCOLS = frozenset({"RtspUnicast", "RTSP"})
_HTTP_PROTOCOLS = frozenset({"RtspOverHttp"})


def _forwarder(req: Request) -> Forwarder:
    forwarder: Forwarder = req.state.forwarder
    return forwarder


def _profile_token(req: Request) -> str:
    el = child(req.body, "ProfileToken")
    token = (el.text or "").strip() if el is not None else ""
    if not token:
        raise faults.sender(f"{etree.QName(req.body).localname} needs a ProfileToken", faults.INVALID_ARGS)
    return token


def _rtsp_base(req: Request) -> str:
    port: int | None = req.state.rtsp_port
    if port is None:
        raise faults.invalid_arg_val("InvalidStreamSetup", "this gateway serves no RTSP listener (serve "
                                                           "--rtsp-listen); ask for RtspOverHttp")
    host = urlsplit(req.base_url).hostname or "localhost"
    return f"rtsp://[{host}]:{port}" if ":" in host else f"rtsp://{host}:{port}"


def _minted(mint: Callable[[str, str], str], base: str, token: str) -> str:
    try:
        return mint(base, token)
    except UriTooLong as err:
        raise faults.receiver(f"the URI of {token!r} behind {base} would be too long: {err}") from None


async def _routed_call(req: Request, contract: ServiceContract,
                       prepare: Callable[[etree._Element], None]) -> etree._Element:
    """Forward the request after ``prepare`` has changed the segment's copy; the segment's answer."""
    fw = _forwarder(req)
    _profile_token(req)
    routed = await fw.route(req.body)
    if routed is None:
        raise faults.sender("ProfileToken is empty", faults.INVALID_ARGS)
    prepare(routed.body)
    action = contract.request_action(etree.QName(req.body).localname)
    return await fw.call(routed.segment, contract.namespace, routed.body, action, budget_of(req.headers),
                         routed.prefix)


def _set_uri(answer: etree._Element, uri: str) -> None:
    """The answer's ``Uri`` (Media2) or ``MediaUri`` (ver10), made ours and valid indefinitely."""
    media_uri = child(answer, "MediaUri")
    if media_uri is None:
        el = child(answer, "Uri")
        if el is None:
            raise faults.receiver("the segment's answer carries no Uri")
        el.text = uri
        return
    for name, value in (("Uri", uri), ("InvalidAfterConnect", "false"), ("InvalidAfterReboot", "false"),
                        ("Timeout", "PT0S")):
        el = child(media_uri, name)
        if el is not None:
            el.text = value


# -- Media2 ---------------------------------------------------------------------------------------------


def media2_capabilities(req: Request) -> etree._Element:
    """``tr2:Capabilities``: RTSP over TCP and over HTTP, snapshots; no multicast, nothing configurable."""
    caps = element(f"{{{TR2}}}Capabilities", SnapshotUri="true", Rotation="false", VideoSourceMode="false",
                   OSD="false", TemporaryOSDText="false", Mask="false", SourceMask="false")
    sub(caps, f"{{{TR2}}}ProfileCapabilities", MaximumNumberOfProfiles="0")
    sub(caps, f"{{{TR2}}}StreamingCapabilities", RTSPStreaming="true", RTPMulticast="false", RTP_RTSP_TCP="true",
        NonAggregateControl="false", AutoStartMulticast="false")
    return caps


async def media2_get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TR2}}}GetServiceCapabilitiesResponse")
    resp.append(media2_capabilities(req))
    return resp


async def media2_get_stream_uri(req: Request) -> etree._Element:
    protocol_el = child(req.body, "Protocol")
    protocol = (protocol_el.text or "").strip() if protocol_el is not None else ""
    if protocol in _RTSP_PROTOCOLS:
        base = _rtsp_base(req)
    elif protocol in _HTTP_PROTOCOLS:
        base = req.base_url
    else:
        raise faults.invalid_arg_val("InvalidStreamSetup", f"Protocol {protocol!r} is not served: RtspUnicast, RTSP "
                                                           "and RtspOverHttp are (RTP over RTSP over TCP)")

    def ask_rtsp(body: etree._Element) -> None:
        el = child(body, "Protocol")
        if el is not None:
            el.text = _MEDIA2_PROTOCOL

    answer = await _routed_call(req, MEDIA2, ask_rtsp)
    _set_uri(answer, _minted(stream_uri, base, _profile_token(req)))
    return answer


async def get_snapshot_uri(req: Request) -> etree._Element:
    contract = MEDIA2 if etree.QName(req.body).namespace == TR2 else MEDIA
    answer = await _routed_call(req, contract, lambda body: None)
    _set_uri(answer, _minted(snapshot_uri, req.base_url, _profile_token(req)))
    return answer


def _media2_service() -> Service:
    handlers: dict[str, tuple[Handler, str]] = {
        "GetServiceCapabilities": (media2_get_service_capabilities, PRE_AUTH),
        "GetStreamUri": (media2_get_stream_uri, READ_MEDIA),
        "GetSnapshotUri": (get_snapshot_uri, READ_MEDIA),
    }
    for name in ("GetProfiles", "GetVideoSourceConfigurations", "GetVideoEncoderConfigurations",
                 "GetAudioSourceConfigurations", "GetAudioEncoderConfigurations", "GetMetadataConfigurations",
                 "GetOSDs"):
        handlers[name] = (forwarding(MEDIA2, listing=True), READ_MEDIA)
    for name in ("GetVideoSourceConfigurationOptions", "GetVideoEncoderConfigurationOptions", "GetVideoSourceModes",
                 "GetVideoEncoderInstances"):
        handlers[name] = (forwarding(MEDIA2, listing=False), READ_MEDIA)
    return MEDIA2.service(handlers)


# -- Media ver10 ----------------------------------------------------------------------------------------


def media_capabilities(req: Request) -> etree._Element:
    """``trt:Capabilities``: as Media2's, in ver10's terms."""
    caps = element(f"{{{TRT}}}Capabilities", SnapshotUri="true", Rotation="false", VideoSourceMode="false",
                   OSD="false", TemporaryOSDText="false", EXICompression="false")
    sub(caps, f"{{{TRT}}}ProfileCapabilities", MaximumNumberOfProfiles="0")
    sub(caps, f"{{{TRT}}}StreamingCapabilities", RTPMulticast="false", RTP_TCP="false", RTP_RTSP_TCP="true",
        NonAggregateControl="false", NoRTSPStreaming="false")
    return caps


async def media_get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TRT}}}GetServiceCapabilitiesResponse")
    resp.append(media_capabilities(req))
    return resp


async def media_get_stream_uri(req: Request) -> etree._Element:
    """ver10 names the transport in StreamSetup: HTTP is the tunnel, UDP, TCP and RTSP get the RTSP URI
    (a UDP client is then refused by the relay, which streams over TCP only)."""
    setup = child(req.body, "StreamSetup")
    stream = child(setup, "Stream") if setup is not None else None
    transport = child(setup, "Transport") if setup is not None else None
    protocol_el = child(transport, "Protocol") if transport is not None else None
    kind = (stream.text or "").strip() if stream is not None else ""
    protocol = (protocol_el.text or "").strip() if protocol_el is not None else ""
    if kind != "RTP-Unicast" or protocol not in ("UDP", "TCP", "RTSP", "HTTP"):
        raise faults.invalid_arg_val("InvalidStreamSetup", f"StreamSetup {kind or '-'}/{protocol or '-'} is not "
                                                           "served: RTP-Unicast over RTSP, TCP or HTTP is")
    base = req.base_url if protocol == "HTTP" else _rtsp_base(req)

    def ask_rtsp(body: etree._Element) -> None:
        body_setup = child(body, "StreamSetup")
        body_transport = child(body_setup, "Transport") if body_setup is not None else None
        el = child(body_transport, "Protocol") if body_transport is not None else None
        if el is not None:
            el.text = "RTSP"

    answer = await _routed_call(req, MEDIA, ask_rtsp)
    _set_uri(answer, _minted(stream_uri, base, _profile_token(req)))
    return answer


def _media_service() -> Service:
    handlers: dict[str, tuple[Handler, str]] = {
        "GetServiceCapabilities": (media_get_service_capabilities, PRE_AUTH),
        "GetStreamUri": (media_get_stream_uri, READ_MEDIA),
        "GetSnapshotUri": (get_snapshot_uri, READ_MEDIA),
    }
    for name in ("GetProfiles", "GetVideoSources", "GetVideoSourceConfigurations", "GetVideoEncoderConfigurations",
                 "GetAudioSources", "GetAudioSourceConfigurations", "GetAudioEncoderConfigurations",
                 "GetMetadataConfigurations", "GetOSDs"):
        handlers[name] = (forwarding(MEDIA, listing=True), READ_MEDIA)
    for name in ("GetProfile", "GetVideoSourceConfiguration", "GetVideoEncoderConfiguration",
                 "GetAudioSourceConfiguration", "GetAudioEncoderConfiguration", "GetMetadataConfiguration",
                 "GetVideoSourceConfigurationOptions", "GetVideoEncoderConfigurationOptions",
                 "GetCompatibleVideoEncoderConfigurations", "GetCompatibleVideoSourceConfigurations",
                 "GetGuaranteedNumberOfVideoEncoderInstances", "GetVideoSourceModes"):
        handlers[name] = (forwarding(MEDIA, listing=False), READ_MEDIA)
    return MEDIA.service(handlers)


MEDIA2_SERVICE = _media2_service()
MEDIA_SERVICE = _media_service()
