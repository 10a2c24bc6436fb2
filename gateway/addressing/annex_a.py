"""The 20-digit device ID of IEC 62676-2-33 Annex A (GB/T 28181 style), as a token prefix.

Layout (docs/wire-format.md §3.4); positions are 1-based::

    position  1-2       3-4   5-6       7-8   9-10    11-13        14       15-20
    field     province  city  district  unit  agency  device type  network  serial
              |<---------- zone ---------->|

The serial field of the annex is 7 digits: the network ID, then 6 digits.  (The
annex's worked examples split those 7 digits differently; the field layout is
what this module follows, docs/decisions.md §8.12.)

The zone is the GB/T 2260 division (province, city, district) plus a
user-defined unit (``00`` = the surveillance centre).  The code tables of the
annex are informative and incomplete, so a code missing from them is not an
error: :func:`explain` reports it as unassigned or reserved.  Only the
structure (20 ASCII digits) is enforced, by :class:`DeviceIdError`.
"""
from __future__ import annotations

from dataclasses import dataclass

LENGTH = 20  # 8 zone + 2 agency + 3 type + 1 network + 6 serial (docs/wire-format.md §3.4)
_DIGITS = "0123456789"  # str.isdigit() would also accept non-ASCII digits


class DeviceIdError(ValueError):
    """A string that is not structurally a 20-digit Annex A device ID."""


#: GB/T 2260 province-level division codes: the first two digits of the zone.
PROVINCES: dict[str, str] = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia",
    "21": "Liaoning", "22": "Jilin", "23": "Heilongjiang",
    "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui", "35": "Fujian", "36": "Jiangxi",
    "37": "Shandong",
    "41": "Henan", "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi", "46": "Hainan",
    "50": "Chongqing", "51": "Sichuan", "52": "Guizhou", "53": "Yunnan", "54": "Tibet",
    "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia", "65": "Xinjiang",
    "71": "Taiwan", "81": "Hong Kong", "82": "Macao",
}  # fmt: skip

#: Annex A table "Industry Coding": the named agency codes (docs/wire-format.md §3.4).
AGENCIES: dict[int, str] = {
    0: "Urban Roadway", 1: "Society Community", 2: "Social Security Agency", 3: "Other Security Agencies",
    4: "Traffic Roadway", 5: "Traffic Checkpoints", 6: "Traffic Management Agency",
    7: "Agency Related to Traffic Management", 8: "City Management", 9: "Health & Environmental Management",
    10: "Commodity Inspection & Custom", 11: "Education",
    40: "Farming, Forestry, Animal Husbandry & Fishery", 41: "Mining", 42: "Manufacturing", 43: "Metallurgy",
    44: "Electric Power", 45: "Gas", 46: "Construction", 47: "Logistics", 48: "Postal Services", 49: "IT",
    50: "Hotels & Catering", 51: "Financing", 52: "Real Estate", 53: "Commercial Services",
    54: "Water Resources Enterprises", 55: "Entertainment",
}  # fmt: skip

#: Agency subject groups: (first, last, group, name of the codes the table leaves unnamed).
AGENCY_GROUPS: tuple[tuple[int, int, str, str], ...] = (
    (0, 39, "Government Offices", "reserved 1"),
    (40, 79, "Enterprise/Administrative Institution", "reserved 2"),
    (80, 89, "Dwellers Building", "reserved 3"),
    (90, 99, "Other Entities", "reserved 4"),
)

#: Annex A device type codes listed one by one (docs/wire-format.md §3.4).
DEVICE_TYPES: dict[int, str] = {
    111: "DVR", 112: "Video Server", 113: "Encoder", 114: "Decoder", 115: "Video Switching Matrix",
    116: "Audio Switching Matrix", 117: "Alarm Controller", 118: "NVR",
    119: "Online Information Acquisition Device", 120: "Online Information Acquisition System",
    121: "Checkpoints on Roadway", 130: "HVR",
    131: "Camera", 132: "IPC", 133: "Display Encoding", 134: "Alarm Input Devices", 135: "Alarm Output Devices",
    136: "Audio Input Devices", 137: "Audio Output Devices", 138: "Mobile Transmission Devices",
    139: "Other Peripheral Devices",
    200: "Central Signaling Control Server (Signal Networking Unit)", 201: "Web Application Server",
    202: "Media Distribution Server", 203: "Proxy Server", 204: "Security Server", 205: "Alarm Server",
    206: "Database Server", 207: "GIS Server", 208: "Management Server", 209: "Access Gateway",
    210: "Media Storage Server", 211: "unnamed (the annex lists 211 without a name)",
    215: "Traffic Grouping", 216: "Virtual Grouping",
    300: "Central User", 400: "Terminal User",
    500: "Signaling Server of Video/Image Information Application Platform",
    501: "Signaling Server of Video/Image Information Maintenance Platform",
    502: "Video/Image Analysis Device/System of Public Security",
    503: "Video/Image Information Database of Public Security",
    504: "Video/Image Information Platform of Public Security",
}  # fmt: skip

#: Device type codes the annex names only as a range: (first, last, name).
DEVICE_TYPE_RANGES: tuple[tuple[int, int, str], ...] = (
    (122, 129, "Extended front-end device"),  # the annex says 121-129, but 121 is named
    (140, 149, "Extended peripheral device type"),
    (212, 213, "Extended device type"),  # 214 is not listed at all
    (217, 299, "Extended device type"),
    (301, 343, "Industrial Role User"),
    (344, 399, "Extended Central User Type"),
    (401, 443, "Industrial Role User"),
    (444, 499, "Extended Terminal User Type"),  # the annex says "Central" (sic) in the terminal range
    (505, 599, "Extended Platform Server (External)"),
    (600, 699, "Extended Type"),
)

