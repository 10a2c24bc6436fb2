"""How a request over an uplink can fail, said once; transport.py maps these to httpx errors.

::

    LinkError
    ├── LinkClosed     the link is gone (closed by either side, dead, GOAWAY, never started, no
    │                  link at all): nothing more will be answered on it; the segment is unreachable
    ├── LinkTimeout    no complete response within the request's timeout; the link itself may be fine
    └── StreamError    this one exchange failed (reset by the peer, response too large); the link is fine
"""
from __future__ import annotations


class LinkError(Exception):
    """Base of every failure of a request over an uplink."""


class LinkClosed(LinkError):
    pass


class LinkTimeout(LinkError):
    pass


class StreamError(LinkError):
    pass
