"""Argument types shared by several commands: listen addresses, coordinates, bounded numbers.

Each is an argparse ``type=`` callable: a bad value raises
``argparse.ArgumentTypeError``, which argparse reports as one usage line and
exit code 2.
"""
from __future__ import annotations

import argparse
import ipaddress
import math
from typing import NamedTuple

MAX_PORT = 65_535


class Listen(NamedTuple):
    host: str
    port: int


def listen_address(text: str) -> Listen:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (all interfaces); port 0 picks a free port."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:8080")
    elif not host:
        host = "0.0.0.0"
    elif any(ch.isspace() or ch in "/[]" for ch in host):
        raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not a host name or address")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > MAX_PORT:
        raise argparse.ArgumentTypeError(f"{text!r}: port must be a number from 0 to {MAX_PORT}")
    return Listen(host, int(port_text))


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not a finite number")
    return value


def lat_lon(text: str) -> tuple[float, float]:
    """``LAT,LON`` in WGS84 degrees: latitude in [-90, 90], longitude in [-180, 180]."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON (e.g. 32.0603,118.7969)")
    lat, lon = _finite(parts[0].strip(), "latitude"), _finite(parts[1].strip(), "longitude")
    if not -90.0 <= lat <= 90.0:
        raise argparse.ArgumentTypeError(f"latitude {lat:g} is outside -90..90")
    if not -180.0 <= lon <= 180.0:
        raise argparse.ArgumentTypeError(f"longitude {lon:g} is outside -180..180")
    return lat, lon


def non_negative(text: str) -> float:
    """A finite number >= 0 (a radius in metres)."""
    value = _finite(text, "value")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give a value >= 0")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    value = _finite(text, "seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)
