"""Wire values: xs:dateTime and xs:duration, as the camera reads and writes them."""
from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.fakes.camera.faults import Fault

_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def iso_time(seconds: float) -> str:
    """``2026-12-07T23:40:00Z`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> float:
    """Seconds of an xs:duration without years or months (``PT1.5S``, ``PT1M``, ``P0DT0H0M5S``)."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise Fault("Sender", ("InvalidArgVal",), f"not a duration: {text[:40]!r}")
    sign, days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    return -total if sign else total


def parse_float(text: str | None, what: str) -> float:
    try:
        result = float(text or "")
    except ValueError:
        raise Fault("Sender", ("InvalidArgVal",), f"{what} is not a number") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise Fault("Sender", ("InvalidArgVal",), f"{what} is not a finite number")
    return result
