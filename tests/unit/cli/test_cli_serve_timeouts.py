"""``vmsgw serve --keep-alive`` and ``--uplink-idle-timeout``: bad values are one usage line, good ones reach the
runtime."""
from __future__ import annotations

import argparse

import pytest

from gateway.cli.main import build_parser
from gateway.cli.serve_cmd import SHOWN_KEEP_ALIVE, SHOWN_UPLINK_IDLE, serve_options, uplink_listen
from gateway.runtime import KEEP_ALIVE, ServeOptions, UplinkListen
from gateway.uplink.listening.link import LinkLimits

UPLINK = ["--uplink-listen", "127.0.0.1:0", "--uplink-cert", __file__, "--uplink-key", __file__]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--keep-alive", "0", "must be more than 0 seconds"),
    ("--keep-alive", "-5", "must be more than 0 seconds"),
    ("--keep-alive", "nan", "not a finite number"),
    ("--keep-alive", "inf", "not a finite number"),
    ("--keep-alive", "5s", "not a number"),
    ("--keep-alive", "", "not a number"),
    ("--keep-alive", "86401", "must be from 0 to 86400 seconds"),
    ("--uplink-idle-timeout", "0.5", "must be from 1 to 3600 seconds"),
    ("--uplink-idle-timeout", "3601", "must be from 1 to 3600 seconds"),
    ("--uplink-idle-timeout", "-1", "must be more than 0 seconds"),
    ("--uplink-idle-timeout", "1e400", "not a finite number"),
    ("--uplink-idle-timeout", "ten", "not a number"),
])
def test_a_bad_timeout_is_one_usage_line(vmsgw, capsys, db_url: str, option: str, value: str,
                                         message: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("serve", *UPLINK, f"{option}={value}", "--db", db_url) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after argparse's usage
    assert last.startswith(f"vmsgw serve: error: argument {option}: ") and message in last, last


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_given_values_reach_the_runtime_options_and_absent_ones_keep_its_defaults() -> None:
    args = parsed("--keep-alive", "1.5", *UPLINK, "--uplink-idle-timeout", "4")
    listen = uplink_listen(args)
    assert isinstance(listen, UplinkListen) and listen.idle_timeout == 4.0
    assert serve_options("sqlite://", args.listen, keep_alive=args.keep_alive).keep_alive == 1.5
    args = parsed(*UPLINK)
    listen = uplink_listen(args)
    assert listen is not None and listen.idle_timeout == LinkLimits().dead_after
    assert serve_options("sqlite://", args.listen, keep_alive=args.keep_alive).keep_alive == KEEP_ALIVE
    assert ServeOptions(db_url="x").keep_alive == KEEP_ALIVE


def test_the_help_states_the_runtime_defaults() -> None:
    assert (KEEP_ALIVE, LinkLimits().dead_after) == (SHOWN_KEEP_ALIVE, SHOWN_UPLINK_IDLE)


@pytest.mark.parametrize(("seconds", "ping"), [(25.0, 10.0), (5.0, 2.0), (1.0, 0.4), (600.0, 10.0)])
def test_an_idle_timeout_keeps_two_pings_inside_it_and_never_pings_rarer_than_the_default(seconds: float,
                                                                                       ping: float) -> None:
    limits = LinkLimits.idle_timeout(seconds)
    assert (limits.dead_after, limits.ping_interval) == (seconds, ping)
    assert limits.start_timeout == LinkLimits().start_timeout  # the rest stays as it was
