"""The ASGI scope extension that marks a request tunnelled through an uplink this gateway dialled."""
from __future__ import annotations

#: ASGI scope extension of uplink requests: {"level": UserLevel list, "remote": RemoteAddress}.
UPLINK_EXTENSION = "vmsgw.uplink"
