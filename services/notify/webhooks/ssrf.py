"""SSRF guard for partner-supplied URLs: resolve the host and refuse it if any address is not
public (loopback, private, link-local, CGNAT, multicast, reserved, IPv4-mapped forms of
those). Checked when a URL is registered and again before every delivery (DNS can change)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeTarget(ValueError):
    """The URL may not be called."""


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_target(
    url: str, *, allow_private: bool, require_https: bool, resolver: Resolver = resolve
) -> None:
    """Raise UnsafeTarget unless `url` is an http(s) URL whose every address is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("must be an http or https URL")
    if require_https and parts.scheme != "https":
        raise UnsafeTarget("must be an https URL")
    if not parts.hostname:
        raise UnsafeTarget("has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("must not carry credentials")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolver(parts.hostname, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"host does not resolve: {exc}") from exc
    if not addresses:
        raise UnsafeTarget("host does not resolve")
    blocked = [a for a in addresses if not _public(a)]
    if blocked:
        raise UnsafeTarget(f"resolves to a non-public address ({', '.join(blocked)})")
