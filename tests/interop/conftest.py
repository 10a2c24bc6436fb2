"""Real gateway processes for the interop suite.

Each gateway is seeded through the real CLI (`catalog import`, `user add`) and
served by `python -m gateway serve --listen 127.0.0.1:0`; the test waits for
the address line the server prints once it is bound — never a sleep. The
process runner is the benchmarks' (`bench/kit/process.py`), so both start,
wait for and stop a gateway the same way.
"""
from __future__ import annotations

import csv
import math
import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.kit.process import GatewayProcess, StartFailed, vmsgw

CENTRE = (32.0603, 118.7969)  # (lat, lon)
USER, PASSWORD = "alice", "correct horse battery staple"
STARTUP_TIMEOUT = 30.0
COLUMNS = ["token", "kind", "name", "lat", "lon", "elevation", "scopes", "offline"]


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point ``north_m``/``east_m`` metres from (lat, lon) on the local tangent plane."""
    dlat = north_m / 111_194.93
    dlon = east_m / (111_194.93 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def fixture_rows(seed: int = 7, extra: int = 300) -> list[dict[str, str]]:
    """A small city with hand-placed cameras near CENTRE and seeded random ones around it."""
    rows: list[dict[str, str]] = []

    def add(token: str, kind: str, name: str, at: tuple[float, float] | None, scopes: list[str], offline: str = "",
            elevation: str = "") -> None:
        rows.append({"token": token, "kind": kind, "name": name,
                     "lat": repr(at[0]) if at else "", "lon": repr(at[1]) if at else "",
                     "elevation": elevation, "scopes": " ".join(scopes), "offline": offline})

    city = "onvif://www.onvif.org/location/city/nanjing"
    a = offset(*CENTRE, 50, 0)
    for kind, local in (("MediaProfile", "Profile_1"), ("MediaProfile", "Profile_2"), ("VideoSource", "VS_1"),
                        ("Recording", "Rec_1")):
        add(f"32010001071321008015:{local}", kind, f"Gate 8 {local}", a,
            [city, "onvif://www.onvif.org/name/Gate8", "onvif://www.onvif.org/hardware/IPC-1"], "false", "12.5")
    b = offset(*CENTRE, 0, 150)
    add("32010001071321008016:Profile_1", "MediaProfile", "Gate 9 main", b,
        [city + "/district/xuanwu", "onvif://www.onvif.org/name/Gate9"], "false")
    add("cam-x:Profile_1", "MediaProfile", "Boundary cam", offset(*CENTRE, -99, 0),
        ["onvif://www.onvif.org/Location/city/nanjing"], "")
    add("cam-y:Profile_1", "MediaProfile", "Just outside", offset(*CENTRE, -101, 0), [city], "true")
    add("nowhere:Profile_1", "MediaProfile", "Unknown location", None, [city], "true")
    rng = random.Random(seed)
    districts = ["xuanwu", "qinhuai", "gulou", "jianye"]
    for i in range(extra):
        at = offset(*CENTRE, rng.uniform(-2000, 2000), rng.uniform(-2000, 2000)) if rng.random() > 0.05 else None
        scopes = [f"{city}/district/{rng.choice(districts)}", f"onvif://www.onvif.org/name/cam{i}"]
        if rng.random() < 0.3:
            scopes.append("onvif://www.onvif.org/type/ptz")
        kind = rng.choice(["MediaProfile", "MediaProfile", "VideoSource", "Recording"])
        add(f"3201000{i % 7}071320{i:07d}:T{i}", kind, f"Random camera {i}", at, scopes,
            rng.choice(["", "true", "false"]))
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_cli(*args: str, db: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = vmsgw([*args, "--db", db], stdin=input, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"vmsgw {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Gateway:
    db: str
    log: Path  # the server's stderr: a file, since a pipe nobody reads would block a chatty server
    process: GatewayProcess | None = None

    @property
    def proc(self) -> subprocess.Popen[str] | None:
        return self.process.proc if self.process is not None else None

    @proc.setter
    def proc(self, value: None) -> None:
        """``gw.proc = None`` after killing it by hand: nothing left to stop."""
        assert value is None
        self.process = None

    @property
    def url(self) -> str:
        return self.process.url if self.process is not None else ""

    @property
    def base(self) -> str:
        return self.url.rsplit("/onvif/", 1)[0]

    def start(self, *extra: str, port: int = 0) -> Gateway:
        self.process = GatewayProcess(["--listen", f"127.0.0.1:{port}", "--db", self.db, *extra], log_path=self.log,
                                      timeout=STARTUP_TIMEOUT, grace=20.0)
        try:
            self.process.start()
        except StartFailed as exc:
            self.process = None
            raise AssertionError(str(exc)) from None
        return self

    def children(self) -> set[int]:
        """The server's child processes now (its reply parsers), from Linux's /proc."""
        assert self.process is not None
        return self.process.children()

    def stop(self) -> int | None:
        """Stop the server; its exit code, None if it was not running.  Its URL stays known for a restart."""
        if self.process is None or self.process.proc is None:
            return None
        return self.process.stop()


def _backends() -> list[object]:
    params: list[object] = ["sqlite"]
    if os.environ.get("VMSGW_TEST_POSTGRES_URL"):
        params.append(pytest.param("postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_backends(), scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_db_url(backend: str, tmp: Path) -> str:
    """A new catalog, created as a user does: ``vmsgw db upgrade`` (no other command migrates)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'catalog.db'}"
    else:
        url = new_postgres_database(os.environ["VMSGW_TEST_POSTGRES_URL"])
    run_cli("db", "upgrade", db=url)
    return url


def new_postgres_database(server_url: str) -> str:
    """A fresh, empty database on the test server; the throwaway cluster is discarded after CI."""
    import uuid

    import sqlalchemy

    name = "vmsgw_it_" + uuid.uuid4().hex[:12]
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sqlalchemy.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def seeded(backend: str, tmp: Path, rows: list[dict[str, str]]) -> Gateway:
    db = new_db_url(backend, tmp)
    run_cli("catalog", "import", str(write_csv(tmp / "city.csv", rows)), db=db)
    run_cli("user", "add", USER, "--level", "user", db=db, input=PASSWORD + "\n")
    return Gateway(db=db, log=tmp / "server.log")


@pytest.fixture(scope="module")
def city_rows() -> list[dict[str, str]]:
    return fixture_rows()


@pytest.fixture(scope="module")
def gateway(backend: str, city_rows: list[dict[str, str]],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A read-mostly gateway shared by a module's tests."""
    gw = seeded(backend, tmp_path_factory.mktemp("gw"), city_rows).start()
    yield gw
    gw.stop()


@pytest.fixture
def fresh_gateway(backend: str, city_rows: list[dict[str, str]], tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of its own, for tests that change the catalog or restart the server."""
    gw = seeded(backend, tmp_path, city_rows).start()
    yield gw
    gw.stop()
