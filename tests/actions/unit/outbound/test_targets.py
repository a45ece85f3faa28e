"""The target guard: https on public addresses only, whatever form the address takes, unless the operator allows it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from cxm_actions.outbound.targets import (
    MAX_URL_LENGTH,
    TargetPolicy,
    TargetRefused,
    address_refusal,
    check_target,
    literal_address,
    parse_target,
)

STRICT = TargetPolicy()
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:4700:4700::1111"


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver that knows only `table` (no real DNS in unit tests)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host not in table:
            raise OSError(f"{host} not found")
        return table[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.1.2", "loopback"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        ("::ffff:10.1.2.3", "private (IPv4 10.1.2.3 inside IPv6)"),
        ("::ffff:169.254.169.254", "link-local (IPv4 169.254.169.254 inside IPv6)"),
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),
    ],
)
def test_addresses_that_are_not_public_are_refused_with_their_kind(address: str, reason: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", [PUBLIC_V4, "8.8.8.8", PUBLIC_V6, "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
     ("0177.0.0.1", "127.0.0.1"), ("012.1", "10.0.0.1"), ("3232235777", "192.168.1.1"), ("::1", "::1")],
)  # fmt: skip
def test_numeric_hosts_are_read_as_the_resolver_would(host: str, address: str) -> None:
    assert str(literal_address(host)) == address


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0x7f.1", "127.1", "0177.0.0.1", "0x08.0x08.0x08.0x08"])
def test_an_ipv4_address_not_in_dotted_decimal_form_is_refused(host: str) -> None:
    with pytest.raises(TargetRefused, match="dotted-decimal"):
        parse_target(f"https://{host}/hook", STRICT)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4:8443/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/",
        "https://[::1]/hook",
        "https://[fc00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:7f00:1]/hook",
    ],
)
async def test_literal_private_targets_are_refused_without_asking_dns(url: str) -> None:
    resolve = resolver({})
    with pytest.raises(TargetRefused, match="address; webhooks go to public addresses only"):
        await check_target(url, STRICT, resolve)
    assert resolve.asked == []  # type: ignore[attr-defined]


async def test_a_host_that_resolves_to_a_private_address_is_refused() -> None:
    resolve = resolver({"intranet.example.com": ["10.1.2.3"]})
    with pytest.raises(TargetRefused, match=r"intranet\.example\.com resolves to 10\.1\.2\.3, a private address"):
        await check_target("https://intranet.example.com/hook", STRICT, resolve)


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    resolve = resolver({"mixed.example.com": [PUBLIC_V4, "127.0.0.1"]})
    with pytest.raises(TargetRefused, match="loopback"):
        await check_target("https://mixed.example.com/hook", STRICT, resolve)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("https://nowhere.example.com/hook", STRICT, resolver({}))


async def test_a_public_host_passes() -> None:
    resolve = resolver({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6]})
    target = await check_target("https://hooks.example.com:8443/cxm?x=1", STRICT, resolve)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert target.url == "https://hooks.example.com:8443/cxm?x=1"


async def test_a_public_literal_address_passes() -> None:
    target = await check_target(f"https://{PUBLIC_V4}/hook", STRICT, resolver({}))
    assert target.port == 443


async def test_an_allowed_host_may_resolve_to_a_private_address_and_is_not_resolved() -> None:
    resolve = resolver({})
    policy = TargetPolicy.of(False, ["Helpdesk.Internal."])
    target = await check_target("https://helpdesk.internal/hook", policy, resolve)
    assert target.host == "helpdesk.internal"
    assert resolve.asked == []  # type: ignore[attr-defined]
    with pytest.raises(TargetRefused):
        await check_target("https://other.internal/hook", policy, resolver({"other.internal": ["10.0.0.2"]}))


async def test_private_targets_pass_when_the_operator_allows_them() -> None:
    policy = TargetPolicy(allow_private=True)
    target = await check_target("http://127.0.0.1:8080/hook", policy, resolver({}))
    assert (target.scheme, target.port) == ("http", 8080)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/hook", "must use https"),
        ("ftp://hooks.example.com/hook", "must use https"),
        ("hooks.example.com/hook", "must use https"),
        ("https://user:pass@hooks.example.com/hook", "credentials"),
        ("https://token@hooks.example.com/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://hooks.example.com:99999/hook", "malformed"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://bücher.example/hook", "xn-- form"),
        ("https://[fe80::1%25eth0]/hook", "IPv6 zone"),
        ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, f"longer than {MAX_URL_LENGTH}"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused_with_a_clear_reason(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        parse_target(url, STRICT)


def test_http_is_allowed_only_with_private_targets() -> None:
    assert parse_target("http://localhost:9000/x", TargetPolicy(allow_private=True)).scheme == "http"
    with pytest.raises(TargetRefused):
        parse_target("http://localhost:9000/x", TargetPolicy.of(False, ["localhost"]))
