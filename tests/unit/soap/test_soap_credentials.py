"""Who a request is, as the caller decides it: credential lookups awaited off the event loop, and the
pre-authentication hook for requests without WS-Security (the runtime's: tunnelled through an uplink)."""
from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lxml import etree
from soapkit import CONTENT_TYPE, VOCAB, T, fault_of, make_app, request
from zeep.wsse.username import UsernameToken

from gateway.catalog.model import User
from gateway.runtime import CredentialCache, tunnelled
from gateway.soap.dispatch import Principal
from gateway.soap.ns import SOAP_ENV
from gateway.uplink.extension import UPLINK_EXTENSION

EVENTS = "/onvif/event_service"


def signed(op: str = "Echo", user: str = "alice", password: str = "wonderland") -> bytes:
    root = etree.fromstring(request(op))
    UsernameToken(user, password, use_digest=True, created=datetime.now(UTC)).apply(root, {})
    return etree.tostring(root)


def user_of(response: httpx.Response) -> str | None:
    root = etree.fromstring(response.content)
    return root.findtext("s:Body/t:EchoResponse/t:User", namespaces={"s": SOAP_ENV, "t": T})


class SlowCatalog:
    """A catalog whose user query blocks its thread until released, as a query behind a locked table would."""

    def __init__(self, *, blocking: bool = True) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        if not blocking:
            self.release.set()

    def get_user(self, name: str) -> User | None:
        self.threads.append(threading.get_ident())
        self.entered.set()
        assert self.release.wait(5), "the lookup was never released: it held the event loop"
        return User(name="alice", level="Administrator", password="wonderland") if name == "alice" else None


def test_a_slow_credential_lookup_holds_no_other_request() -> None:
    catalog = SlowCatalog()
    app = make_app(credentials=CredentialCache(catalog))
    headers = {"content-type": CONTENT_TYPE}

    async def go() -> tuple[httpx.Response, httpx.Response, bool, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
            authenticated = asyncio.ensure_future(client.post(EVENTS, content=signed(), headers=headers))
            assert await asyncio.to_thread(catalog.entered.wait, 5), "the lookup never started"
            anonymous = await asyncio.wait_for(client.post(EVENTS, content=request(), headers=headers), 5)
            pending = not authenticated.done()  # the lookup is still blocked in its thread
            catalog.release.set()
            return anonymous, await asyncio.wait_for(authenticated, 5), pending, threading.get_ident()

    anonymous, authenticated, pending, loop_thread = asyncio.run(go())
    assert (anonymous.status_code, user_of(anonymous)) == (200, "anonymous")
    assert pending
    assert (authenticated.status_code, user_of(authenticated)) == (200, "alice")
    assert catalog.threads and loop_thread not in catalog.threads


def test_a_cached_user_costs_no_thread_hop() -> None:
    catalog = SlowCatalog(blocking=False)
    cache = CredentialCache(catalog)
    assert asyncio.run(cache("alice")) == ("wonderland", "Administrator")
    assert asyncio.run(cache("nobody")) is None
    for name, expected in (("alice", ("wonderland", "Administrator")), ("nobody", None)):
        lookup = cache(name)
        with pytest.raises(StopIteration) as done:
            lookup.send(None)  # finishes at its first step: it never waits for a thread, nor for anything
        assert done.value.value == expected
    assert len(catalog.threads) == 2


def test_a_wrong_password_is_refused_after_an_off_loop_lookup() -> None:
    app = make_app(credentials=CredentialCache(SlowCatalog(blocking=False)))

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
            return await client.post(EVENTS, content=signed(password="nope"),
                                     headers={"content-type": CONTENT_TYPE})

    response = asyncio.run(go())
    assert (response.status_code, fault_of(response.content)[1]) == (400, list(VOCAB.not_authorized))


def _post(app: Any, data: bytes, extensions: dict[str, Any]) -> httpx.Response:
    """POST through ASGI with ``extensions`` in the scope, as the uplink's HTTP/2 server sets them."""

    async def with_extensions(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "extensions": {**scope.get("extensions", {}), **extensions}}, receive, send)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=with_extensions)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            return await client.post(EVENTS, content=data, headers={"content-type": CONTENT_TYPE})

    return asyncio.run(go())


def test_the_pre_authentication_hook_names_a_request_without_ws_security() -> None:
    app = make_app(pre_authenticated=lambda scope: Principal(name="tunnel", level="Administrator")
                   if "tunnel" in scope.get("extensions", {}) else None)
    assert user_of(_post(app, request("Admin"), {"tunnel": True})) == "tunnel"
    refused = _post(app, request("Admin"), {})
    assert (refused.status_code, fault_of(refused.content)[1]) == (400, list(VOCAB.not_authorized))
    # Credentials a pre-authenticated request does carry are verified as usual.
    assert user_of(_post(app, signed("Admin"), {"tunnel": True})) == "alice"
    wrong = _post(app, signed("Admin", password="nope"), {"tunnel": True})
    assert (wrong.status_code, fault_of(wrong.content)[1]) == (400, list(VOCAB.not_authorized))


@pytest.mark.parametrize(("extensions", "principal"), [
    ({UPLINK_EXTENSION: {"level": "Operator User", "remote": "https://cloud/uplink"}},
     Principal(name="uplink:https://cloud/uplink", level="Operator")),
    ({UPLINK_EXTENSION: {"level": " ", "remote": "https://cloud/uplink"}}, None),
    ({UPLINK_EXTENSION: {}}, None),
    ({}, None),
])
def test_a_tunnelled_request_gets_its_uplinks_first_level(extensions: dict[str, Any],
                                                           principal: Principal | None) -> None:
    assert tunnelled({"type": "http", "extensions": extensions}) == principal
    assert tunnelled({"type": "http"}) is None
