"""The relay's ASGI app on the web-service port: RTSP over HTTP and the snapshot proxy (docs/wire-format.md §11.5).

RTSP over HTTP (the tunnel Media2's ``RtspOverHttp`` asks for on the web-service port): a ``GET`` of a stream
path with ``x-sessioncookie`` opens the server-to-client half, answered 200 ``application/x-rtsp-tunnelled``
without Content-Length and kept open; ``POST`` s with the same cookie carry the client-to-server half, base64
(whitespace ignored, groups split anywhere, across POSTs too).  Clients announce ``Content-Length: 32767`` on a
POST and send for as long as the session lasts; several POSTs may feed one session.  The pair is one relay
session (session.py), authenticated at the RTSP level like a TCP client.

Snapshots: ``GET /snapshot/<token>`` with HTTP Digest or Basic (the gateway's users, the media access rule);
the bytes come from the injected ``open_snapshot``, the first of them within ``reply_timeout`` (else 504), each
next one within the same, and at most :data:`MAX_SNAPSHOT` octets in all.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gateway.relay import paths
from gateway.relay.auth import Credentials
from gateway.relay.session import Relay, RelayLimits
from gateway.relay.tunnel import Tunnel, Tunnels
from gateway.relay.upstream import OpenSnapshot, RelayError, Resolver
from gateway.soap.dispatch import Principal

log = logging.getLogger("gateway.relay")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TUNNELLED = b"application/x-rtsp-tunnelled"
#: The largest JPEG the proxy passes; a camera's full-resolution snapshot is well below.
MAX_SNAPSHOT = 16 * 1024 * 1024
def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _plain(send: Send, status: int, text: str, *headers: tuple[bytes, bytes]) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class RelayApp:
    """ASGI 3 app for :func:`gateway.relay.paths.is_relay_path` paths; others get 404."""

    def __init__(self, resolver: Resolver, credentials: Credentials, open_snapshot: OpenSnapshot,
                 limits: RelayLimits | None = None, *, relay: Relay | None = None,
                 pre_authenticated: Callable[[Scope], Principal | None] | None = None) -> None:
        self.relay = relay or Relay(resolver, credentials, limits)
        #: Who a request is without credentials: the uplink's level for one tunnelled through an uplink
        #: this gateway opened (docs/wire-format.md §9.3, §13.1); None: everyone must log in.
        self._pre_authenticated = pre_authenticated or (lambda scope: None)
        self._open_snapshot = open_snapshot
        self._tunnels = Tunnels(self.relay.limits.max_sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        cookie = _header(scope, b"x-sessioncookie")
        if paths.split_stream_path(path) is not None and cookie:
            if method == "GET":
                await self._get(scope, receive, send, cookie)
            elif method == "POST":
                await self._post(receive, send, cookie)
            else:
                await _plain(send, 405, "GET or POST", (b"allow", b"GET, POST"))
            return
        token = paths.token_of_snapshot_path(path)
        if token is not None:
            if method in ("GET", "HEAD"):
                await self._snapshot(scope, send, token)
            else:
                await _plain(send, 405, "GET", (b"allow", b"GET"))
            return
        await _plain(send, 404, "no such stream or snapshot")

    # -- RTSP over HTTP --------------------------------------------------------------------------------------

    async def _get(self, scope: Scope, receive: Receive, send: Send, cookie: str) -> None:
        refusal = self._tunnels.refusal(cookie)
        if refusal is not None:
            await _plain(send, 503 if refusal == "too many tunnels" else 400, refusal)
            return

        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        with self._tunnels.opened(cookie, Tunnel(body)) as tunnel:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", TUNNELLED), (b"cache-control", b"no-store"),
                                    (b"pragma", b"no-cache")]})
            client = scope.get("client") or ("?", 0)

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                await tunnel.aclose()

            watcher = asyncio.create_task(watch_disconnect())
            try:
                await self.relay.session(tunnel, f"{client[0]}:{client[1]} (http tunnel)",
                                         self._pre_authenticated(scope))
            finally:
                watcher.cancel()
            with contextlib.suppress(Exception):  # the client may be gone already
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _post(self, receive: Receive, send: Send, cookie: str) -> None:
        tunnel = self._tunnels.get(cookie)
        if tunnel is None:
            await _plain(send, 404, "no tunnel has this x-sessioncookie")
            return
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if message.get("body") and not await tunnel.feed(message["body"]):
                await _plain(send, 400, "a tunnel POST carries base64")
                return
            if not message.get("more_body"):
                break
        await _plain(send, 200, "")

    # -- snapshots -------------------------------------------------------------------------------------------

    async def _snapshot(self, scope: Scope, send: Send, token: str) -> None:
        gate = self.relay.gate
        target = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + bytes(scope["query_string"]).decode("latin-1")
        authorization, principal = _header(scope, b"authorization"), self._pre_authenticated(scope)
        if authorization is None and principal is not None:
            verdict = gate.admit(principal)
        else:
            verdict = await gate.check(authorization, scope["method"], target)
        if verdict.status == 401:
            challenges = [(b"www-authenticate", value.encode()) for value in gate.challenges(stale=verdict.stale)]
            await _plain(send, 401, "authentication required", *challenges)
            return
        if verdict.principal is None or verdict.status != 200:
            await _plain(send, 403, "this user may not read media")
            return
        timeout = self.relay.limits.reply_timeout
        chunks = None
        try:
            async with asyncio.timeout(timeout):
                snapshot = await self._open_snapshot(token, verdict.principal)
                chunks = snapshot.chunks
                first = await anext(chunks, b"")
        except RelayError as error:
            log.warning("relay: snapshot %r: segment %s: %s", token, error.segment or "-", error.reason)
            await _plain(send, error.http_status, error.reason)
            return
        except TimeoutError:
            log.warning("relay: snapshot %r: no answer within %g s", token, timeout)
            await _plain(send, 504, "the device did not answer in time")
            return
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", snapshot.content_type.encode("latin-1")),
                                    (b"cache-control", b"no-store")]})
            total, chunk = 0, first
            while chunk:
                total += len(chunk)
                if total > MAX_SNAPSHOT:
                    log.warning("relay: snapshot %r larger than %d octets; cut", token, MAX_SNAPSHOT)
                    break
                if scope["method"] != "HEAD":
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                async with asyncio.timeout(timeout):
                    chunk = await anext(chunks, b"")
        except (TimeoutError, RelayError) as error:
            log.warning("relay: snapshot %r ended early: %s", token, error or "timeout")
        finally:
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": b"", "more_body": False})
