"""The HTTP client of the deliveries: every connection is checked against the target policy as it is opened.

Checking a URL once and letting the client resolve the host again would leave a window for DNS rebinding: the
guard resolves the host itself, refuses private addresses, and connects to the address it vetted (TLS still
verifies the certificate against the host name).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from cxm_actions.outbound.targets import Resolver, TargetPolicy, TargetRefused, system_resolver, vetted_addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses the target policy allows."""

    def __init__(
        self,
        policy: TargetPolicy,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a connection to a vetted address of `host`."""
        try:
            addresses = await vetted_addresses(host, port, self.policy, self.resolve)
        except TargetRefused as exc:
            raise httpcore.ConnectError(f"target refused: {exc}") from exc
        if addresses is None:
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a webhook goes over TCP."""
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        await self.inner.sleep(seconds)


def guarded_client(
    policy: TargetPolicy, resolve: Resolver = system_resolver, *, timeout_s: float, max_connections: int
) -> httpx.AsyncClient:
    """An httpx client that follows no redirect, ignores proxy variables and connects through the guard."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    # httpx has no public setting for the network backend: give its transport a pool built with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy, resolve),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False
    )
