"""RouteTable and base_url: exact paths, templates, and which Host values become a base URL."""
from __future__ import annotations

import pytest
from soapkit import UNKNOWN_ACTION

from gateway.soap.dispatch import Service
from gateway.soap.fault import SoapFault
from gateway.soap.routing import RouteTable, base_url


def service(**params: str) -> Service:
    return Service(operations={}, unknown=lambda q: SoapFault("Sender", q, subcodes=(UNKNOWN_ACTION,)),
                   path_params=dict(params))


def test_exact_paths_win_and_templates_match_one_segment() -> None:
    exact, pulls, nested = service(), service(kind="pull"), service()
    table = RouteTable({"/onvif/pullpoint/{id}": pulls, "/onvif/pullpoint/special": exact,
                        "/a/{x}/b/{y}": nested})
    assert table.match("/onvif/pullpoint/special") == (exact, {})
    assert table.match("/onvif/pullpoint/7f.x-y") == (pulls, {"kind": "pull", "id": "7f.x-y"})
    assert table.match("/a/1/b/2") == (nested, {"x": "1", "y": "2"})
    assert [table.match(p) for p in ("/onvif/pullpoint/", "/onvif/pullpoint/a/b", "/a/1/b", "/onvif/pullpointX")] \
        == [None, None, None, None]


def test_template_parameters_override_fixed_ones() -> None:
    svc = service(id="fixed", other="kept")
    assert RouteTable({"/p/{id}": svc}).match("/p/real") == (svc, {"id": "real", "other": "kept"})


@pytest.mark.parametrize("pattern", ["onvif/x", "/p/x{id}", "/p/{id}x", "/p/{1d}"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        RouteTable({pattern: service()})


@pytest.mark.parametrize("headers, server, scheme, expected", [
    ([(b"host", b"gw.example:8443")], None, "https", "https://gw.example:8443"),
    ([(b"host", b"[fe80::1]:80")], None, "http", "http://[fe80::1]:80"),
    ([(b"host", b"10.0.0.5")], ("127.0.0.1", 80), "http", "http://10.0.0.5"),
    ([], ("10.1.2.3", 8080), "http", "http://10.1.2.3:8080"),
    ([(b"host", b"")], ("10.1.2.3", None), "http", "http://10.1.2.3"),
    ([], None, "http", None),
    ([(b"host", b"a"), (b"host", b"b")], None, "http", None),
    ([(b"host", b"gw/evil")], None, "http", None),
    ([(b"host", b'gw"&<')], None, "http", None),
    ([(b"host", b"gw:port")], None, "http", None),
])
def test_base_url(headers, server, scheme: str, expected: str | None) -> None:
    assert base_url({"headers": headers, "server": server, "scheme": scheme}) == expected
