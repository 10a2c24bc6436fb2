"""What a hostile server sends is shown on one line that cannot steer the terminal."""
from __future__ import annotations

from lxml import etree
from zeep.exceptions import Fault

from gateway.cli.live_client import fault_line, shown

TER = "http://www.onvif.org/ver10/error"


def test_a_fault_is_its_reason_then_its_codes_on_one_line() -> None:
    fault = Fault("segment cam: no PTZ\n on this profile", code="env:Sender",
                  subcodes=[etree.QName(TER, "InvalidArgVal"), etree.QName(TER, "NoPTZProfile")])
    assert fault_line(fault) == "segment cam: no PTZ on this profile (env:Sender ter:InvalidArgVal/ter:NoPTZProfile)"


def test_control_characters_of_a_server_are_escaped() -> None:
    fault = Fault("segment cam: \x1b[2J\x1b]0;owned\x07 \u202eevil\x9b", code="env:Receiver")
    line = fault_line(fault)
    assert line.isprintable() and "\x1b" not in line and "\\x1b[2J" in line and "\\x9b" in line
    assert shown("rtsp://h/live\r\nX-Injected: 1") == "rtsp://h/live\\x0d\\x0aX-Injected: 1"
    assert shown("Kamera Tür 1") == "Kamera Tür 1"  # non-ASCII text stays readable
