"""A generated city: the deterministic resource set behind ``vmsgw demo``, benchmarks and tests.

Nanjing (GB/T 2260 city 320100) with six districts, each with named units
(police-station areas) scattered around the district centre.  Every device
gets a 20-digit Annex A device ID as its token prefix (docs/wire-format.md §3.4) and
publishes a main and a sub-stream MediaProfile and a VideoSource per channel,
plus a Recording where it records; an NVR has several channels.  About one
device in fifteen is a PTZ dome at a junction, with the ``type/ptz`` scope.  A few devices
have no known location and a few are offline, so location filters with
``includeUnknown`` and the ``Offline`` item have something to show.

The same ``(size, seed)`` always yields the same resources in the same order.
"""
from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from gateway.addressing.annex_a import make_device_id
from gateway.addressing.tokens import make_remote_token
from gateway.vocabulary.resource import Resource

DEFAULT_SIZE = 12_000
DEFAULT_SEED = 2026
#: The point the demo suggests querying around: Xinjiekou, in the Xuanwu district.
DEMO_POINT = (32.0603, 118.7969)

SCOPE_BASE = "onvif://www.onvif.org"
CITY_SCOPE = f"{SCOPE_BASE}/location/city/nanjing"
PTZ_SCOPE = f"{SCOPE_BASE}/type/ptz"
#: Network ID digit of every generated device: surveillance alarm network (docs/wire-format.md §3.4).
NETWORK = 1
#: Shares of devices without a known location, and offline (docs/wire-format.md §4.3 Offline item).
UNKNOWN_LOCATION_SHARE = 0.01
OFFLINE_SHARE = 0.02
#: Metres: how far units lie from their district centre, and devices from their unit centre.
UNIT_SPREAD_M = 1_800.0
DEVICE_SPREAD_M = 250.0
#: Metres per degree of latitude (WGS84 mean), for scattering points.
M_PER_DEG_LAT = 111_195.0
#: Cosine of Nanjing's latitude: metres per degree of longitude there, relative to latitude.
LON_SCALE = 0.847


@dataclass(frozen=True)
class District:
    name: str
    code: str  # GB/T 2260, 6 digits
    lat: float
    lon: float
    units: tuple[str, ...]  # unit 01, 02, ... (police-station areas)


DISTRICTS: tuple[District, ...] = (
    District("Xuanwu", "320102", 32.0603, 118.7969, ("Xinjiekou", "Xuanwu Lake", "Zhujiang Road", "Jiming Temple")),
    District("Qinhuai", "320104", 32.0339, 118.7946, ("Fuzimiao", "Zhonghua Gate", "Baixia", "Ruijin Road")),
    District("Jianye", "320105", 32.0038, 118.7320, ("Olympic Centre", "Hexi", "Shazhou", "Nanyuan")),
    District("Gulou", "320106", 32.0669, 118.7697, ("Drum Tower", "Hunan Road", "Xiaguan", "Ninghai Road")),
    District("Qixia", "320113", 32.1034, 118.9087, ("Xianlin", "Maqun", "Yanziji", "Yaohua")),
    District("Yuhuatai", "320114", 31.9919, 118.7794, ("Andemen", "Tiexinqiao", "Saihongqiao", "Software Valley")),
)


@dataclass(frozen=True)
class DeviceKind:
    """One kind of installation: its Annex A codes, what it looks like, how often it occurs."""

    agency: int  # Annex A industry code
    device_type: int  # Annex A device type code
    spot: str  # what the installation watches, numbered per device
    model: str  # hardware scope
    channels: int
    records: bool
    weight: int
    ptz: bool = False  # pan-tilt-zoom: announced with the type/ptz scope


DEVICE_KINDS: tuple[DeviceKind, ...] = (
    DeviceKind(agency=0, device_type=132, spot="Crossing", model="GW-IPC4M", channels=1, records=True, weight=30),
    DeviceKind(agency=0, device_type=132, spot="Junction Dome", model="GW-PTZ4M", channels=1, records=True, weight=8,
               ptz=True),
    DeviceKind(agency=1, device_type=132, spot="Gate", model="GW-IPC2M", channels=1, records=False, weight=20),
    DeviceKind(agency=7, device_type=132, spot="Metro Entrance", model="GW-IPC4M", channels=1, records=True, weight=10),
    DeviceKind(agency=11, device_type=131, spot="School Gate", model="GW-CAM2M", channels=1, records=False, weight=10),
    DeviceKind(agency=5, device_type=121, spot="Checkpoint", model="GW-ANPR8M", channels=1, records=True, weight=15),
    DeviceKind(agency=1, device_type=118, spot="Building", model="GW-NVR16", channels=4, records=True, weight=15),
)


