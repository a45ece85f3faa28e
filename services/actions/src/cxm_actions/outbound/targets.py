"""Where webhooks may go: https URLs whose host resolves only to public addresses, unless the operator allows more.

The internal services, the database and the cloud metadata endpoint listen on loopback, private and link-local
addresses; a subscription must not turn cxm into a proxy towards them (server-side request forgery).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
# NAT64 prefixes carry an IPv4 address in their last 32 bits: judge that address.
_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
_SHARED = IPv4Network("100.64.0.0/10")
# What a browser or libc would read as an IPv4 number: digits, hex digits, `x` and dots only.
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")
_DEFAULT_PORTS = {"https": 443, "http": 80}

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> addresses`: the system's resolver by default, a fake one in tests."""


class TargetRefused(ValueError):
    """A webhook URL or address that cxm will not call; the message says why."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The operator's choice: allow private addresses altogether, or only for some hosts."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allow_private: bool, allowed_hosts: Iterable[str]) -> TargetPolicy:
        """A policy from the settings, host names normalised."""
        return cls(allow_private, frozenset(normalise_host(h) for h in allowed_hosts if h.strip()))

    def trusts(self, host: str) -> bool:
        """Whether any address is fine for this host."""
        return self.allow_private or normalise_host(host) in self.allowed_hosts


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL that passed the checks, with its parts."""

    url: str
    scheme: str
    host: str
    port: int


def normalise_host(host: str) -> str:
    """A host name as compared: lower case, no trailing dot, no IPv6 brackets."""
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def parse_target(url: str, policy: TargetPolicy) -> Target:
    """Check a URL's form: https (http only with private targets allowed), no credentials, a plain host."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise TargetRefused("the URL contains spaces or control characters")
    if not url.isascii():
        raise TargetRefused("the URL must be ASCII: percent-encode the path and write the host in its xn-- form")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_private):
        raise TargetRefused("the URL must use https")
    if "@" in parts.netloc:
        raise TargetRefused("the URL must not carry credentials (user:password@); requests are signed instead")
    host = normalise_host(parts.hostname or "")
    if not host:
        raise TargetRefused("the URL has no host")
    if "%" in host:
        raise TargetRefused("the URL must not name an IPv6 zone")
    if _NUMERIC_HOST.match(host) and _is_ipv4_number(host) and not _is_dotted_quad(host):
        raise TargetRefused("write an IPv4 address in dotted-decimal form (a.b.c.d)")
    return Target(url=url, scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme])


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (`203.0.113.7`, `::1`), or None for a name to resolve."""
    try:
        return ipaddress.ip_address(normalise_host(host))
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host) and _is_ipv4_number(host):
        # `127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`: the resolver reads them as these numbers, so do we.
        return IPv4Address(socket.inet_aton(host))
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why an address is not a public one (`loopback`, `private`, …), or None when it is."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"{reason} (IPv4 {embedded} inside IPv6)" if reason else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (carrier-grade NAT)", isinstance(address, IPv4Address) and address in _SHARED),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolves a host to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def vetted_addresses(host: str, port: int, policy: TargetPolicy, resolve: Resolver) -> list[str] | None:
    """The addresses to connect to, all public; None when the policy trusts the host (connect by name)."""
    if policy.trusts(host):
        return None
    literal = literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"the host {host} does not resolve") from exc
        if not addresses:
            raise TargetRefused(f"the host {host} does not resolve")
    vetted = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise TargetRefused(f"the host {host} resolves to {text!r}, which is not an IP address") from exc
        reason = address_refusal(address)
        if reason is not None:
            kind = f"{'an' if reason[0] in 'aeiou' else 'a'} {reason} address"
            said = f"{address} is {kind}" if literal is not None else f"{host} resolves to {address}, {kind}"
            raise TargetRefused(
                f"{said}; webhooks go to public addresses only "
                "(an operator may allow this host with CXM_ACTIONS_OUTBOUND_ALLOWED_HOSTS)"
            )
        vetted.append(str(address))
    return vetted


async def check_target(url: str, policy: TargetPolicy, resolve: Resolver = system_resolver) -> Target:
    """A URL cxm may deliver to now: its form, then every address its host resolves to."""
    target = parse_target(url, policy)
    await vetted_addresses(target.host, target.port, policy, resolve)
    return target


def _is_ipv4_number(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _is_dotted_quad(host: str) -> bool:
    try:
        return str(IPv4Address(host)) == host
    except ValueError:
        return False


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None
