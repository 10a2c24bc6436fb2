"""Test kit for the SOAP core: a fault vocabulary, envelope texts, a tiny dummy service, in-process calls."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any, NamedTuple

import httpx
from lxml import etree

from gateway.onvif.ns import NSMAP, TER, TUP
from gateway.onvif.wsdl_files import wsdl_files
from gateway.runtime import tunnelled
from gateway.soap.asgi import SoapApp
from gateway.soap.dispatch import CredentialLookup, Operation, Principal, Request, Service
from gateway.soap.fault import SENDER, FaultVocabulary, SoapFault
from gateway.soap.ns import SOAP_ENV, WSA, WSSE, WSU, qn
from gateway.soap.security import username_token

T = "urn:test:soap"


def ter(local: str) -> str:
    return qn(TER, local)


VOCAB = FaultVocabulary(
    well_formed=(ter("WellFormed"),),
    namespace=(ter("Namespace"),),
    too_large=(ter("InvalidArgs"),),
    no_endpoint=(qn(WSA, "DestinationUnreachable"),),
    bad_request=(ter("InvalidArgs"),),
    not_authorized=(ter("NotAuthorized"),),
    internal=(ter("Action"),),
)

USERS = {"alice": ("wonderland", "Administrator"), "bob": ("builder", "User")}
SECRET_TEXT = "secret-internal-detail-7f3a"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope with the usual prefixes declared; ``t`` is the test namespace."""
    return (
        f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:wsa="{WSA}" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}" xmlns:t="{T}">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def request(op: str = "Echo", *, message_id: str | None = "urn:uuid:0001", text: str = "hi", extra: str = "") -> bytes:
    mid = f"<wsa:MessageID>{message_id}</wsa:MessageID>" if message_id else ""
    return envelope(f"<t:{op}>{text}</t:{op}>", f"<wsa:Action>urn:test:{op}</wsa:Action>{mid}{extra}")


async def _echo(req: Request) -> etree._Element:
    out = etree.Element(qn(T, "EchoResponse"), nsmap={"t": T})
    etree.SubElement(out, qn(T, "Text")).text = req.body.text
    etree.SubElement(out, qn(T, "User")).text = req.principal.name or "anonymous"
    etree.SubElement(out, qn(T, "Params")).text = ",".join(f"{k}={v}" for k, v in sorted(req.path_params.items()))
    etree.SubElement(out, qn(T, "BaseUrl")).text = req.base_url
    etree.SubElement(out, qn(T, "State")).text = str(req.state)
    return out


async def _fail(req: Request) -> etree._Element:
    raise SoapFault(SENDER, "bad argument", subcodes=(ter("InvalidArgVal"), ter("NoProfile")))


async def _conflict(req: Request) -> etree._Element:
    raise SoapFault(SENDER, "in use", subcodes=(ter("OperationProhibited"),), http_status=409)


async def _crash(req: Request) -> etree._Element:
    raise RuntimeError(SECRET_TEXT)


#: The subcode the test service's own unknown-operation fault carries.
UNKNOWN_ACTION = ter("UnknownAction")

#: What the Hang handler went through: "started", then "cancelled" if the server gave up on it.
HANG_LOG: list[str] = []


async def _hang(req: Request) -> etree._Element:
    HANG_LOG.append("started")
    try:
        await asyncio.Event().wait()
    finally:
        HANG_LOG.append("cancelled")
    raise AssertionError("unreachable")


def authorize(principal: Principal, access: str) -> None:
    if access == "admin" and principal.level != "Administrator":
        raise SoapFault(SENDER, "not allowed", subcodes=VOCAB.not_authorized)


def _op(handler: Any, access: str = "read") -> Operation:
    return Operation(handler=handler, response_action="urn:test:Response", access=access)


SERVICE = Service(
    operations={
        qn(T, "Echo"): _op(_echo),
        qn(T, "Admin"): _op(_echo, "admin"),
        qn(T, "Fail"): _op(_fail),
        qn(T, "Conflict"): _op(_conflict),
        qn(T, "Crash"): _op(_crash),
        qn(T, "Hang"): _op(_hang),
    },
    unknown=lambda qname: SoapFault(SENDER, f"unknown operation {qname}", subcodes=(UNKNOWN_ACTION,)),
    wsdl="gateway/event_service.wsdl",
    path_params={"kind": "test"},
)
ROUTES = {"/onvif/event_service": SERVICE, "/onvif/pullpoint/{id}": SERVICE}


