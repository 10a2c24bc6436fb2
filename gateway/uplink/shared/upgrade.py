"""What both halves of the Uplink upgrade agree on: the protocol token and the WebSocket accept value.

The listener parses the upgrade (listening/handshake.py) and the connector writes it (connecting/dial.py);
each is its own sans-IO machine, and these are the only values the two must share byte for byte.
"""
from __future__ import annotations

import base64
import hashlib

#: The Uplink's protocol token, as HTTP Upgrade and as WebSocket subprotocol (docs/wire-format.md §9.2).
H2C_REVERSE = "h2c-reverse"
#: RFC 6455 §1.3: the GUID hashed with the client's key into Sec-WebSocket-Accept.
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key`` (the base64 text, as bytes)."""
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
