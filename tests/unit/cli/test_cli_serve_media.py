"""``vmsgw serve --rtsp-listen`` and ``--streams-per-segment``, and the demo's RTSP relay on by default."""
from __future__ import annotations

import pytest

from gateway.cli.args import Listen
from gateway.cli.demo import DEFAULT_RTSP_PORT, relay_address
from gateway.cli.main import build_parser
from gateway.cli.serve_cmd import SHOWN_STREAMS_PER_SEGMENT, serve_options
from gateway.media.resolve import STREAMS_PER_SEGMENT


def test_the_relay_options_reach_the_runtime() -> None:
    args = build_parser().parse_args(["serve", "--rtsp-listen", "0.0.0.0:8554", "--streams-per-segment", "3"])
    options = serve_options("sqlite://", Listen("127.0.0.1", 8080), rtsp=args.rtsp_listen,
                            streams_per_segment=args.streams_per_segment)
    assert (options.rtsp, options.streams_per_segment) == (("0.0.0.0", 8554), 3)
    plain = serve_options("sqlite://", Listen("127.0.0.1", 8080))
    assert (plain.rtsp, plain.streams_per_segment) == (None, STREAMS_PER_SEGMENT)
    assert SHOWN_STREAMS_PER_SEGMENT == STREAMS_PER_SEGMENT


@pytest.mark.parametrize("argv", [["--rtsp-listen", "nowhere"], ["--rtsp-listen", "1.2.3.4:99999"],
                                  ["--streams-per-segment", "0"], ["--streams-per-segment", "many"]])
def test_bad_relay_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", *argv])
    assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize(("listen", "rtsp", "expected"), [
    (Listen("127.0.0.1", 8080), None, Listen("127.0.0.1", DEFAULT_RTSP_PORT)),
    (Listen("0.0.0.0", 0), None, Listen("0.0.0.0", 0)),  # a free web port: a free RTSP port, never a clash
    (Listen("127.0.0.1", 8080), Listen("::1", 9554), Listen("::1", 9554)),
])
def test_the_demo_relays_rtsp_beside_its_web_port(listen: Listen, rtsp: Listen | None, expected: Listen) -> None:
    parsed = build_parser().parse_args(["demo", *(["--rtsp-listen", f"[{rtsp.host}]:{rtsp.port}"] if rtsp else [])])
    assert relay_address(listen, parsed.rtsp_listen) == expected
