"""The ASGI scope extension that marks a request as tunnelled through an uplink.

The connecting side sets it on every request it serves over an uplink it
opened; the runtime's pre-authentication hook reads it, so that a tunnelled
request without WS-Security gets the uplink's configured level.
"""
from __future__ import annotations

from typing import TypedDict

#: Key of the extension in ``scope["extensions"]``.
UPLINK_EXTENSION = "vmsgw.uplink"


class UplinkExtension(TypedDict):
    """The extension's value."""

    level: str  # the uplink's configured tt:UserLevel list
    remote: str  # the RemoteAddress the uplink connects to
