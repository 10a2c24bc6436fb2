"""The relay alone, as a process, with a static resolver: the RTSP listener and the ASGI app under hypercorn.

``python -m bench.steps.stream_relay CONFIG_JSON`` prints ``relay: rtsp PORT http PORT`` once both are bound,
and ends on SIGTERM/SIGINT (the listener's graceful shutdown) or when stdin closes.  The configuration::

    {"users": {"name": ["password", "User"]},
     "streams": {"token": {"url": "rtsp://...", "key": "segment", "user": null, "password": null, "cap": null}},
     "snapshots": {"token": {"url": "http://...", "user": "u", "password": "p"}},
     "hang": ["token whose resolution never ends"], "limits": {"reply_timeout": 2.0}}

Tokens not listed are unknown (404); tokens listed with ``"forbidden": true`` are refused (403).
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from gateway.relay.asgi import RelayApp
from gateway.relay.listener import RtspListener
from gateway.relay.session import Relay, RelayLimits
from gateway.relay.upstream import NotAllowed, Snapshot, UnknownToken, Upstream, UpstreamFailed
from gateway.soap.dispatch import Principal


class StaticResolver:
    def __init__(self, config: dict[str, Any]) -> None:
        self._streams = config.get("streams", {})
        self._hang = set(config.get("hang", ()))

    async def resolve(self, token: str, principal: Principal) -> Upstream:
        if token in self._hang:
            await asyncio.Event().wait()
        entry = self._streams.get(token)
        if entry is None:
            raise UnknownToken(f"no stream {token!r}")
        if entry.get("forbidden"):
            raise NotAllowed("not for you", segment=entry.get("key"))
        return Upstream(url=entry["url"], key=entry.get("key", "seg"), user=entry.get("user"),
                        password=entry.get("password"), cap=entry.get("cap"))


def snapshot_opener(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    snapshots = config.get("snapshots", {})

    async def open_snapshot(token: str, principal: Principal) -> Snapshot:
        entry = snapshots.get(token)
        if entry is None:
            raise UnknownToken(f"no snapshot {token!r}")
        auth = httpx.DigestAuth(entry["user"], entry["password"]) if entry.get("user") else None
        client = httpx.AsyncClient(timeout=30)
        request = client.build_request("GET", entry["url"])
        try:
            reply = await client.send(request, auth=auth, stream=True)
        except httpx.HTTPError as error:
            await client.aclose()
            raise UpstreamFailed(str(error), segment="snap") from None
        if reply.status_code != 200:
            await reply.aclose()
            await client.aclose()
            raise UpstreamFailed(f"device answered {reply.status_code}", segment="snap")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in reply.aiter_raw():
                    yield chunk
            finally:
                await reply.aclose()
                await client.aclose()
        return Snapshot(reply.headers.get("content-type", "image/jpeg"), chunks())
    return open_snapshot


async def main(config: dict[str, Any]) -> None:
    users = {name: tuple(value) for name, value in config.get("users", {}).items()}

    async def credentials(name: str) -> tuple[str, str] | None:
        return users.get(name)  # type: ignore[return-value]

    relay = Relay(StaticResolver(config), credentials, RelayLimits(**config.get("limits", {})))
    listener = RtspListener(relay)
    await listener.start("127.0.0.1", 0)
    app = RelayApp(relay.resolver, credentials, snapshot_opener(config), relay=relay)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    hyper = Config()
    hyper.bind = [f"fd://{sock.fileno()}"]
    hyper.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
    print(f"relay: rtsp {listener.port} http {sock.getsockname()[1]}", flush=True)
    async with asyncio.TaskGroup() as group:
        group.create_task(listener.serve(stop))
        group.create_task(hypercorn_serve(app, hyper, shutdown_trigger=stop.wait))  # type: ignore[arg-type]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main(json.loads(sys.argv[1])))
