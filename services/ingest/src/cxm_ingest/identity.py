"""Resolving every source's customer keys to one internal customer per tenant, merging when keys meet."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ConcurrencyError
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_ingest import contracts as c
from cxm_ingest.domain.identity import TENANT_KEY, digest
from cxm_ingest.domain.records import CustomerRef

PII_FIELDS = ("email", "name", "phone")
# Keys of erased customers are ignored (a write racing an erasure may have left one behind): such a key names a
# new customer, who takes the key over (see the projection's key upsert).
_KNOWN_SQL = """
    SELECT k.digest, k.customer_id FROM customer_keys k JOIN customers c ON c.id = k.customer_id
    WHERE k.tenant_id = $1 AND k.digest = ANY($2::text[]) AND c.erased_at IS NULL
"""


@dataclass
class Resolution:
    """The customer of each reference, and the customer events the resolution produced."""

    customers: list[uuid.UUID | None]
    events: list[Envelope] = field(default_factory=list)


def _event(type_: str, tenant: uuid.UUID, customer: uuid.UUID, data: dict[str, Any]) -> Envelope:
    return Envelope(
        type=type_, source=c.SOURCE, subject=str(customer), tenant_id=tenant, data=data,
        traceparent=current_traceparent(),
    )  # fmt: skip


class IdentityResolver:
    """Turns `CustomerRef`s into internal customer ids within one transaction."""

    def __init__(self, secret: bytes, keyring: KeyRing) -> None:
        self.secret = secret
        self.keyring = keyring

    def digests(self, tenant: uuid.UUID, ref: CustomerRef) -> dict[str, str]:
        """Digest → kind for every key of a reference (email and phone PII count as keys too)."""
        keys = dict(ref.keys)
        found = {digest(self.secret, tenant, kind, value): kind for kind, value in ref.keys if value}
        if ref.email and "email" not in keys:
            found[digest(self.secret, tenant, "email", ref.email)] = "email"
        if ref.phone and "phone" not in keys:
            found[digest(self.secret, tenant, "phone", ref.phone)] = "phone"
        return found

    async def lookup(self, conn: AsyncConnection, tenant: uuid.UUID, key: str) -> uuid.UUID | None:
        """The customer a tenant's own key (its id, an email or a phone) names, if any."""
        from cxm_ingest.domain.identity import candidate_kinds

        digests = [digest(self.secret, tenant, kind, key) for kind in candidate_kinds(key)]
        rows = await (await driver(conn)).fetch(_KNOWN_SQL, tenant, digests)
        by_digest = {r["digest"]: r["customer_id"] for r in rows}
        for d in digests:  # the tenant's own id first, then email, then phone
            if d in by_digest:
                return by_digest[d]  # type: ignore[no-any-return]
        return None

    async def resolve(
        self, conn: AsyncConnection, tenant: uuid.UUID, refs: Sequence[CustomerRef | None], *, create: bool = True
    ) -> Resolution:
        """Resolve references in order; new customers and new keys become `customer.updated` events."""
        wanted = [self.digests(tenant, ref) if ref else {} for ref in refs]
        all_digests = sorted({d for w in wanted for d in w})
        known: dict[str, uuid.UUID] = {}
        if all_digests:
            rows = await (await driver(conn)).fetch(_KNOWN_SQL, tenant, all_digests)
            known = {r["digest"]: r["customer_id"] for r in rows}
        resolution = Resolution(customers=[])
        to_seal: list[tuple[dict[str, Any], uuid.UUID, dict[str, Any]]] = []
        for ref, digests in zip(refs, wanted, strict=True):
            if ref is None or not digests:
                resolution.customers.append(None)
                continue
            owners = sorted({known[d] for d in digests if d in known})
            if not owners and not create:
                resolution.customers.append(None)
                continue
            customer = owners[0] if owners else uuid7()
            if len(owners) > 1:
                # The reference joins customers we had kept apart: the oldest survives, the others merge into it.
                merged = owners[1:]
                resolution.events.append(
                    _event(c.CUSTOMER_MERGED, tenant, customer, {"customer_id": str(customer),
                                                                  "merged_ids": [str(m) for m in merged]})
                )  # fmt: skip
                for d, owner in list(known.items()):
                    if owner in merged:
                        known[d] = customer
            new_keys = [{"kind": kind, "digest": d} for d, kind in digests.items() if d not in known]
            pii = {name: getattr(ref, name) for name in PII_FIELDS if getattr(ref, name)}
            own_key = dict(ref.keys).get(TENANT_KEY)
            if own_key:
                pii["key"] = own_key
            if new_keys or not owners:
                data: dict[str, Any] = {"customer_id": str(customer), "keys_added": new_keys, "attributes": {}}
                if pii:
                    to_seal.append((data, customer, pii))
                resolution.events.append(_event(c.CUSTOMER_UPDATED, tenant, customer, data))
            for key in new_keys:
                known[key["digest"]] = customer
            resolution.customers.append(customer)
        if to_seal:
            sections = await self.keyring.seal_many(conn, tenant, [(subject, pii) for _, subject, pii in to_seal])
            for (data, _, _), section in zip(to_seal, sections, strict=True):
                data["_pii"] = section  # the events hold `data` by reference
        return resolution


async def claim_keys(conn: AsyncConnection, tenant: uuid.UUID, events: Sequence[Envelope]) -> None:
    """Fail the command (to be retried) if a concurrent one registered one of these new keys first."""
    keys = [(k["digest"], e.data["customer_id"]) for e in events if e.type == c.CUSTOMER_UPDATED
            for k in e.data.get("keys_added") or []]  # fmt: skip
    if not keys:
        return
    rows = await (await driver(conn)).fetch(
        "SELECT digest, customer_id::text AS customer FROM customer_keys "
        "WHERE tenant_id = $1 AND digest = ANY($2::text[])",
        tenant, [d for d, _ in keys],
    )  # fmt: skip
    mine = dict(keys)
    if any(mine[r["digest"]] != r["customer"] for r in rows):
        raise ConcurrencyError([str(e.subject) for e in events])
