"""Which endpoint a request addresses: URL path → :class:`Service`, and the base URL the client used.

Route patterns are exact paths (``/svc/device``) or templates whose
``{name}`` segments each match one non-empty path segment
(``/svc/subscription/{id}``).  Exact paths win over templates; templates are
tried in the order given.

The base URL is ``scheme://host[:port]`` exactly as the client wrote it in
``Host`` (HTTP/2 ``:authority``), because addresses handed back to it —
service and subscription addresses — must match what it used (docs/wire-format.md §6.3).
A Host header outside a conservative grammar is refused rather than echoed
into XML.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.soap.dispatch import Service

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: RFC 3986 host (bracketed IPv6 literal, or unreserved characters only) and optional port.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?")


class RouteTable:
    """Routes compiled once; :meth:`match` is a dict lookup, then a scan of the templates."""

    def __init__(self, routes: Mapping[str, Service]) -> None:
        self._exact: dict[str, Service] = {}
        self._templates: list[tuple[re.Pattern[str], Service]] = []
        for pattern, service in routes.items():
            if not pattern.startswith("/"):
                raise ValueError(f"route must start with '/': {pattern!r}")
            if "{" not in pattern:
                self._exact[pattern] = service
            else:
                self._templates.append((_compile(pattern), service))

    def match(self, path: str) -> tuple[Service, dict[str, str]] | None:
        """The service at ``path`` and its parameters (``Service.path_params`` overridden by the template's)."""
        service = self._exact.get(path)
        if service is not None:
            return service, dict(service.path_params)
        for regex, service in self._templates:
            found = regex.fullmatch(path)
            if found:
                return service, {**service.path_params, **found.groupdict()}
        return None


def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for segment in pattern.split("/"):
        param = _PARAM.fullmatch(segment)
        if param:
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
        elif "{" in segment or "}" in segment:
            raise ValueError(f"a template parameter must be a whole segment: {pattern!r}")
        else:
            parts.append(re.escape(segment))
    return re.compile("/".join(parts))


def base_url(scope: Mapping[str, Any]) -> str | None:
    """``scheme://authority`` of an ASGI HTTP scope, or None if the Host header is unusable."""
    scheme = scope.get("scheme", "http")
    # hypercorn always passes one host header, empty when an HTTP/1.0 client sent none.
    hosts = [value for name, value in scope.get("headers", ()) if name == b"host" and value]
    if len(hosts) > 1:
        return None
    if hosts:
        host = hosts[0].decode("latin-1")
    elif scope.get("server"):
        address, port = scope["server"]
        address = f"[{address}]" if ":" in address else address
        host = address if port is None else f"{address}:{port}"
    else:
        return None
    return f"{scheme}://{host}" if _HOST.fullmatch(host) else None