def lookup_in(users: dict[str, tuple[str, str]]) -> CredentialLookup:
    """A credential lookup answering from ``users`` at once."""

    async def lookup(name: str) -> tuple[str, str] | None:
        return users.get(name)

    return lookup


def make_app(**overrides: Any) -> SoapApp:
    """The test service with the gateway's WSDL trees and pre-authentication hook (tunnelled uplink requests)."""
    options: dict[str, Any] = {"authorizer": authorize, "credentials": lookup_in(USERS), "vocab": VOCAB,
                               "nsmap": NSMAP, "state": "the-state", "max_body_bytes": 64 * 1024,
                               "wsdl": wsdl_files(), "pre_authenticated": tunnelled}
    options.update(overrides)
    return SoapApp(ROUTES, **options)


def call(app: Any, method: str, path: str, *, content: bytes | None = None, headers: dict[str, str] | None = None,
         base: str = "http://gw.test") -> httpx.Response:
    """One request through httpx's in-process ASGI transport."""
    if content is not None and headers is None:
        headers = {"content-type": CONTENT_TYPE}

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
            return await client.request(method, path, content=content, headers=headers)

    return asyncio.run(go())


class RawResponse(NamedTuple):
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    receives: int  # how many ASGI receive() calls the app made


def raw_call(app: Any, scope: dict[str, Any], body_chunks: list[bytes], *,
             disconnect_after: float | None = None) -> RawResponse:
    """Drive the ASGI app with a hand-made scope (paths httpx would normalise) and a chunked body.

    After the body the client waits for the answer, or disconnects after ``disconnect_after`` seconds.
    """
    messages = [{"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1}
                for i, c in enumerate(body_chunks)] or [{"type": "http.request", "body": b""}]
    sent: list[dict[str, Any]] = []
    receives = 0

    async def receive() -> dict[str, Any]:
        nonlocal receives
        receives += 1
        if messages:
            return messages.pop(0)
        if disconnect_after is not None:
            await asyncio.sleep(disconnect_after)
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # a client that stays connected until it has the answer
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base_scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/", "query_string": b"",
                  "headers": [(b"host", b"gw.test"), (b"content-type", CONTENT_TYPE.encode())],
                  "server": ("127.0.0.1", 80)}
    asyncio.run(app({**base_scope, **scope}, receive, send))
    if not sent:
        return RawResponse(0, {}, b"", receives)
    return RawResponse(sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:]),
                       receives)


def fault_of(data: bytes) -> tuple[str, list[str], str | None]:
    """(code, subcodes, reason) of a fault envelope; code and subcodes as Clark names resolved in scope."""
    ns = {"s": SOAP_ENV}
    root = etree.fromstring(data)
    node = root.find("s:Body/s:Fault/s:Code", namespaces=ns)
    names = []
    while node is not None:
        value = node.find("s:Value", namespaces=ns)
        prefix, local = value.text.split(":")
        names.append(qn(value.nsmap[prefix], local))
        node = node.find("s:Subcode", namespaces=ns)
    return names[0], names[1:], root.findtext("s:Body/s:Fault/s:Reason/s:Text", namespaces=ns)



def onvif_call(app: Any, path: str, body: str, *, user: str | None) -> httpx.Response:
    """POST ``body`` (which may use the gateway's usual prefixes) to ``path`` as ``user``, whose password is
    ``pw-<user>``, with a fresh WS-UsernameToken; anonymously when ``user`` is None."""
    header = ""
    if user is not None:
        token = username_token(user, f"pw-{user}", nonce=os.urandom(16), created=dt.datetime.now(dt.UTC))
        header = etree.tostring(token).decode()
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in {**NSMAP, "tup": TUP, "x": "urn:vendor"}.items())
    data = f"<s:Envelope {declarations}><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    return call(app, "POST", path, content=data.encode())
