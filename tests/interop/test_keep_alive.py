"""``vmsgw serve --keep-alive``: a real server process and a real HTTP/1.1 client connection left idle.

A relay or proxy pools its connections to the gateway and leaves them idle
between requests.  With the default, such a connection outlives the HTTP
server's own 5 s and is still usable; with ``--keep-alive 1`` it is usable
within the second and closed by the server soon after it.  Both servers run at
once, so the test idles about six seconds in all.
"""
from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import Gateway, seeded

pytestmark = pytest.mark.interop

#: Longer than hypercorn's own keep-alive timeout (5 s), which closed idle connections before.
BEYOND_FIVE = 5.5
BODY = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Gateway, Gateway]]:
    """(default keep-alive, ``--keep-alive 1``), each with an empty catalog."""
    (tmp_path / "default").mkdir()
    (tmp_path / "short").mkdir()
    default = seeded("sqlite", tmp_path / "default", []).start()
    try:
        short = seeded("sqlite", tmp_path / "short", []).start("--keep-alive", "1")
        try:
            yield default, short
        finally:
            short.stop()
    finally:
        default.stop()


def connect(gw: Gateway) -> http.client.HTTPConnection:
    host, port = gw.base.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def ask(conn: http.client.HTTPConnection, gw: Gateway) -> tuple[str, int]:
    """One SOAP request on ``conn``; the local address it went out from (the same one: the same connection)."""
    conn.request("POST", gw.url.removeprefix(gw.base), BODY, {"Content-Type": "application/soap+xml; charset=utf-8"})
    reply = conn.getresponse()
    body = reply.read()
    assert reply.status == 200 and b"GetSystemDateAndTimeResponse" in body, (reply.status, body[:300])
    assert reply.getheader("Connection", "").lower() != "close"
    assert conn.sock is not None
    return conn.sock.getsockname()


def test_an_idle_connection_outlives_five_seconds_by_default_and_the_option_is_honoured(
        servers: tuple[Gateway, Gateway]) -> None:
    default, short = servers
    pooled = connect(default)
    first = ask(pooled, default)
    idle_since = time.monotonic()

    quick = connect(short)
    opened = ask(quick, short)
    time.sleep(0.4)
    assert ask(quick, short) == opened  # well within its second: still the same connection
    answered = time.monotonic()
    assert quick.sock is not None
    quick.sock.settimeout(5)
    assert quick.sock.recv(1) == b""  # then the server closes it ...
    closed_after = time.monotonic() - answered
    assert 0.8 < closed_after < 3, closed_after  # ... at its timeout, not at once and not never
    quick.close()

    time.sleep(max(0.0, idle_since + BEYOND_FIVE - time.monotonic()))
    assert ask(pooled, default) == first  # idle beyond 5 s, and the same connection serves
    pooled.close()
