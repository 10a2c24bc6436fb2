"""ONVIF time values on the wire: xs:duration, xs:dateTime and their union.

ONVIF accepts UTC with ``Z`` and answers in UTC with ``Z`` (docs/wire-format.md §2.1);
``wsnt:AbsoluteOrRelativeTimeType`` (InitialTerminationTime, Renew) is the
union xs:dateTime | xs:duration (docs/wire-format.md §6.2, §6.6); ``PullMessages/Timeout``
and ``MaxTimeout`` are xs:duration (docs/wire-format.md §6.4).  Durations are turned into
seconds with a **year of 365 days and a month of 30 days**: xs:duration leaves
their length to the calendar they are added to, and lifetimes and timeouts
need one number.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal

UTC = dt.UTC

#: Fixed lengths for the calendar units of xs:duration (see module docstring).
SECONDS_PER_YEAR = 365 * 86_400
SECONDS_PER_MONTH = 30 * 86_400

# XSD 1.1 Part 2 §3.3.6 (duration) and §3.3.7 (dateTime) lexical spaces; XML whitespace is collapsed first.
_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<D>\d+)D)?"
    r"(?:(?P<T>T)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d*)?|\.\d+)S)?)?",
    re.ASCII,  # \d must not accept non-ASCII digits
)
_DATETIME = re.compile(
    r"(?P<year>-?\d{4,})-(?P<month>\d\d)-(?P<day>\d\d)"
    r"T(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)(?P<fraction>\.\d+)?"
    r"(?P<tz>Z|[+-]\d\d:\d\d)?",
    re.ASCII,
)
_XML_SPACE = " \t\r\n"
_MAX_OFFSET_MINUTES = 14 * 60  # xs:dateTime timezone offsets lie within ±14:00
#: Longer duration texts are refused: they only add digits beyond any useful lifetime, and
#: Python refuses to convert integers of more than 4300 digits.
_MAX_DURATION_CHARS = 64


class TimeFormatError(ValueError):
    """Text that is not a valid (or representable) xs:duration / xs:dateTime."""


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration such as ``PT1M`` or ``-P1DT0.5S`` (years 365 d, months 30 d)."""
    value = text.strip(_XML_SPACE)
    m = _DURATION.fullmatch(value)
    # "P" alone, or a "T" with no hours/minutes/seconds after it, is not a duration.
    if m is None or not any(m[g] for g in "YMDhms") or (m["T"] and not (m["h"] or m["m"] or m["s"])):
        raise TimeFormatError(f"{text!r} is not an xs:duration (PnYnMnDTnHnMnS)")
    if len(value) > _MAX_DURATION_CHARS:
        raise TimeFormatError(f"xs:duration {text!r} is too long")
    total = (
        int(m["Y"] or 0) * SECONDS_PER_YEAR
        + int(m["M"] or 0) * SECONDS_PER_MONTH
        + int(m["D"] or 0) * 86_400
        + int(m["h"] or 0) * 3600
        + int(m["m"] or 0) * 60
        + Decimal(m["s"] or 0)
    )
    seconds = float(total)
    return -seconds if m["sign"] else seconds


def parse_datetime(text: str) -> dt.datetime:
    """An aware UTC datetime from an xs:dateTime; a value without timezone is taken as UTC."""
    value = text.strip(_XML_SPACE)
    m = _DATETIME.fullmatch(value)
    if m is None:
        raise TimeFormatError(f"{text!r} is not an xs:dateTime (YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm])")
    offset = dt.timedelta(0)
    if m["tz"] and m["tz"] != "Z":
        hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
        if minutes > 59 or hours * 60 + minutes > _MAX_OFFSET_MINUTES:
            raise TimeFormatError(f"xs:dateTime {text!r}: timezone offset {m['tz']} is outside ±14:00")
        offset = dt.timedelta(hours=hours, minutes=minutes) * (-1 if m["tz"][0] == "-" else 1)
    hour = int(m["hour"])
    # 24:00:00 is allowed and means midnight at the end of the day (XSD 1.1 §3.3.7).
    end_of_day = hour == 24 and m["minute"] == "00" and m["second"] == "00" and not (m["fraction"] or "").strip(".0")
    micro = int((m["fraction"] or ".")[1:7].ljust(6, "0"))
    try:
        local = dt.datetime(
            int(m["year"]), int(m["month"]), int(m["day"]),
            0 if end_of_day else hour, int(m["minute"]), int(m["second"]), micro, tzinfo=UTC,
        )  # fmt: skip
        return local + (dt.timedelta(days=1) if end_of_day else dt.timedelta(0)) - offset
    except (ValueError, OverflowError) as exc:
        raise TimeFormatError(f"xs:dateTime {text!r} is not a representable date and time: {exc}") from None


def parse_absolute_or_relative(text: str, now: dt.datetime) -> dt.datetime:
    """``wsnt:AbsoluteOrRelativeTimeType``: an xs:dateTime, or ``now`` plus an xs:duration."""
    value = text.strip(_XML_SPACE)
    if not value.lstrip("-").startswith("P"):
        return parse_datetime(value)
    seconds = parse_duration(value)
    try:
        return now.astimezone(UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise TimeFormatError(f"{now.isoformat()} plus {text!r} is beyond the representable dates") from None


def format_utc(when: dt.datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss[.mmm]Z``: UTC, milliseconds (truncated) only when not zero.

    A naive datetime is taken to be UTC already.
    """
    utc = when.astimezone(UTC) if when.tzinfo is not None else when
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def format_duration(seconds: float) -> str:
    """``PT<n>S`` with at most millisecond precision, e.g. ``PT60S``, ``PT1.5S``, ``-PT2S``."""
    if not math.isfinite(seconds):
        raise TimeFormatError(f"{seconds!r} seconds is not a duration")
    text = f"{abs(seconds):.3f}".rstrip("0").rstrip(".")
    return f"{'-' if seconds < 0 and text != '0' else ''}PT{text}S"
