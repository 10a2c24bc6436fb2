"""The Annex A device ID: structure, field decoding, and both worked examples of docs/wire-format.md §3.4."""
from __future__ import annotations

import pytest

from gateway.addressing.annex_a import (
    DeviceId,
    DeviceIdError,
    Field,
    explain,
    make_device_id,
    parse_device_id,
)


def test_worked_example_ip_camera() -> None:
    assert explain("32010001071321008015") == [
        Field(name="province", digits="32", meaning="Jiangsu"),
        Field(name="city", digits="01", meaning="city 01 of province 32 (GB/T 2260 320100)"),
        Field(name="district", digits="00", meaning="city level (no district)"),
        Field(name="unit", digits="01", meaning="unit 01 (user-defined, e.g. a police station)"),
        Field(name="agency", digits="07", meaning="Agency Related to Traffic Management (Government Offices)"),
        Field(name="device type", digits="132", meaning="IPC (peripheral device)"),
        Field(name="network", digits="1", meaning="surveillance alarm network"),
        Field(name="serial", digits="008015", meaning="device or user number 8015"),
    ]


def test_worked_example_server() -> None:
    d = parse_device_id("32010001072000000002")
    assert d == DeviceId(
        province="32", city="01", district="00", unit="01", agency="07",
        device_type="200", network="0", serial="000002",
    )  # fmt: skip
    assert d.zone == "32010001"
    assert str(d) == "32010001072000000002"
    fields = {f.name: f.meaning for f in explain(str(d))}
    assert fields["device type"] == "Central Signaling Control Server (Signal Networking Unit) (platform device)"
    assert fields["network"] == "surveillance alarm network"


def test_make_reproduces_the_worked_examples() -> None:
    assert make_device_id(zone="32010001", agency=7, device_type=132, network=1, serial=8015) == "32010001071321008015"
    assert make_device_id(zone="32010001", agency=7, device_type=200, network=0, serial=2) == "32010001072000000002"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has 0 characters; Annex A IDs have 20 digits"),
        ("3201000107132100801", "has 19 characters"),
        ("320100010713210080150", "has 21 characters"),
        ("3201000107132100801x", "character 'x' at position 20 is not a digit"),
        ("a2010001071321008015", "character 'a' at position 1 is not a digit"),
        ("3201000107132\u0661008015", "character '\u0661' at position 14"),  # Arabic-Indic one
        ("32010001 71321008015", "character ' ' at position 9"),
    ],
)
def test_structural_errors(text: str, message: str) -> None:
    with pytest.raises(DeviceIdError, match=message):
        parse_device_id(text)
    with pytest.raises(DeviceIdError, match=message):
        explain(text)


def test_unknown_codes_are_reported_not_refused() -> None:
    fields = {f.name: f.meaning for f in explain("99000000991500000000")}
    assert fields == {
        "province": "unknown province code",
        "city": "province level (no city)",
        "district": "city level (no district)",
        "unit": "surveillance centre",
        "agency": "reserved 4 (Other Entities)",
        "device type": "unassigned (no category)",
        "network": "surveillance alarm network",
        "serial": "device or user number 0",
    }


@pytest.mark.parametrize(
    ("agency", "meaning"),
    [
        ("00", "Urban Roadway (Government Offices)"),
        ("11", "Education (Government Offices)"),
        ("12", "reserved 1 (Government Offices)"),
        ("39", "reserved 1 (Government Offices)"),
        ("40", "Farming, Forestry, Animal Husbandry & Fishery (Enterprise/Administrative Institution)"),
        ("55", "Entertainment (Enterprise/Administrative Institution)"),
        ("56", "reserved 2 (Enterprise/Administrative Institution)"),
        ("85", "reserved 3 (Dwellers Building)"),
    ],
)
def test_agency_table(agency: str, meaning: str) -> None:
    fields = {f.name: f.meaning for f in explain(f"11010100{agency}1320000001")}
    assert fields["agency"] == meaning
    assert fields["province"] == "Beijing"


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("000", "unassigned (no category)"),
        ("111", "DVR (front-end device)"),
        ("121", "Checkpoints on Roadway (front-end device)"),
        ("125", "Extended front-end device (front-end device)"),
        ("130", "HVR (front-end device)"),
        ("145", "Extended peripheral device type (peripheral device)"),
        ("199", "unassigned (no category)"),
        ("211", "unnamed (the annex lists 211 without a name) (platform device)"),
        ("214", "unassigned (platform device)"),
        ("216", "Virtual Grouping (platform device)"),
        ("250", "Extended device type (platform device)"),
        ("300", "Central User (central user)"),
        ("343", "Industrial Role User (central user)"),
        ("344", "Extended Central User Type (central user)"),
        ("400", "Terminal User (terminal user)"),
        ("444", "Extended Terminal User Type (terminal user)"),
        ("504", "Video/Image Information Platform of Public Security (external platform server)"),
        ("599", "Extended Platform Server (External) (external platform server)"),
        ("600", "Extended Type (extended type)"),
        ("700", "unassigned (no category)"),
    ],
)
def test_device_type_table(code: str, meaning: str) -> None:
    fields = {f.name: f.meaning for f in explain(f"4401060500{code}5000001")}
    assert fields["device type"] == meaning


@pytest.mark.parametrize(
    ("digit", "network"),
    [("0", "surveillance alarm network"), ("4", "surveillance alarm network"), ("5", "public security network"),
     ("6", "government network"), ("7", "Internet"), ("8", "reserved"), ("9", "reserved")],
)  # fmt: skip
def test_network_ids(digit: str, network: str) -> None:
    fields = {f.name: f.meaning for f in explain(f"8200000000132{digit}000001")}
    assert (fields["network"], fields["province"]) == (network, "Macao")


def test_digits_of_explain_reassemble_the_id() -> None:
    assert "".join(f.digits for f in explain("65402801491189123456")) == "65402801491189123456"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"zone": "3201000", "agency": 7, "device_type": 132, "network": 1, "serial": 1}, "zone '3201000'"),
        ({"zone": "3201000a", "agency": 7, "device_type": 132, "network": 1, "serial": 1}, "not 8 digits"),
        ({"zone": "32010001", "agency": 100, "device_type": 132, "network": 1, "serial": 1}, "agency code 100"),
        ({"zone": "32010001", "agency": 7, "device_type": -1, "network": 1, "serial": 1}, "device type code -1"),
        ({"zone": "32010001", "agency": 7, "device_type": 132, "network": 10, "serial": 1}, "network ID 10 is outside 0..9"),
        ({"zone": "32010001", "agency": 7, "device_type": 132, "network": 1, "serial": 10**6}, "0..999999"),
    ],
)
def test_make_refuses_fields_that_do_not_fit(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DeviceIdError, match=message):
        make_device_id(**kwargs)  # type: ignore[arg-type]
