"""The network facts of the host the gateway runs on: interfaces, hostname, DNS resolvers.

The gateway configures none of them; it reports what the operating system
has, read at each request (an address may change while the process runs).
Interfaces come from ``psutil``, which reads them portably; the resolvers
from ``/etc/resolv.conf``, the file the C library's resolver reads.
Loopback interfaces are left out: a client can reach nothing through them.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

RESOLV_CONF = Path("/etc/resolv.conf")
#: What an interface without a hardware address reports, in psutil's spelling.
_NO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True, kw_only=True)
class Interface:
    name: str
    mac: str | None  # ``aa:bb:cc:dd:ee:ff``; None for interfaces without one (tunnels)
    up: bool
    mtu: int | None
    ipv4: tuple[tuple[str, int], ...]  # (address, prefix length)


@dataclass(frozen=True, kw_only=True)
class Resolvers:
    servers: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    search: tuple[str, ...]  # search domains, in the order the resolver tries them


def interfaces() -> list[Interface]:
    """The host's non-loopback interfaces, by name."""
    stats = psutil.net_if_stats()
    found = []
    for name, addresses in sorted(psutil.net_if_addrs().items()):
        stat = stats.get(name)
        if stat is not None and "loopback" in stat.flags.split(","):
            continue
        macs = [a.address.lower().replace("-", ":") for a in addresses if a.family == psutil.AF_LINK]
        ipv4 = tuple((a.address, _prefix_length(a.netmask)) for a in addresses if a.family == socket.AF_INET)
        if any(ipaddress.ip_address(address).is_loopback for address, _ in ipv4):
            continue
        mac = next((m for m in macs if m and m != _NO_MAC), None)
        found.append(Interface(name=name, mac=mac, up=bool(stat and stat.isup), mtu=stat.mtu if stat else None,
                               ipv4=ipv4))
    return found


def _prefix_length(netmask: str | None) -> int:
    """``255.255.255.0`` → 24; a host address when the system states no mask."""
    if not netmask:
        return 32
    return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen


def hostname() -> str:
    return socket.gethostname()


def resolvers(path: Path = RESOLV_CONF) -> Resolvers:
    """``nameserver`` and ``search``/``domain`` lines of resolv.conf; a missing file is no resolvers.

    As in the C resolver, the last ``search`` or ``domain`` line wins, and
    lines it would not understand are skipped.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return Resolvers(servers=(), search=())
    servers: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    search: tuple[str, ...] = ()
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            try:
                servers.append(ipaddress.ip_address(words[1]))
            except ValueError:
                continue
        elif words[0] in ("search", "domain"):
            search = tuple(words[1:])
    return Resolvers(servers=tuple(servers), search=search)
