"""A scripted downstream segment: a real HTTP server that answers Resource Query as a test tells it to.

It speaks just enough (GetServices, CreatePullPointSubscription, PullMessages)
for a gateway to subscribe, then misbehaves in the way the test chose.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TT = "http://www.onvif.org/ver10/schema"
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
            'xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
            f'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tt="{TT}"><s:Body>{{}}</s:Body></s:Envelope>')


def message(token: str, lat: float = 32.06, lon: float = 118.79) -> str:
    return ('<wsnt:NotificationMessage><wsnt:Topic Dialect="x">tns1:Resource/MediaProfile</wsnt:Topic><wsnt:Message>'
            f'<tt:Message UtcTime="2026-01-01T00:00:00Z" PropertyOperation="Initialized"><tt:Source>'
            f'<tt:SimpleItem Name="Token" Value="{token}"/></tt:Source><tt:Data><tt:SimpleItem Name="Name" Value="n"/>'
            f'<tt:ElementItem Name="Location"><tt:GeoLocation lat="{lat}" lon="{lon}"/></tt:ElementItem></tt:Data>'
            "</tt:Message></wsnt:Message></wsnt:NotificationMessage>")


def pull_response(messages: str) -> bytes:
    return ENVELOPE.format("<tev:PullMessagesResponse><tev:CurrentTime>2026-01-01T00:00:00Z</tev:CurrentTime>"
                           f"<tev:TerminationTime>2026-01-01T01:00:00Z</tev:TerminationTime>{messages}"
                           "</tev:PullMessagesResponse>").encode()


class FakeSegment:
    """``pull`` returns the bytes of one PullMessages reply, or an iterator of chunks to stream."""

    def __init__(self, pull: Callable[[int], bytes | Iterator[bytes] | None]) -> None:
        self.pulls = 0
        self.stop_event = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                base = f"http://127.0.0.1:{fake.port}"
                if b"GetServices" in body:
                    reply: bytes | Iterator[bytes] | None = ENVELOPE.format(
                        f"<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/events/wsdl"
                        f"</tds:Namespace><tds:XAddr>{base}/events</tds:XAddr></tds:Service></tds:GetServicesResponse>"
                    ).encode()
                elif b"CreatePullPointSubscription" in body:
                    reply = ENVELOPE.format(
                        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                        f"<wsa:Address>{base}/pp</wsa:Address></tev:SubscriptionReference>"
                        "<wsnt:CurrentTime>2026-01-01T00:00:00Z</wsnt:CurrentTime>"
                        "<wsnt:TerminationTime>2026-01-01T01:00:00Z</wsnt:TerminationTime>"
                        "</tev:CreatePullPointSubscriptionResponse>").encode()
                else:
                    fake.pulls += 1
                    reply = pull(fake.pulls)
                if reply is None:  # never answer
                    fake.stop_event.wait(120)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                if isinstance(reply, bytes):
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                self.end_headers()  # HTTP/1.0 style: the body ends with the connection
                try:
                    for chunk in reply:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway hung up on the flood, as it should
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/onvif/device_service"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()


def flood(chunk_messages: int = 2000) -> Iterator[bytes]:
    """An endless PullMessagesResponse: a million resources and more, until the reader gives up."""
    yield pull_response("")[: -len(b"</tev:PullMessagesResponse></s:Body></s:Envelope>")]
    n = 0
    while True:
        yield "".join(message(f"flood:{n + i}") for i in range(chunk_messages)).encode()
        n += chunk_messages
        time.sleep(0)