def slug(text: str) -> str:
    """``Xuanwu Lake`` -> ``xuanwu-lake``: a name fit for a scope URI path segment."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _scatter(rng: random.Random, lat: float, lon: float, spread_m: float) -> tuple[float, float]:
    """A point normally distributed around ``(lat, lon)`` with ``spread_m`` standard deviation."""
    d_lat = rng.gauss(0.0, spread_m) / M_PER_DEG_LAT
    d_lon = rng.gauss(0.0, spread_m) / (M_PER_DEG_LAT * LON_SCALE)
    return round(lat + d_lat, 6), round(lon + d_lon, 6)


def _channel_resources(
    prefix: str, kind: DeviceKind, channel: int, title: str, make: Callable[..., Resource]
) -> Iterator[Resource]:
    """The resources of one video channel: two stream profiles, the source, maybe a recording.

    ``make`` builds a Resource with the device's shared location, state and scopes.
    """
    ch = f"Ch{channel}_" if kind.channels > 1 else "Profile_"
    label = f"{title} ch{channel}" if kind.channels > 1 else title
    yield make(token=make_remote_token(prefix, f"{ch}Main"), kind="MediaProfile", name=f"{label} - main")
    yield make(token=make_remote_token(prefix, f"{ch}Sub"), kind="MediaProfile", name=f"{label} - sub")
    yield make(token=make_remote_token(prefix, f"VideoSource_{channel}"), kind="VideoSource", name=label)
    if kind.records:
        recording = make_remote_token(prefix, f"Recording_{channel}")
        yield make(token=recording, kind="Recording", name=f"{label} - recording")


def _devices(rng: random.Random) -> Iterator[Resource]:
    """Resources device by device, districts in turn, forever."""
    unit_centres = {  # unit 01 sits at the district centre, so DEMO_POINT has cameras around it
        (d.code, u): (d.lat, d.lon) if u == 1 else _scatter(rng, d.lat, d.lon, UNIT_SPREAD_M)
        for d in DISTRICTS
        for u in range(1, len(d.units) + 1)
    }
    serials: dict[str, int] = {}
    spots: dict[tuple[str, int, str], int] = {}
    weights = [k.weight for k in DEVICE_KINDS]
    for district in itertools.cycle(DISTRICTS):
        unit = rng.randrange(1, len(district.units) + 1)
        kind = rng.choices(DEVICE_KINDS, weights)[0]
        zone = f"{district.code}{unit:02d}"
        series = f"{zone}{kind.agency:02d}{kind.device_type:03d}"
        serials[series] = serials.get(series, 0) + 1
        prefix = make_device_id(
            zone=zone, agency=kind.agency, device_type=kind.device_type, network=NETWORK, serial=serials[series]
        )
        place = district.units[unit - 1]
        spot_key = (district.code, unit, kind.spot)
        spots[spot_key] = spots.get(spot_key, 0) + 1
        spot = f"{kind.spot} {spots[spot_key]}"
        lat: float | None
        lon: float | None
        elevation: float | None
        if rng.random() < UNKNOWN_LOCATION_SHARE:
            lat = lon = elevation = None
        else:
            lat, lon = _scatter(rng, *unit_centres[(district.code, unit)], DEVICE_SPREAD_M)
            elevation = round(rng.uniform(5.0, 40.0), 1)
        scopes = (
            CITY_SCOPE,
            f"{SCOPE_BASE}/location/district/{slug(district.name)}",
            f"{SCOPE_BASE}/name/{slug(f'{place} {spot}')}",
            f"{SCOPE_BASE}/hardware/{kind.model}",
            f"{SCOPE_BASE}/type/video_encoder",
            *((PTZ_SCOPE,) if kind.ptz else ()),
        )
        make = partial(
            Resource, lat=lat, lon=lon, elevation=elevation, scopes=scopes, offline=rng.random() < OFFLINE_SHARE
        )
        title = f"{district.name} / {place} / {spot}"
        for channel in range(1, kind.channels + 1):
            yield from _channel_resources(prefix, kind, channel, title, make)


def generate_city(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Iterator[Resource]:
    """Exactly ``size`` resources of the generated city; the same for the same ``(size, seed)``."""
    if size < 0:
        raise ValueError(f"city size must be >= 0, not {size}")
    return itertools.islice(_devices(random.Random(seed)), size)
