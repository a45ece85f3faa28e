"""Authenticating API keys: look up by prefix, compare SHA-256 in constant time, cache for a few seconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cxm_common.auth import Principal
from cxm_gateway.domain.keys import matches, parse_lookup
from cxm_gateway.queries import KeyRecord


@dataclass(frozen=True, slots=True)
class _Cached:
    record: KeyRecord | None
    fetched: float


class KeyCache:
    """Keys by lookup id, each trusted for `ttl_s`: a revoked key stops working within that time on every replica."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[KeyRecord | None]],
        ttl_s: float = 5.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, _Cached] = {}

    async def authenticate(self, token: str) -> Principal | None:
        """Return the principal of a valid, unrevoked key, else None."""
        lookup = parse_lookup(token)
        if lookup is None:
            return None
        now = self.clock()
        cached = self._entries.get(lookup)
        if cached is None or now - cached.fetched > self.ttl_s:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            cached = _Cached(await self.fetch(lookup), now)
            self._entries[lookup] = cached
        record = cached.record
        if record is None or record.revoked_at is not None or not matches(token, record.digest):
            return None
        return Principal(tenant_id=record.tenant_id, scopes=frozenset(record.scopes), key_id=str(record.id))

    def forget(self, lookup: str) -> None:
        """Drop a key from this replica's cache (after revoking it here)."""
        self._entries.pop(lookup, None)
