"""The delivery client checks every connection as it opens it, so DNS cannot move a checked host inward."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpcore
import httpx
import pytest
from aiohttp import web

from cxm_actions.outbound.targets import TargetPolicy
from cxm_actions.outbound.transport import GuardedBackend, guarded_client
from cxm_common.embedded import free_port


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[str]]]:
    """A local HTTP server that records the paths it is asked for."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/moved":
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, seen
    finally:
        await runner.cleanup()


def resolving(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver that knows only `table`."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        return table[host]

    return resolve


async def test_a_loopback_target_is_refused_before_anything_is_sent(receiver: tuple[int, list[str]]) -> None:
    port, seen = receiver
    async with guarded_client(TargetPolicy(), timeout_s=5, max_connections=2) as client:
        with pytest.raises(httpx.ConnectError, match=r"target refused: 127\.0\.0\.1 is a loopback address"):
            await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
    assert seen == []


async def test_a_name_that_now_resolves_to_loopback_is_refused(receiver: tuple[int, list[str]]) -> None:
    port, seen = receiver
    resolve = resolving({"hooks.example.com": ["127.0.0.1"]})
    async with guarded_client(TargetPolicy(), resolve, timeout_s=5, max_connections=2) as client:
        with pytest.raises(httpx.ConnectError, match=r"example\.com resolves to 127\.0\.0\.1, a loopback"):
            await client.post(f"http://hooks.example.com:{port}/hook", content=b"{}")
    assert seen == []


async def test_the_address_vetted_is_the_one_connected_to() -> None:
    asked: list[tuple[str, int]] = []

    class Recording(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            asked.append((host, port))
            raise httpcore.ConnectError("not really connecting")

    resolve = resolving({"hooks.example.com": ["93.184.215.14"]})
    backend = GuardedBackend(TargetPolicy(), resolve, inner=Recording())
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("hooks.example.com", 443)
    assert asked == [("93.184.215.14", 443)]


async def test_an_allowed_host_is_reached_by_name(receiver: tuple[int, list[str]]) -> None:
    port, seen = receiver
    async with guarded_client(TargetPolicy.of(False, ["localhost"]), timeout_s=5, max_connections=2) as client:
        response = await client.post(f"http://localhost:{port}/allowed", content=b"{}")
    assert response.status_code == 200 and seen == ["/allowed"]


async def test_private_targets_are_reached_when_the_operator_allows_them(receiver: tuple[int, list[str]]) -> None:
    port, seen = receiver
    async with guarded_client(TargetPolicy(allow_private=True), timeout_s=5, max_connections=2) as client:
        response = await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
    assert response.status_code == 200 and seen == ["/hook"]


async def test_redirects_are_not_followed(receiver: tuple[int, list[str]]) -> None:
    port, seen = receiver
    async with guarded_client(TargetPolicy(allow_private=True), timeout_s=5, max_connections=2) as client:
        response = await client.post(f"http://127.0.0.1:{port}/moved", content=b"{}")
    assert response.status_code == 302 and seen == ["/moved"]


async def test_proxy_variables_are_ignored(receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    port, seen = receiver
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    async with guarded_client(TargetPolicy(allow_private=True), timeout_s=5, max_connections=2) as client:
        response = await client.post(f"http://127.0.0.1:{port}/direct", content=b"{}")
    assert response.status_code == 200 and seen == ["/direct"]
