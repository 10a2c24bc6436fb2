"""bench/live.py, last step: where a level's time goes, from the leaf run again under cProfile.

After every timed row, the leaf is stopped and started again on its own port and catalog under
``bench/kit/profiling.py`` (a per-thread CPU clock on the event loop and on the catalog's worker calls), switched
on by SIGUSR1 after warm-up calls; then one client makes the same calls at it one after the other, and the
profile is read once the leaf has stopped. The timed rows never ran under the profiler.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from bench.kit import profiling
from bench.kit.process import GatewayProcess, log
from bench.steps.live_calls import Operation, Target, call_once, connection
from bench.steps.live_levels import SERVER_START_TIMEOUT, Level

WATCH: tuple[tuple[str, str, str], ...] = (
    ("gateway/soap/envelope.py", "parse_envelope", "the client's envelope parsed"),
    ("gateway/soap/asgi.py", "_authenticate", "the client's WS-UsernameToken checked"),
    ("gateway/downstream/forward.py", "route", "the remote token routed (catalog lookup)"),
    ("gateway/downstream/forward.py", "call", "the call forwarded and its answer adapted"),
    ("gateway/downstream/client.py", "fetch", "  the downstream exchange (envelope, HTTP, reply bytes)"),
    ("gateway/downstream/forward.py", "adapt_answer", "  the answer's tokens adapted (event loop)"),
    ("gateway/catalog/adaption.py", "adapt", "  the adaption's catalog lookups (worker thread)"),
)
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway: catalog", ("/gateway/catalog/",)),
    ("gateway: downstream, media, ptz", ("/gateway/downstream/", "/gateway/media/", "/gateway/ptz/")),
    ("gateway: soap core, onvif", ("/gateway/soap/", "/gateway/onvif/")),
    ("gateway: other", ("/gateway/",)),
    ("httpx, httpcore, h11 (downstream client)", ("/httpx/", "/httpcore/", "/h11/")),
    ("hypercorn (server)", ("/hypercorn/",)),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("asyncio, standard library", ("/asyncio/", "/lib/python3.")),
)


@dataclass
class Profiled:
    calls: int
    summary: profiling.Summary | None

    @property
    def cpu_ms_per_call(self) -> float:
        return self.summary.busy * 1000.0 / self.calls if self.summary and self.calls else 0.0


def profile_leaf(leaf: Level, target: Target, operations: list[Operation], calls: int, work: Path) -> Profiled:
    """Restart ``leaf`` profiled on the same port; ``calls`` calls of each operation; its profile."""
    assert leaf.server is not None
    port = leaf.server.port
    leaf.server.stop()
    out = work / "leaf-profile"
    leaf.server = GatewayProcess(["--listen", f"127.0.0.1:{port}", "--rtsp-listen", "127.0.0.1:0", "--db", leaf.db],
                                 log_path=work / "leaf-profiled.log", command=profiling.command(out),
                                 timeout=SERVER_START_TIMEOUT).start()
    log(f"leaf restarted under cProfile on {leaf.server.url}")
    done = 0
    with connection() as http:
        for op in operations:
            for _ in range(5):
                call_once(target, op, http)
        assert leaf.server.proc is not None
        leaf.server.proc.send_signal(signal.SIGUSR1)
        for op in operations:
            for _ in range(calls):
                call_once(target, op, http)
                done += 1
    leaf.server.stop()
    leaf.server = None
    summary = profiling.summarise(out, WATCH, PACKAGES)
    if summary is None:
        log("WARNING: the profiled leaf wrote no profile")
    return Profiled(done, summary)
