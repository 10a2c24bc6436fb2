"""The Uplink configuration service (docs/wire-format.md §9.5) at ``/onvif/uplink_service``.

``GetServiceCapabilities`` (PRE_AUTH), ``GetUplinks`` (READ_SYSTEM),
``SetUplink`` and ``DeleteUplink`` (WRITE_SYSTEM).  The rules a configuration
must follow are the catalog's (:mod:`gateway.catalog.uplinks`, shared with
``vmsgw uplink set``); this module reads requests, turns each
:class:`~gateway.catalog.errors.UplinkProblem` into its ONVIF fault
(:data:`FAULTS`) and writes responses.

Reading.  Children are matched by local name, as everywhere in the gateway;
children ``tup:Configuration`` does not define are its ``xs:any`` extension
point and are ignored, and so are ``Status`` and ``Error``, which are
read-only.  The 2022 forms (IEC 62676-2-33:2022, ONVIF 18.12-23.12) are
accepted: a ``UserLevel`` of one string is a list of one.

Writing.  ``tup:Configuration`` children come in the order of its
``xs:sequence``: RemoteAddress, CertificateID, UserLevel, Status,
CertPathValidationPolicyID, AuthorizationServer, Error.  Capabilities name
the current (25.06) mode ``AccessToken``, which ONVIF 24.06-24.12 called
``JWT``; this gateway never emits the old name.

Faults the specification leaves open (docs/decisions.md §8.21): more than
:data:`MAX_UPLINKS` configurations is ``env:Receiver / ter:Action /
ter:MaxUplinks``; a RemoteAddress that is not a usable URL, or a UserLevel
naming no level, is ``env:Sender / ter:InvalidArgVal``.
"""
from __future__ import annotations

import asyncio
import functools

from lxml import etree

from gateway.catalog.errors import UplinkProblem, UplinkRefused
from gateway.catalog.model import UplinkConfig
from gateway.catalog.store import Catalog
from gateway.catalog.uplinks import MAX_UPLINKS, PROTOCOLS
from gateway.onvif import faults
from gateway.onvif.access import PRE_AUTH, READ_SYSTEM, WRITE_SYSTEM
from gateway.onvif.ns import NSMAP, TUP
from gateway.onvif.services import UPLINK
from gateway.onvif.xml import child, only_children, sub
from gateway.soap.dispatch import Request
from gateway.soap.fault import SoapFault

AUTHORIZATION_MODES = ("mTLS", "AccessToken")
#: Responses declare ``tup`` beside the usual ONVIF prefixes.
_NSMAP = {**NSMAP, "tup": TUP}

#: The ``ter:`` subcodes of each refusal of the catalog, outermost first (docs/wire-format.md §9.5).
FAULTS: dict[UplinkProblem, tuple[str, ...]] = {
    UplinkProblem.PROTOCOL: (faults.INVALID_ARGS, "ProtocolNotSupported"),
    UplinkProblem.ADDRESS: (faults.INVALID_ARG_VAL,),
    UplinkProblem.USER_LEVEL: (faults.INVALID_ARG_VAL,),
    UplinkProblem.MISSING_AUTHENTICATION: (faults.INVALID_ARGS, "MissingAuthentication"),
    UplinkProblem.AMBIGUOUS_AUTHENTICATION: (faults.INVALID_ARGS, "AmbiguousAuthentication"),
    UplinkProblem.UNKNOWN_CERTIFICATE: (faults.INVALID_ARG_VAL, "CertificateID"),
    UplinkProblem.UNKNOWN_CA: (faults.INVALID_ARG_VAL, "CertPathValidationPolicyID"),
    UplinkProblem.UNKNOWN_TOKEN: (faults.INVALID_ARG_VAL, "AuthorizationServerConfigurationToken"),
    UplinkProblem.MAX_UPLINKS: (faults.ACTION, "MaxUplinks"),
}


