"""SSRF guard for partner-supplied URLs: resolve the host and refuse it if any address is not
public (loopback, private, link-local, CGNAT, multicast, reserved, IPv4-mapped forms of
those). Checked when a URL is registered and again before every delivery (DNS can change).

Where private targets are refused, the delivery client also pins every connection to an
address checked at connect time (`httpx-secure`), so a DNS answer that changes between the
check and the connection (rebinding) cannot reach inside either."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
from httpx_secure import SSRFProtectionError, httpx_ssrf_protection

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeTarget(ValueError):
    """The URL may not be called."""


__all__ = ["SSRFProtectionError", "UnsafeTarget", "check_target", "delivery_client", "resolve"]


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped (::ffff:), translated (64:ff9b::/96),
    6to4 (2002::/16), Teredo, or the deprecated compatible form (::a.b.c.d)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_v4(ip)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
    return ip.is_global and not ip.is_multicast


async def check_target(
    url: str, *, allow_private: bool, require_https: bool, resolver: Resolver = resolve
) -> None:
    """Raise UnsafeTarget unless `url` is an http(s) URL whose every address is public."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeTarget("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        hostname = parts.hostname
    except ValueError as exc:  # a port out of range, a stray "["
        raise UnsafeTarget(f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("must be an http or https URL")
    if require_https and parts.scheme != "https":
        raise UnsafeTarget("must be an https URL")
    if not hostname:
        raise UnsafeTarget("has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("must not carry credentials")
    if allow_private:
        return
    try:
        addresses = await resolver(hostname, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"host does not resolve: {exc}") from exc
    if not addresses:
        raise UnsafeTarget("host does not resolve")
    blocked = [a for a in addresses if not _public(a)]
    if blocked:
        raise UnsafeTarget(f"resolves to a non-public address ({', '.join(blocked)})")


def delivery_client(
    *, timeout_s: float, max_connections: int, allow_private: bool
) -> httpx.AsyncClient:
    """The HTTP client for webhook deliveries: no redirects, no proxies from the environment,
    and, unless private targets are allowed, connections pinned to public addresses."""
    client = httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections),
    )
    if not allow_private:
        httpx_ssrf_protection(
            client, custom_validator=lambda _host, ip, _port: _public(str(ip)), dns_cache_ttl=60
        )
    return client
