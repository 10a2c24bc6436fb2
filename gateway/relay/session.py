"""One client session relayed to one upstream session: the asyncio shell around the sans-IO core.

docs/architecture.md §11 has the picture.  Rules:

1. Every client request except OPTIONS is authenticated (auth.Gate); the first one naming a stream path resolves
   its token, takes a place under the segment's cap and connects upstream, each step time-bounded.  One
   connection carries one stream; a request for another token is refused with 459.
2. Requests go upstream with the URI rewritten (rewrite.UrlMap), the client's credentials removed and the
   upstream's added once it challenged; CSeq and Session travel unchanged.  A SETUP keeps only its interleaved-TCP
   transports (461 when there are none), so the upstream always sends over this connection.
3. Every request forwarded must be answered within ``reply_timeout`` (or the shorter budget the client
   announced), else the client gets 504 and the session ends: a hanging upstream never hangs a client.  The
   request goes on announcing a shorter budget, so the level nearest the failure answers first and names
   itself.  Garbage or an early close from upstream is 502.
4. Both directions drain per message: a chunk is read only after the previous one was written, so the buffers are
   the sockets' own.  A client that accepts nothing for ``stall_timeout`` is dropped; its upstream goes with it.
5. Interleaved frames pass as they came, both ways (client RTCP receiver reports keep the upstream session alive).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

from gateway.relay import paths
from gateway.relay.auth import Credentials, Gate, UpstreamAuth
from gateway.relay.rewrite import UrlMap, public_base, tcp_transport, without_userinfo
from gateway.relay.rtsp import CLOSED, NEED_DATA, Frame, Parser, Request, Response, RtspError, response
from gateway.relay.upstream import AtCapacity, RelayError, Resolver, Upstream, UpstreamFailed, UpstreamTimeout
from gateway.soap.dispatch import Principal
from gateway.uplink.shared.stream import AsyncioStream, ByteStream

log = logging.getLogger("gateway.relay")

#: What OPTIONS answers: the methods relayed.
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
#: Requests a client may have unanswered at once; more are refused with 503, so the table stays small.
MAX_PENDING = 16
#: The header by which a level tells the next how long it waits for an answer (docs/wire-format.md §11.2 rule 5).
BUDGET = "X-Vmsgw-Budget"
#: The least budget passed down: below it no hop could answer anyway.
MIN_BUDGET = 0.5


def budget(header: str | None, own: float) -> float:
    """How long to wait for the upstream's answer: ``own``, or less when the client waits less."""
    try:
        given = float(header) if header else own
    except ValueError:
        return own
    return min(own, given) if given > 0 else own


@dataclass(frozen=True, kw_only=True)
class RelayLimits:
    resolve_timeout: float = 5.0      # the resolver's answer
    connect_timeout: float = 5.0      # the upstream's connection
    reply_timeout: float = 10.0       # each upstream reply
    idle_timeout: float = 30.0        # a client that has not started its stream this long after connecting is closed
    stall_timeout: float = 20.0       # a write to either side not accepted this long ends the session
    max_sessions: int = 1000          # client sessions at once, per listener and per tunnel app


class Caps:
    """Concurrent streams per upstream key (a segment), against the cap the resolver gave."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def acquire(self, key: str, cap: int | None) -> bool:
        count = self._counts.get(key, 0)
        if cap is not None and count >= cap:
            return False
        self._counts[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)


class Relay:
    """What every session shares: the resolver, the gate, the caps and the limits."""

    def __init__(self, resolver: Resolver, credentials: Credentials, limits: RelayLimits | None = None) -> None:
        self.resolver = resolver
        self.gate = Gate(credentials)
        self.caps = Caps()
        self.limits = limits or RelayLimits()

    async def session(self, client: ByteStream, peer: str, principal: Principal | None = None) -> None:
        """Relay one client connection (a socket or a tunnel) until either side ends it."""
        await _Session(self, client, peer, principal).run()


class _End(Exception):
    """The session is over (a side closed, stalled or failed); already logged."""


@dataclass
class _Pending:
    request: Request
    timer: asyncio.TimerHandle
    retried: bool = False


async def connect(url: str) -> ByteStream:
    """A TCP (``rtsps``: TLS) connection to an ``rtsp://`` URL's host and port."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "rtsps"
    if not parts.hostname:
        raise UpstreamFailed(f"no host in the upstream URL {url!r}")
    port = parts.port or (322 if secure else 554)
    reader, writer = await asyncio.open_connection(parts.hostname, port,
                                                   ssl=ssl.create_default_context() if secure else None)
    return AsyncioStream(reader, writer)


