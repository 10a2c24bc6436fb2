"""xs:duration / xs:dateTime parsing and the UTC formats the gateway answers with (docs/wire-format.md §2.1)."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.onvif.time import (
    SECONDS_PER_MONTH,
    SECONDS_PER_YEAR,
    TimeFormatError,
    format_duration,
    format_utc,
    parse_absolute_or_relative,
    parse_datetime,
    parse_duration,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 8, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1M", 60.0),
        ("PT60S", 60.0),
        ("PT0S", 0.0),
        ("PT0.5S", 0.5),
        ("PT.25S", 0.25),
        ("PT1.S", 1.0),
        ("PT1H2M3.125S", 3723.125),
        ("P1D", 86_400.0),
        ("P1DT1S", 86_401.0),
        ("P1Y", 365 * 86_400.0),
        ("P1M", 30 * 86_400.0),
        ("P1Y2M3DT4H5M6S", SECONDS_PER_YEAR + 2 * SECONDS_PER_MONTH + 3 * 86_400 + 4 * 3600 + 5 * 60 + 6.0),
        ("-PT5S", -5.0),
        ("  PT10S\n", 10.0),
        ("PT0010S", 10.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "-P", "P1", "1S", "T1S", "PT1H1M1H", "P-1D", "PT-1S", "P1DT", "PT1.5.5S", "P1Y1D2M",
     "pt1s", "PT1,5S", "+PT1S", "PT\u0661S", "PT1S junk", "P" + "9" * 70 + "Y"],
)  # fmt: skip
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_duration(text)


def test_calendar_unit_lengths() -> None:
    assert (SECONDS_PER_YEAR, SECONDS_PER_MONTH) == (31_536_000, 2_592_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T08:15:02Z", dt.datetime(2026, 3, 1, 8, 15, 2, tzinfo=UTC)),
        ("2026-03-01T08:15:02.120Z", dt.datetime(2026, 3, 1, 8, 15, 2, 120_000, tzinfo=UTC)),
        ("2026-03-01T08:15:02.1234567Z", dt.datetime(2026, 3, 1, 8, 15, 2, 123_456, tzinfo=UTC)),
        ("2026-03-01T08:15:02+02:00", dt.datetime(2026, 3, 1, 6, 15, 2, tzinfo=UTC)),
        ("2026-03-01T01:00:00-05:30", dt.datetime(2026, 3, 1, 6, 30, 0, tzinfo=UTC)),
        ("2026-03-01T08:15:02", dt.datetime(2026, 3, 1, 8, 15, 2, tzinfo=UTC)),
        ("2026-12-31T24:00:00Z", dt.datetime(2027, 1, 1, tzinfo=UTC)),
        (" 2026-03-01T08:15:02Z ", dt.datetime(2026, 3, 1, 8, 15, 2, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-03-01", "not an xs:dateTime"),
        ("2026-03-01 08:15:02Z", "not an xs:dateTime"),
        ("2026-3-01T08:15:02Z", "not an xs:dateTime"),
        ("2026-02-30T00:00:00Z", "not a representable date"),
        ("2026-03-01T25:00:00Z", "not a representable date"),
        ("2026-03-01T24:00:01Z", "not a representable date"),
        ("0000-01-01T00:00:00Z", "not a representable date"),
        ("0001-01-01T00:00:00+01:00", "not a representable date"),
        ("2026-03-01T08:15:02+14:30", "outside ±14:00"),
        ("2026-03-01T08:15:02+01:60", "outside ±14:00"),
        ("2026-03-01T08:15:02z", "not an xs:dateTime"),
    ],
)
def test_parse_datetime_refuses(text: str, message: str) -> None:
    with pytest.raises(TimeFormatError, match=message):
        parse_datetime(text)


def test_absolute_or_relative() -> None:
    assert parse_absolute_or_relative("PT2M", NOW) == dt.datetime(2026, 3, 1, 8, 17, tzinfo=UTC)
    assert parse_absolute_or_relative(" -PT1M ", NOW) == dt.datetime(2026, 3, 1, 8, 14, tzinfo=UTC)
    assert parse_absolute_or_relative("2026-03-02T00:00:00Z", NOW) == dt.datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(TimeFormatError, match="beyond the representable dates"):
        parse_absolute_or_relative("P99999999Y", NOW)
    with pytest.raises(TimeFormatError, match="not an xs:dateTime"):
        parse_absolute_or_relative("tomorrow", NOW)


def test_format_utc() -> None:
    assert format_utc(dt.datetime(2026, 3, 1, 8, 15, 2, tzinfo=UTC)) == "2026-03-01T08:15:02Z"
    assert format_utc(dt.datetime(2026, 3, 1, 8, 15, 2, 120_999, tzinfo=UTC)) == "2026-03-01T08:15:02.120Z"
    assert format_utc(dt.datetime(2026, 3, 1, 8, 15, 2, 999, tzinfo=UTC)) == "2026-03-01T08:15:02Z"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert format_utc(dt.datetime(2026, 3, 1, 1, 0, 0, 5000, tzinfo=plus2)) == "2026-02-28T23:00:00.005Z"
    assert format_utc(dt.datetime(2026, 3, 1, 8, 15, 2)) == "2026-03-01T08:15:02Z"
    assert format_utc(dt.datetime(33, 1, 2, tzinfo=UTC)) == "0033-01-02T00:00:00Z"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (60, 1.5, 0, 0.0004, -2, -0.0001, 0.123456)] == [
        "PT60S", "PT1.5S", "PT0S", "PT0S", "-PT2S", "PT0S", "PT0.123S",
    ]  # fmt: skip
    for bad in (float("nan"), float("inf")):
        with pytest.raises(TimeFormatError):
            format_duration(bad)


def test_formats_parse_back() -> None:
    when = dt.datetime(2026, 3, 1, 8, 15, 2, 120_000, tzinfo=UTC)
    assert parse_datetime(format_utc(when)) == when
    assert parse_duration(format_duration(90.25)) == 90.25
