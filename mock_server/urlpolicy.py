"""Which URLs the fake may call: one policy for callback URLs and (later) input image URLs.

The documented rule: HTTPS only, and never internal addresses (127.0.0.1, 10.x, 172.16-31.x,
192.168.x, ...). Hosts are classified as written (including legacy IPv4 encodings such as
``2130706433``, ``0x7f.1`` or ``017700000001``, and IPv4-mapped IPv6) and, for names, as they
resolve. ``allow_private`` is the named local-development relaxation: it admits loopback and
private hosts, and plain http for them only. Link-local, multicast, unspecified and reserved
addresses stay refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_EMBEDDING = (
    _NAT64,
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.ip_network("::ffff:0:0:0/96"),  # SIIT IPv4-translated (RFC 6145)
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated); :: and ::1 are judged as such
)
"""IPv6 ranges whose last 32 bits are an IPv4 address a translator or tunnel may deliver to: an
address there is judged by the IPv4 address it carries."""
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class AddressClass(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"


RELAXABLE = frozenset({AddressClass.LOOPBACK, AddressClass.PRIVATE})


class UrlRefused(Exception):
    """The URL may not be called; the message says why, in a user's words."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int


def split(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = _as_resolved(parts.hostname or "")
    if not host:
        raise UrlRefused("has no host")
    if port is None:
        port = 443 if scheme == "https" else 80
    return Target(scheme, host, port)


def _as_resolved(host: str) -> str:
    """The host as a URL parser or a resolver reads it: percent-decoded, compatibility forms
    folded (NFKC: fullwidth digits and dots), ideographic full stops as dots, no trailing dot.
    So ``%31%32%37.0.0.1`` or ``１２７。０。０。１`` are judged as the 127.0.0.1 they can become."""
    folded = unicodedata.normalize("NFKC", unquote(host)).replace("\u3002", ".")
    return folded.rstrip(".")


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver would accept; else None."""
    candidate = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if candidate and all(c in "0123456789abcdefxABCDEFX." for c in candidate):
        try:  # inet_aton accepts the legacy forms: 2130706433, 0x7f.1, 0177.0.0.1, 127.1
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def classify(ip: IPAddress) -> AddressClass:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and int(ip) > 1 and any(ip in net for net in _EMBEDDING):  # not :: or ::1
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return classify(embedded)
        if ip.is_site_local:  # fec0::/10, the deprecated private range
            return AddressClass.PRIVATE
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return AddressClass.UNSPECIFIED
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if ip.is_link_local:
        return AddressClass.LINK_LOCAL
    if ip.is_multicast:
        return AddressClass.MULTICAST
    if ip.is_global:
        return AddressClass.PUBLIC
    if ip.is_private and not ip.is_reserved:
        return AddressClass.PRIVATE
    return AddressClass.RESERVED


def classify_name(host: str) -> AddressClass | None:
    """Names that are internal by definition (RFC 6761), without asking DNS."""
    lowered = host.lower()
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return AddressClass.LOOPBACK
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT
    )
    return [str(info[4][0]) for info in infos]


RESOLVE_TIMEOUT = 2.0
"""Wall seconds the submit-time DNS check waits before giving up (a name that does not resolve
is accepted at submit; delivery will fail and be logged)."""


class UrlPolicy:
    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver

    def check_address(self, host: str, cls: AddressClass) -> None:
        if cls is AddressClass.PUBLIC:
            return
        if cls in RELAXABLE and self.allow_private:
            return
        hint = (
            " (start the fake with --allow-private-urls for local development)" if (cls in RELAXABLE) else ""
        )
        raise UrlRefused(f"host {host} is a {cls.value} address; internal addresses are forbidden{hint}")

    async def classes_of(self, target: Target) -> list[tuple[str, AddressClass]]:
        ip = literal_ip(target.host)
        if ip is not None:
            return [(target.host, classify(ip))]
        by_name = classify_name(target.host)
        if by_name is not None:
            return [(target.host, by_name)]
        try:
            addresses = await self.resolver(target.host, target.port)
        except (OSError, TimeoutError, UnicodeError):
            return []
        return [
            (f"{target.host} ({a})", classify(ipaddress.ip_address(a.split("%", 1)[0]))) for a in addresses
        ]

    async def check_callback_url(self, url: str) -> None:
        """Raise UrlRefused unless ``url`` is an acceptable callback address at submit time."""
        target = split(url)
        classes = await self.classes_of(target)
        for host, cls in classes:
            self.check_address(host, cls)
        if target.scheme == "https":
            return
        relaxed = self.allow_private and classes and all(c in RELAXABLE for _, c in classes)
        if target.scheme == "http" and relaxed:
            return
        raise UrlRefused(
            "must use https:// (callbacks are HTTPS only; plain http is accepted only for "
            "loopback or private hosts with --allow-private-urls)"
        )