def fault_for(refused: UplinkRefused) -> SoapFault:
    """The ONVIF fault of a refused configuration; only MaxUplinks is the gateway's side (env:Receiver)."""
    build = faults.receiver if refused.problem is UplinkProblem.MAX_UPLINKS else faults.sender
    return build(str(refused), *FAULTS[refused.problem])


def capabilities(req: Request) -> etree._Element:
    """``tup:Capabilities``, for GetServiceCapabilities and for GetServices with IncludeCapability."""
    return etree.Element(f"{{{TUP}}}Capabilities", MaxUplinks=str(MAX_UPLINKS), Protocols=" ".join(PROTOCOLS),
                         AuthorizationModes=" ".join(AUTHORIZATION_MODES), StreamingOverUplink="true",
                         nsmap={"tup": TUP})


def _catalog(req: Request) -> Catalog:
    """The gateway's one catalog, which the request state carries in its event context."""
    catalog: Catalog = req.state.events.catalog
    return catalog


def _text(parent: etree._Element, local: str, *, required: bool = False) -> str | None:
    el = child(parent, local)
    if el is None:
        if required:
            raise faults.sender(f"{etree.QName(parent).localname} needs {local}", faults.INVALID_ARGS)
        return None
    return (el.text or "").strip()


def _response(local: str) -> etree._Element:
    return etree.Element(f"{{{TUP}}}{local}", nsmap=_NSMAP)


async def get_service_capabilities(req: Request) -> etree._Element:
    resp = _response("GetServiceCapabilitiesResponse")
    resp.append(capabilities(req))
    return resp


async def get_uplinks(req: Request) -> etree._Element:
    resp = _response("GetUplinksResponse")
    for cfg in await asyncio.to_thread(_catalog(req).get_uplinks):
        el = sub(resp, f"{{{TUP}}}Configuration")
        for local, value in (("RemoteAddress", cfg.remote_address), ("CertificateID", cfg.certificate_id),
                             ("UserLevel", cfg.user_level), ("Status", cfg.status),
                             ("CertPathValidationPolicyID", cfg.cert_path_validation_policy),
                             ("AuthorizationServer", cfg.authorization_server), ("Error", cfg.error)):
            if value is not None:
                sub(el, f"{{{TUP}}}{local}", value)
    return resp


async def set_uplink(req: Request) -> etree._Element:
    only_children(req.body, ("Configuration",))
    config = child(req.body, "Configuration")
    if config is None:
        raise faults.sender("SetUplink needs a Configuration", faults.INVALID_ARGS)
    cfg = UplinkConfig(
        remote_address=_text(config, "RemoteAddress", required=True) or "",
        user_level=_text(config, "UserLevel", required=True) or "",
        certificate_id=_text(config, "CertificateID"),
        authorization_server=_text(config, "AuthorizationServer"),
        cert_path_validation_policy=_text(config, "CertPathValidationPolicyID"),
    )
    try:
        await asyncio.to_thread(functools.partial(_catalog(req).set_uplink, cfg, max_uplinks=MAX_UPLINKS))
    except UplinkRefused as refused:
        raise fault_for(refused) from None
    return _response("SetUplinkResponse")


async def delete_uplink(req: Request) -> etree._Element:
    only_children(req.body, ("RemoteAddress",))
    address = _text(req.body, "RemoteAddress", required=True) or ""
    if not await asyncio.to_thread(_catalog(req).delete_uplink, address):
        raise faults.invalid_arg_val("Address", "no uplink is configured for that RemoteAddress")
    return _response("DeleteUplinkResponse")


UPLINK_SERVICE = UPLINK.service({
    "GetServiceCapabilities": (get_service_capabilities, PRE_AUTH),
    "GetUplinks": (get_uplinks, READ_SYSTEM),
    "SetUplink": (set_uplink, WRITE_SYSTEM),
    "DeleteUplink": (delete_uplink, WRITE_SYSTEM),
})