#: Device categories by code range (docs/wire-format.md §3.4); 150-199 and codes outside have none.
DEVICE_CATEGORIES: tuple[tuple[int, int, str], ...] = (
    (111, 130, "front-end device"),
    (131, 149, "peripheral device"),
    (200, 299, "platform device"),
    (300, 399, "central user"),
    (400, 499, "terminal user"),
    (500, 599, "external platform server"),
    (600, 699, "extended type"),
)

#: The network ID digit that opens the 7-digit serial field (docs/wire-format.md §3.4).
NETWORKS: tuple[str, ...] = (
    *("surveillance alarm network",) * 5,  # 0-4
    "public security network",  # 5
    "government network",  # 6
    "Internet",  # 7
    "reserved",  # 8
    "reserved",  # 9
)


@dataclass(frozen=True, kw_only=True)
class DeviceId:
    """The fields of a device ID, each as its digit string."""

    province: str
    city: str
    district: str
    unit: str
    agency: str
    device_type: str
    network: str
    serial: str

    @property
    def zone(self) -> str:
        return self.province + self.city + self.district + self.unit

    def __str__(self) -> str:
        return self.zone + self.agency + self.device_type + self.network + self.serial


@dataclass(frozen=True, kw_only=True)
class Field:
    """One row of ``vmsgw id explain``: which field, its digits, what they mean."""

    name: str
    digits: str
    meaning: str


def parse_device_id(text: str) -> DeviceId:
    """Split a device ID into its fields; raise :class:`DeviceIdError` naming the first structural fault."""
    if len(text) != LENGTH:
        raise DeviceIdError(f"device ID {text!r} has {len(text)} characters; Annex A IDs have {LENGTH} digits")
    for position, ch in enumerate(text, start=1):
        if ch not in _DIGITS:
            raise DeviceIdError(f"device ID {text!r}: character {ch!r} at position {position} is not a digit 0-9")
    return DeviceId(
        province=text[0:2],
        city=text[2:4],
        district=text[4:6],
        unit=text[6:8],
        agency=text[8:10],
        device_type=text[10:13],
        network=text[13],
        serial=text[14:20],
    )


def _fixed(name: str, value: int, width: int) -> str:
    """``value`` zero-padded to ``width`` digits, or :class:`DeviceIdError` if it does not fit."""
    if not 0 <= value < 10**width:
        raise DeviceIdError(f"{name} {value} is outside 0..{10**width - 1} ({width} digits)")
    return f"{value:0{width}d}"


def make_device_id(*, zone: str, agency: int, device_type: int, network: int, serial: int) -> str:
    """Assemble a device ID; ``zone`` is the 8-digit zone code (e.g. ``"32010001"``)."""
    if len(zone) != 8 or any(ch not in _DIGITS for ch in zone):
        raise DeviceIdError(f"zone {zone!r} is not 8 digits 0-9")
    return (
        zone
        + _fixed("agency code", agency, 2)
        + _fixed("device type code", device_type, 3)
        + _fixed("network ID", network, 1)
        + _fixed("serial number", serial, 6)
    )


def _city(d: DeviceId) -> str:
    if d.city == "00":
        return "province level (no city)"
    return f"city {d.city} of province {d.province} (GB/T 2260 {d.province}{d.city}00)"


def _district(d: DeviceId) -> str:
    if d.district == "00":
        return "city level (no district)"
    return f"district {d.district} (GB/T 2260 {d.province}{d.city}{d.district})"


def _unit(d: DeviceId) -> str:
    if d.unit == "00":
        return "surveillance centre"  # docs/wire-format.md §3.4: unit 00 = the Surveillance Center
    return f"unit {d.unit} (user-defined, e.g. a police station)"


def _province(code: str) -> str:
    return PROVINCES.get(code, "unknown province code")


def _agency(code: str) -> str:
    value = int(code)
    group, unnamed = next((g, u) for first, last, g, u in AGENCY_GROUPS if first <= value <= last)
    return f"{AGENCIES.get(value, unnamed)} ({group})"


def _device_type(code: str) -> str:
    value = int(code)
    name = DEVICE_TYPES.get(value)
    if name is None:
        ranged = (n for first, last, n in DEVICE_TYPE_RANGES if first <= value <= last)
        name = next(ranged, "unassigned")
    category = next((c for first, last, c in DEVICE_CATEGORIES if first <= value <= last), "no category")
    return f"{name} ({category})"


def explain(device_id: str) -> list[Field]:
    """The fields of ``device_id`` with their meanings, in ID order (for ``vmsgw id explain``)."""
    d = parse_device_id(device_id)
    return [
        Field(name="province", digits=d.province, meaning=_province(d.province)),
        Field(name="city", digits=d.city, meaning=_city(d)),
        Field(name="district", digits=d.district, meaning=_district(d)),
        Field(name="unit", digits=d.unit, meaning=_unit(d)),
        Field(name="agency", digits=d.agency, meaning=_agency(d.agency)),
        Field(name="device type", digits=d.device_type, meaning=_device_type(d.device_type)),
        Field(name="network", digits=d.network, meaning=NETWORKS[int(d.network)]),
        Field(name="serial", digits=d.serial, meaning=f"device or user number {int(d.serial)}"),
    ]
