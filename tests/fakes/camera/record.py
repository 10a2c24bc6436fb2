"""The camera's memory of what it was asked: each SOAP call with its parameters and tokens, and its outcome.

Tests assert on it (``Camera.calls()``): a PTZ move reached the camera with the device-local profile token, a
ContinuousMove carried a bounded Timeout, a non-idempotent move was sent once.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from lxml import etree

MAX_CALLS = 10_000


def parameters(op: etree._Element) -> dict[str, str]:
    """Every leaf text and attribute below the operation element, keyed ``Child/Grandchild`` and ``Path@attr``
    (local names; a repeated path gets ``[2]``, ``[3]``, ... from its second occurrence)."""
    found: dict[str, str] = {}

    def put(key: str, text: str) -> None:
        n, unique = 1, key
        while unique in found:
            n += 1
            unique = f"{key}[{n}]"
        found[unique] = text

    def walk(node: etree._Element, prefix: str) -> None:
        for name, text in node.attrib.items():
            put(f"{prefix}@{etree.QName(name).localname}", text)
        children = [c for c in node if isinstance(c.tag, str)]
        if not children and prefix and (node.text or "").strip():
            put(prefix, (node.text or "").strip())
        for child in children:
            local = etree.QName(child).localname
            walk(child, f"{prefix}/{local}" if prefix else local)

    walk(op, "")
    return found


class Record:
    """A bounded, thread-safe list of calls as plain dicts (JSON-ready)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._seq = 0

    def add(self, service: str, operation: str, params: dict[str, str], path: str) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            call: dict[str, Any] = {
                "seq": self._seq, "time": time.time(), "service": service, "operation": operation, "path": path,
                "params": params, "tokens": {k: v for k, v in params.items()
                                             if k.rsplit("/", 1)[-1].split("[")[0].endswith("Token")},
                "user": None, "auth": None, "status": None}
            self._calls.append(call)
            del self._calls[:-MAX_CALLS]
            return call

    def update(self, call: dict[str, Any], **fields: Any) -> None:
        with self._lock:
            call.update(fields)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
