"""Uplink benchmark: requests through one uplink beside a direct HTTP/2 connection, and 1,000 idle uplinks.

    python bench/uplink.py [--seconds S] [--rounds R] [--uplinks 100,1000] [--hold S] [--out FILE]

One run measures:

1. **Throughput** — a real ``python -m gateway serve`` process (the *leaf*,
   a generated city of ``--resources`` resources in SQLite) serves the same
   requests two ways, interleaved, at each ``--concurrency``:

   * *direct*: HTTPS to its hypercorn listener (``--tls-cert``/``--tls-key``),
     ALPN ``h2``, one connection;
   * *uplink*: the leaf's own connector (configured with ``vmsgw uplink set``
     and ``vmsgw uplink key add``) dials an :class:`UplinkListener` running in
     this process; requests go down the registered link.

   Both are driven by the same HTTP/2 client, :class:`gateway.uplink.listening.link.Link`
   (the remote client's side of an uplink; over the direct connection it is
   simply an h2 client on a TLS socket), so the only differences are the
   server's HTTP/2 stack (hypercorn vs the uplink's ``H2Server``) and who
   opened the connection.  httpx (``http2=True``) over the direct connection is
   shown beside, as an ordinary client would see it.  Workloads: PullMessages
   (Timeout PT0S, MessageLimit 100) on pull points with >= 100 pending
   resources, one pull point per in-flight request, every answer checked for
   100 messages; and GetSystemDateAndTime (cheap, transport-bound).
   A *raw limit* runs in this process: the same Link against hypercorn and
   against ``H2Server``, over loopback TLS, with a trivial ASGI app replaying a
   100-message PullMessages answer: the HTTP/2 stacks alone.
2. **Idle uplinks** — a real ``vmsgw serve --uplink-listen`` process (the
   *listener*) with ``--uplinks`` segments identified by access tokens
   (written through the catalog API), and as many connectors in this process
   (``gateway.uplink.connecting.connector.Uplink``, the production code: TLS, upgrade,
   ``H2Server``, 10 s PINGs, the 30 s silence rule, reconnect backoff), all
   serving one in-process gateway app with an empty catalog.  The listener's
   federation syncs each segment through its link (subscribe, enumerate, then
   one parked PullMessages per segment, Timeout = ``--heartbeat``).  The
   listener's VmRSS is read at 0 uplinks and after each step, then every
   connection is held ``--hold`` seconds (> the 30 s keepalive rule) and
   checked: still Connected on the device side, the segment ``up`` in the
   listener's catalog, no "closed" line in the listener's log.

Results go to ``--out`` (markdown) and the same table is printed; progress
goes to stderr.  Client and servers share the machine's cores.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kit.process import log
from bench.kit.report import write_report
from bench.steps.uplink_common import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HEARTBEAT,
    DEFAULT_HOLD,
    DEFAULT_RESOURCES,
    DEFAULT_ROUNDS,
    DEFAULT_SECONDS,
    DEFAULT_UPLINKS,
    PAGE,
    Pki,
)
from bench.steps.uplink_idle import idle_uplinks, tls_floor_serve
from bench.steps.uplink_report import Results, machine_info, render
from bench.steps.uplink_throughput import throughput

# --------------------------------------------------------------------------- main


async def _run(args: argparse.Namespace) -> Results:
    wall = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="vmsgw-bench-uplink-"))
    try:
        pki = Pki.make(tmp)
        t = None if args.skip_throughput else await throughput(args, tmp, pki)
        i = None if args.skip_idle else await idle_uplinks(args, tmp, pki)
    finally:
        if args.keep_temp:
            log(f"kept {tmp} (catalogs, server logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    return Results(date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine_info(),
                   args=args, throughput=t, idle=i, load=load, wall_seconds=time.perf_counter() - wall)


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=DEFAULT_RESOURCES,
                        help=f"resources in the leaf's catalog (default {DEFAULT_RESOURCES:,}; >= {PAGE})")
    parser.add_argument("--concurrency", type=_ints, default=DEFAULT_CONCURRENCY,
                        help="requests in flight, comma-separated (default 1,10,50)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds per timed run (default 8)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved runs per cell; the best counts")
    parser.add_argument("--no-httpx", action="store_true", help="skip the httpx reference runs")
    parser.add_argument("--uplinks", type=_ints, default=DEFAULT_UPLINKS,
                        help="idle uplink steps, comma-separated (default 100,1000)")
    parser.add_argument("--hold", type=float, default=DEFAULT_HOLD,
                        help=f"seconds to hold every uplink at the top step (default {DEFAULT_HOLD:g})")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT,
                        help=f"the idle segments' heartbeat, seconds (default {DEFAULT_HEARTBEAT:g}, the maximum)")
    parser.add_argument("--skip-throughput", action="store_true", help="only the idle uplinks")
    parser.add_argument("--skip-idle", action="store_true", help="only the throughput comparison")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temporary directory (catalogs, TLS files, the servers' logs)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "uplink.md"),
                        help="results file, markdown (default bench/results/uplink.md)")
    args = parser.parse_args(argv)
    if args.resources < PAGE:
        parser.error(f"--resources must be at least {PAGE}")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--tls-floor-serve"]:
        tls_floor_serve(argv[1])
        return
    args = parse_args(argv)
    results = asyncio.run(_run(args))
    write_report(args.out, render(results))


if __name__ == "__main__":
    main()