class _Session:
    def __init__(self, relay: Relay, client: ByteStream, peer: str, principal: Principal | None) -> None:
        self._relay, self._limits, self._client, self._peer = relay, relay.limits, client, peer
        self._granted = principal  # who the connection itself is (an uplink's level), for requests without a login
        self._ended = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, _Pending] = {}
        self._token: str | None = None
        self._upstream: Upstream | None = None
        self._up: ByteStream | None = None
        self._map: UrlMap | None = None
        self._auth: UpstreamAuth | None = None
        self._cap_key: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        self._spawn(self._from_client())
        try:
            await self._ended.wait()
        finally:
            for pending in self._pending.values():
                pending.timer.cancel()
            tasks = [task for task in self._tasks if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._up is not None:
                await self._up.aclose()
            if self._cap_key is not None:
                self._relay.caps.release(self._cap_key)
            await self._client.aclose()  # a client that reads nothing takes up to CLOSE_TIMEOUT to let go

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except _End:
            pass
        except Exception:
            log.exception("relay session of %s failed", self._peer)
        finally:
            self._ended.set()

    def _segment(self) -> str:
        return self._upstream.key if self._upstream is not None else "-"

    # -- writing ---------------------------------------------------------------------------------------------

    async def _to_client(self, data: bytes) -> None:
        try:
            async with asyncio.timeout(self._limits.stall_timeout):
                await self._client.write(data)
        except TimeoutError:
            log.info("relay: client %s accepted nothing for %.0f s; dropping its stream (segment %s)",
                     self._peer, self._limits.stall_timeout, self._segment())
            raise _End from None
        except (ConnectionError, OSError):
            raise _End from None

    async def _to_upstream(self, data: bytes) -> None:
        assert self._up is not None
        try:
            async with asyncio.timeout(self._limits.stall_timeout):
                await self._up.write(data)
        except TimeoutError:
            await self._fail(504, "the upstream accepts nothing", None)
        except (ConnectionError, OSError):
            await self._fail(502, "the upstream connection is closed", None)

    async def _answer(self, status: int, cseq: str | None, *headers: tuple[str, str]) -> None:
        await self._to_client(response(status, cseq, *headers).encode())

    async def _fail(self, status: int, reason: str, cseq: str | None) -> NoReturn:
        """Tell the client (``cseq``: the request that failed, else the oldest unanswered) and end."""
        log.warning("relay: stream %r for %s: segment %s: %s (%d)", self._token, self._peer, self._segment(),
                    reason, status)
        if cseq is None and self._pending:
            cseq = next(iter(self._pending))
        if cseq is not None:
            with contextlib.suppress(_End):
                await self._answer(status, cseq)
        raise _End

    # -- client to upstream ----------------------------------------------------------------------------------

    async def _from_client(self) -> None:
        parser = Parser()
        opening = asyncio.get_running_loop().time() + self._limits.idle_timeout  # one deadline, not one per read
        while True:
            try:
                async with asyncio.timeout_at(opening if self._up is None else None):
                    data = await self._client.read()
            except TimeoutError:
                return
            parser.receive_data(data)
            while True:
                try:
                    event = parser.next_event()
                except RtspError as error:
                    log.info("relay: client %s sent no RTSP: %s", self._peer, error.reason)
                    await self._answer(error.status, None)
                    return
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    return
                if isinstance(event, Request):
                    await self._request(event)
                elif self._up is not None:
                    assert isinstance(event, Frame | Response)  # RTCP, or an answer to the upstream's request
                    await self._to_upstream(event.encode() if isinstance(event, Response) else event.raw)

    async def _request(self, request: Request) -> None:
        cseq = request.cseq
        if cseq is None:
            await self._answer(400, None)
            return
        if request.method == "OPTIONS":
            await self._answer(200, cseq, ("Public", PUBLIC))
            return
        authorization = request.headers.get("Authorization")
        if authorization is None and self._granted is not None:
            verdict = self._relay.gate.admit(self._granted)
        else:
            verdict = await self._relay.gate.check(authorization, request.method, request.target)
        if verdict.status == 401:
            challenges = self._relay.gate.challenges(stale=verdict.stale)
            await self._answer(401, cseq, *(("WWW-Authenticate", value) for value in challenges))
            return
        if verdict.principal is None or verdict.status != 200:
            await self._answer(403, cseq)
            return
        split = paths.split_stream_path(urlsplit(request.target).path)
        if split is None:
            await self._answer(404, cseq)
            return
        if self._token is None:
            await self._open(split[0], verdict.principal, request.target, cseq)
        elif split[0] != self._token:
            await self._answer(459, cseq)  # one stream per connection
            return
        assert self._map is not None
        mapped = self._map.request(request)
        if mapped is None:
            await self._answer(404, cseq)
            return
        headers = mapped.headers.remove("Authorization", "Proxy-Authorization")
        if request.method == "SETUP":
            transport = tcp_transport(request.headers.get("Transport"))
            if transport is None:
                await self._answer(461, cseq)
                return
            headers = headers.set("Transport", transport)
        if len(self._pending) >= MAX_PENDING:
            await self._answer(503, cseq)
            return
        await self._forward(Request(mapped.method, mapped.target, headers, mapped.body), cseq)

    async def _forward(self, request: Request, cseq: str, *, retried: bool = False) -> None:
        wait = budget(request.headers.get(BUDGET), self._limits.reply_timeout)
        headers = request.headers.set(BUDGET, f"{max(MIN_BUDGET, wait * 0.8 - 0.2):.1f}")
        if self._auth is not None:
            headers = headers.set("Authorization", self._auth.header(request.method, request.target))
        request = request.with_headers(headers)
        timer = asyncio.get_running_loop().call_later(wait, self._expire, cseq)
        old = self._pending.pop(cseq, None)
        if old is not None:
            old.timer.cancel()
        self._pending[cseq] = _Pending(request, timer, retried)
        await self._to_upstream(request.encode())

    def _expire(self, cseq: str) -> None:
        pending = self._pending.get(cseq)
        if pending is None:
            return
        reason = f"no answer to {pending.request.method} in time"
        self._spawn(self._fail(504, reason, cseq))

    async def _open(self, token: str, principal: Principal, target: str, cseq: str) -> None:
        """Resolve, take a place under the cap, connect; on failure answer the client and end the session."""
        self._token = token
        try:
            try:
                async with asyncio.timeout(self._limits.resolve_timeout):
                    upstream = await self._relay.resolver.resolve(token, principal)
            except TimeoutError:
                raise UpstreamTimeout("the resolver did not answer in time") from None
            self._upstream = upstream
            if not self._relay.caps.acquire(upstream.key, upstream.cap):
                raise AtCapacity(f"{upstream.cap} concurrent streams reached", segment=upstream.key)
            self._cap_key = upstream.key
            try:
                async with asyncio.timeout(self._limits.connect_timeout):
                    self._up = await (upstream.open() if upstream.open is not None else connect(upstream.url))
            except TimeoutError:
                raise UpstreamTimeout("connecting timed out", segment=upstream.key) from None
            except OSError as error:
                raise UpstreamFailed(f"cannot connect: {error}", segment=upstream.key) from None
        except RelayError as error:
            log.warning("relay: stream %r for %s: segment %s: %s (%d)", token, principal.name,
                        error.segment or self._segment(), error.reason, error.rtsp_status)
            await self._answer(error.rtsp_status, cseq)
            raise _End from None
        self._map = UrlMap(public_base(target, paths.stream_path(token)), without_userinfo(upstream.url))
        log.info("relay: stream %r for %s (%s) from segment %s", token, principal.name, self._peer, upstream.key)
        self._spawn(self._from_upstream())

    # -- upstream to client ----------------------------------------------------------------------------------

    async def _from_upstream(self) -> None:
        assert self._up is not None
        parser = Parser()
        while True:
            parser.receive_data(await self._up.read())
            while True:
                frames = parser.take_frames()
                if frames:
                    await self._to_client(frames)
                try:
                    event = parser.next_event()
                except RtspError as error:
                    await self._fail(502, f"the upstream sent no RTSP: {error.reason}", None)
                if isinstance(event, Frame):  # take_frames() left none complete: cannot be, but stays right
                    await self._to_client(event.raw)
                    continue
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    if self._pending:
                        await self._fail(502, "the upstream closed the connection", None)
                    log.info("relay: stream %r for %s: segment %s closed the stream", self._token, self._peer,
                             self._segment())
                    raise _End
                if isinstance(event, Response):
                    await self._upstream_response(event)
                elif isinstance(event, Request):
                    assert self._map is not None
                    await self._to_client(self._map.server_request(event).encode())

    async def _upstream_response(self, answer: Response) -> None:
        assert self._map is not None and self._upstream is not None
        cseq = answer.cseq
        pending = self._pending.pop(cseq, None) if cseq is not None else None
        if pending is not None:
            pending.timer.cancel()
        if answer.status == 401 and pending is not None:
            upstream = self._upstream
            if not pending.retried and upstream.user is not None:
                auth = UpstreamAuth(upstream.user, upstream.password or "", answer.headers.get_all("WWW-Authenticate"))
                if auth.usable:
                    self._auth = auth
                    assert cseq is not None
                    await self._forward(pending.request.with_headers(pending.request.headers.remove("Authorization")),
                                        cseq, retried=True)
                    return
            self._pending[cseq or ""] = pending  # so that _fail answers this request
            await self._fail(502, "the upstream refused the credentials", cseq)
        await self._to_client(self._map.response(answer).encode())
