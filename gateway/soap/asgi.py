"""The ASGI shell around the sans-IO SOAP core: the only module that sees ASGI messages.

Per HTTP request: route by path (unknown → 404), GET serves WSDL, POST carries
SOAP (anything else → 405); check the media type (→ 415) and read the body
under the size cap (→ 413), then parse → mustUnderstand → operation by
body QName → authenticate → authorise → handler → response envelope.

Whatever goes wrong with a POST is answered with a SOAP 1.2 fault, keeping
the HTTP status: a client that fell back to a path we do not serve or sent
the wrong media type gets a fault it can report, not a text body its SOAP
parser chokes on.  Other methods are no SOAP requests and get short
plain-text answers.

Nothing here bounds a handler's run time: a long poll may wait for minutes.
A client that disconnects meanwhile gets its handler cancelled, so abandoned
polls hold nothing.
A request that carries no WS-Security header is whoever the caller's
``pre_authenticated`` hook says it is (a request that arrived through a
tunnel the application set up itself), else anonymous; credentials it does
carry are verified as usual.  The user's record is awaited from the caller's
``credentials`` lookup between the token's checks that need no record and
those that do, so a lookup that queries a database holds no other request.
A :class:`SoapFault` is the client-visible answer; any other exception is
logged once with its traceback (logger ``gateway.soap``) and answered with a
generic ``env:Receiver`` fault, never with its text.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from gateway.soap.build import build_fault, build_response
from gateway.soap.dispatch import (
    ANONYMOUS,
    Authorizer,
    CredentialLookup,
    PreAuthenticated,
    Principal,
    Request,
    Service,
)
from gateway.soap.envelope import Envelope, check_must_understand, parse_envelope
from gateway.soap.fault import RECEIVER, SENDER, FaultVocabulary, SoapFault
from gateway.soap.routing import RouteTable, base_url
from gateway.soap.security import CREATED_SKEW, NonceCache, check_username_token, read_username_token
from gateway.soap.wsdl import WsdlFiles, content_type

logger = logging.getLogger("gateway.soap")

#: Default request body cap: ONVIF requests are small; the largest (a filtered subscription) is a few KiB.
MAX_BODY_BYTES = 1 << 20
#: Media types a SOAP request may use; text/xml is let through so SOAP 1.1 senders get VersionMismatch.
SOAP_MEDIA_TYPES = frozenset({"application/soap+xml", "text/xml"})
SOAP_CONTENT_TYPE = b"application/soap+xml; charset=utf-8"

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Callback = Callable[[], Awaitable[None]]
_T = TypeVar("_T")


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class _Response(NamedTuple):
    status: int
    body: bytes
    content_type: bytes
    allow: bytes | None = None


@dataclass(frozen=True)
class _Context:
    """What the HTTP layer knows about a SOAP request besides its body."""

    base_url: str
    path: str
    path_params: dict[str, str]
    tls: bool
    unauthenticated: Principal  # who a request without WS-Security is
    headers: dict[str, str]  # the HTTP request's headers, names lower-cased


class SoapApp:
    """ASGI 3 application serving SOAP 1.2 endpoints and their WSDL.

    ``routes`` maps exact paths and ``{param}`` templates to services;
    ``authorizer`` raises the fault for a principal an operation's access class
    refuses; ``credentials`` looks up UsernameToken users; ``vocab`` supplies
    the subcodes of the core's own faults and ``nsmap`` the prefixes every
    reply declares.  ``wsdl`` is the documents served below its mount and at
    ``<endpoint>?wsdl`` (none without it); ``pre_authenticated`` says who a
    request without WS-Security is (anonymous when it answers None).
    ``state`` reaches handlers as ``Request.state``; ``on_startup``/
    ``on_shutdown`` run in the ASGI lifespan.  The rest have working defaults
    and exist for tests and tuning.
    """

    def __init__(
        self,
        routes: Mapping[str, Service],
        *,
        authorizer: Authorizer,
        credentials: CredentialLookup,
        vocab: FaultVocabulary,
        nsmap: Mapping[str, str],
        max_body_bytes: int = MAX_BODY_BYTES,
        state: Any = None,
        on_startup: Callback | None = None,
        on_shutdown: Callback | None = None,
        wsdl: WsdlFiles | None = None,
        pre_authenticated: PreAuthenticated = lambda scope: None,
        nonces: NonceCache | None = None,
        created_skew: timedelta = CREATED_SKEW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.routes = RouteTable(routes)
        self.authorizer = authorizer
        self.credentials = credentials
        self.vocab = vocab
        self.nsmap = dict(nsmap)
        self.max_body_bytes = max_body_bytes
        self.state = state
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.wsdl = wsdl
        self.pre_authenticated = pre_authenticated
        self.nonces = nonces if nonces is not None else NonceCache()
        self.created_skew = created_skew
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            phase = (await receive())["type"].removeprefix("lifespan.")
            callback = self.on_startup if phase == "startup" else self.on_shutdown
            try:
                if callback is not None:
                    await callback()
            except Exception as exc:
                logger.exception("lifespan %s failed", phase)
                await send({"type": f"lifespan.{phase}.failed", "message": str(exc)})
                return
            await send({"type": f"lifespan.{phase}.complete"})
            if phase == "shutdown":
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._respond(scope, receive)
        except _ClientGone:
            return
        headers = [(b"content-type", response.content_type), (b"content-length", str(len(response.body)).encode())]
        if response.allow:
            headers.append((b"allow", response.allow))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(self, scope: Scope, receive: Receive) -> _Response:
        path, method = scope["path"], scope["method"]
        post = method == "POST"
        base = base_url(scope)
        if base is None:
            return self._refuse(post, 400, "the Host header is not a usable host[:port]", self.vocab.bad_request)
        if self.wsdl is not None and path.startswith(self.wsdl.mount):
            if method != "GET":
                return self._refuse(post, 405, f"{path} serves WSDL documents to GET only", self.vocab.no_endpoint,
                                    allow=b"GET")
            return _document(self.wsdl.static(path[len(self.wsdl.mount):]))
        matched = self.routes.match(path)
        if matched is None:
            return self._refuse(post, 404, f"no endpoint at {path}", self.vocab.no_endpoint)
        service, params = matched
        if method == "GET":
            if service.wsdl is None or self.wsdl is None:
                return _plain(404, b"no WSDL for this endpoint")
            return _document(self.wsdl.service_document(service.wsdl, base_url=base, endpoint=path))
        if not post:
            return _plain(405, b"method not allowed", allow=b"GET, POST")
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media_type not in SOAP_MEDIA_TYPES:
            return self._refuse(post, 415, f"the media type must be application/soap+xml, not {media_type or 'none'}",
                                self.vocab.bad_request)
        length = headers.get(b"content-length", b"")
        body = None
        if not (length.isdigit() and int(length) > self.max_body_bytes):
            body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            return self._refuse(post, 413, f"request body exceeds {self.max_body_bytes} bytes", self.vocab.too_large)
        context = _Context(base_url=base, path=path, path_params=params, tls=scope.get("scheme") == "https",
                           unauthenticated=self.pre_authenticated(scope) or ANONYMOUS,
                           headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers.items()})
        status, payload = await _unless_client_leaves(self._soap(body, service, context), receive)
        return _Response(status, payload, SOAP_CONTENT_TYPE)

    async def _soap(self, data: bytes, service: Service, context: _Context) -> tuple[int, bytes]:
        """Run the SOAP pipeline on one request body; always returns (status, envelope bytes)."""
        try:
            envelope = parse_envelope(data, max_bytes=self.max_body_bytes, vocab=self.vocab)
        except SoapFault as fault:
            return fault.http_status, self._fault(fault, None)
        try:
            check_must_understand(envelope)
            operation = service.operations.get(envelope.body.tag)
            if operation is None:
                raise service.unknown(envelope.body.tag)
            principal = await self._authenticate(envelope, tls=context.tls, unauthenticated=context.unauthenticated)
            self.authorizer(principal, operation.access)
            request = Request(envelope=envelope, body=envelope.body, base_url=context.base_url, path=context.path,
                              path_params=context.path_params, principal=principal, state=self.state,
                              headers=context.headers)
            result = await operation.handler(request)
            return 200, build_response(result, action=operation.response_action,
                                       relates_to=envelope.message_id, nsmap=self.nsmap)
        except SoapFault as fault:
            return fault.http_status, self._fault(fault, envelope.message_id)
        except Exception:
            logger.exception("unhandled error serving %s %s", context.path, envelope.body.tag)
            return 500, self._internal(envelope.message_id)

    def _refuse(self, post: bool, status: int, reason: str, subcodes: tuple[str, ...], *,
                allow: bytes | None = None) -> _Response:
        """An HTTP-level refusal: a SOAP 1.2 ``env:Sender`` fault for a POST, plain text for other methods."""
        if not post:
            return _plain(status, reason.encode("utf-8", "replace"), allow=allow)
        fault = SoapFault(SENDER, reason, subcodes=subcodes, http_status=status)
        return _Response(status, self._fault(fault, None), SOAP_CONTENT_TYPE, allow)

    async def _authenticate(self, envelope: Envelope, *, tls: bool, unauthenticated: Principal) -> Principal:
        if envelope.security is None:
            return unauthenticated
        now = self.clock()
        token = read_username_token(envelope.security, now=now, tls=tls, vocab=self.vocab, skew=self.created_skew)
        record = await self.credentials(token.username)
        return check_username_token(token, record, nonces=self.nonces, now=now, vocab=self.vocab,
                                    skew=self.created_skew)

    def _fault(self, fault: SoapFault, relates_to: str | None) -> bytes:
        try:
            return build_fault(fault, relates_to=relates_to, nsmap=self.nsmap)
        except Exception:
            logger.exception("cannot serialise %r", fault)
            return self._internal(relates_to)

    def _internal(self, relates_to: str | None) -> bytes:
        fault = SoapFault(RECEIVER, "internal error", subcodes=self.vocab.internal)
        return build_fault(fault, relates_to=relates_to, nsmap=self.nsmap)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _unless_client_leaves(work: Coroutine[Any, Any, _T], receive: Receive) -> _T:
    """Await ``work``, cancelling it if the client disconnects first: nobody would read a long poll's answer."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        task.cancel()  # no-op when done; on our own cancellation it stops the handler too
    if not task.cancelled() and task.done():
        return task.result()
    await asyncio.gather(task, return_exceptions=True)  # let the handler's cleanup run before we go
    raise _ClientGone


async def _disconnect(receive: Receive) -> None:
    # After the body, the only message left for a request is http.disconnect.
    while (await receive())["type"] != "http.disconnect":
        pass


def _document(data: bytes | None) -> _Response:
    return _plain(404, b"not found") if data is None else _Response(200, data, content_type(data).encode())


def _plain(status: int, text: bytes, *, allow: bytes | None = None) -> _Response:
    return _Response(status, text, b"text/plain; charset=utf-8", allow)
