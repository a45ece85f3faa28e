"""Key authentication: a revoked key stops working within the cache's TTL."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from cxm_gateway.authn import KeyCache
from cxm_gateway.domain.keys import generate_key
from cxm_gateway.queries import KeyRecord


async def test_a_revocation_elsewhere_is_honoured_once_the_ttl_passes() -> None:
    key = generate_key()
    tenant = uuid.uuid4()
    record = KeyRecord(uuid.uuid4(), tenant, "k", key.lookup, key.digest, ("admin",), datetime.now(UTC), None)
    store = {key.lookup: record}
    now = [0.0]
    fetches = []

    async def fetch(lookup: str) -> KeyRecord | None:
        fetches.append(lookup)
        return store.get(lookup)

    cache = KeyCache(fetch, ttl_s=5, clock=lambda: now[0])
    principal = await cache.authenticate(key.token)
    assert principal is not None and principal.tenant_id == tenant
    store[key.lookup] = replace(record, revoked_at=datetime.now(UTC))
    now[0] = 4.9
    assert await cache.authenticate(key.token) is not None
    now[0] = 5.1
    assert await cache.authenticate(key.token) is None
    assert len(fetches) == 2


async def test_a_wrong_secret_with_a_real_prefix_is_refused() -> None:
    key = generate_key()
    record = KeyRecord(uuid.uuid4(), uuid.uuid4(), "k", key.lookup, key.digest, ("admin",), datetime.now(UTC), None)

    async def fetch(lookup: str) -> KeyRecord | None:
        return record

    forged = key.token[:-4] + "AAAA"
    assert await KeyCache(fetch).authenticate(forged) is None
