"""Crypto-shredding: per-customer data keys, wrapped by a master key kept outside the database.

Customer-linked free text and PII in a service's events are sealed with that customer's data key, in a
`_pii` section of the event data: `{"subject": "<customer uuid>", "fields": {"text": "enc:v1:…", …}}`.
Destroying the key (on erasure) makes every copy unreadable while the event store stays append-only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common import deadletters
from cxm_common.db import driver, lock_ids
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ConcurrencyError

PII = "_pii"
_PREFIX = "enc:v1:"


class MasterKeyError(ValueError):
    """The master key is missing or malformed."""


class MasterKey:
    """AES-256-GCM key that wraps the data keys; it never enters the database."""

    def __init__(self, encoded: str) -> None:
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise MasterKeyError("CXM_MASTER_KEY must be 32 bytes, base64-encoded") from exc
        if len(raw) != 32:
            raise MasterKeyError("CXM_MASTER_KEY must be 32 bytes, base64-encoded")
        self._aead = AESGCM(raw)
        self._raw = raw

    @staticmethod
    def generate() -> str:
        """A new master key, base64url-encoded."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    def derive(self, label: str) -> bytes:
        """A 32-byte key for another purpose (e.g. keyed digests), derived from the master key."""
        return hmac.new(self._raw, label.encode(), hashlib.sha256).digest()

    def wrap(self, data_key: bytes, subject: uuid.UUID) -> bytes:
        """Encrypt a data key for storage, bound to its subject."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, subject.bytes)

    def unwrap(self, wrapped: bytes, subject: uuid.UUID) -> bytes:
        """Decrypt a stored data key."""
        return self._aead.decrypt(wrapped[:12], wrapped[12:], subject.bytes)


def seal(data_key: bytes | AESGCM, value: Any, subject: uuid.UUID) -> str:
    """Encrypt any JSON value with a subject's data key (or a cipher made from it, to seal several values)."""
    aead = data_key if isinstance(data_key, AESGCM) else AESGCM(data_key)
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, orjson.dumps(value), subject.bytes)
    return _PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(data_key: bytes | AESGCM | None, token: Any, subject: uuid.UUID) -> Any:
    """Decrypt a sealed value; None when the key was destroyed or the value is not sealed."""
    if data_key is None or not isinstance(token, str) or not token.startswith(_PREFIX):
        return None
    aead = data_key if isinstance(data_key, AESGCM) else AESGCM(data_key)
    raw = base64.b64decode(token[len(_PREFIX) :])
    try:
        return orjson.loads(aead.decrypt(raw[:12], raw[12:], subject.bytes))
    except InvalidTag:
        return None


class KeyDestroyed(ConcurrencyError):
    """A subject's key was destroyed (the customer was erased) while the command ran: decide again."""


class KeyRing:
    """The data keys of one service, in its `crypto_keys` table."""

    def __init__(self, master: MasterKey, *, seal_cache_ttl_s: float = 60.0, seal_cache_size: int = 100_000) -> None:
        self.master = master
        # Keys used for sealing, kept briefly in memory: sealing with a key another replica has just destroyed only
        # makes that data unreadable at once, which is what erasure wants, so the cache never leaks anything.
        # Opening (reads) always asks the database.
        self._seal_cache: dict[uuid.UUID, tuple[bytes, float]] = {}
        self.seal_cache_ttl_s = seal_cache_ttl_s
        self.seal_cache_size = seal_cache_size

    async def keys(
        self, conn: AsyncConnection, tenant_id: uuid.UUID | None, subjects: Iterable[uuid.UUID], *, create: bool
    ) -> dict[uuid.UUID, bytes | None]:
        """Data keys by subject (None once destroyed); with `create`, missing ones are made."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        pg = await driver(conn)
        if create:
            if tenant_id is None:
                raise ValueError("creating data keys needs the tenant")
            # One round trip: rows inserted now come from `made`, existing ones from the table.
            fresh = [self.master.wrap(os.urandom(32), s) for s in wanted]
            rows = await pg.fetch(
                """
                WITH made AS (
                    INSERT INTO crypto_keys (subject_id, tenant_id, wrapped)
                    SELECT s, $2, w FROM unnest($1::uuid[], $3::bytea[]) AS t(s, w)
                    ON CONFLICT (subject_id) DO NOTHING
                    RETURNING subject_id, wrapped
                )
                SELECT subject_id, wrapped FROM made
                UNION ALL
                SELECT subject_id, wrapped FROM crypto_keys
                WHERE subject_id = ANY($1::uuid[]) AND subject_id NOT IN (SELECT subject_id FROM made)
                """,
                wanted, tenant_id, fresh,
            )  # fmt: skip
        else:
            rows = await pg.fetch(
                "SELECT subject_id, wrapped FROM crypto_keys WHERE subject_id = ANY($1::uuid[])", wanted
            )
        found: dict[uuid.UUID, bytes | None] = dict.fromkeys(wanted)
        for row in rows:
            subject, wrapped = row["subject_id"], row["wrapped"]
            found[subject] = self.master.unwrap(wrapped, subject) if wrapped else None
        return found

    async def destroy(self, conn: AsyncConnection, subject: uuid.UUID, tenant_id: uuid.UUID | None = None) -> None:
        """Destroy a subject's data key for good: everything sealed with it becomes unreadable.

        With the tenant, a subject that never had a key gets a destroyed one: sealing for it is refused from now
        on too (`KeyDestroyed`), so data about an erased customer still in flight cannot be stored readable, and
        the tenant's dead letters that mention the subject lose their payload (kept in the clear, as published).
        """
        self._seal_cache.pop(subject, None)
        await lock_ids(conn, [subject])
        pg = await driver(conn)
        if tenant_id is None:
            await pg.execute(
                "UPDATE crypto_keys SET wrapped = NULL, destroyed_at = now() WHERE subject_id = $1", subject
            )
            return
        await pg.execute(
            "INSERT INTO crypto_keys (subject_id, tenant_id, wrapped, destroyed_at) VALUES ($1, $2, NULL, now()) "
            "ON CONFLICT (subject_id) DO UPDATE SET wrapped = NULL, destroyed_at = now()",
            subject, tenant_id,
        )  # fmt: skip
        await deadletters.erase_about(conn, tenant_id, subject)

    async def erased(self, conn: AsyncConnection, subjects: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """The subjects whose key was destroyed: events about them must change nothing any more.

        A handler asking this and an erasure of the same customer, in concurrent transactions, are serialised (a
        shared lock here, an exclusive one in `destroy`): either the erasure sees and removes what the handler
        stored, or the handler sees the erasure. Without it, a row stored meanwhile would outlive the erasure.
        """
        wanted = sorted(set(subjects))
        if not wanted:
            return set()
        await lock_ids(conn, wanted, shared=True)
        rows = await (await driver(conn)).fetch(
            "SELECT subject_id FROM crypto_keys WHERE subject_id = ANY($1::uuid[]) AND wrapped IS NULL", wanted
        )
        return {row["subject_id"] for row in rows}

    async def seal_pii(
        self, conn: AsyncConnection, tenant_id: uuid.UUID, subject: uuid.UUID, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """The `_pii` section for event data: `fields` sealed with the subject's key (created if needed)."""
        [section] = await self.seal_many(conn, tenant_id, [(subject, fields)])
        return section

    async def seal_many(
        self, conn: AsyncConnection, tenant_id: uuid.UUID, items: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """`_pii` sections for many subjects at once (one round trip for all their keys, none when all are cached)."""
        now = time.monotonic()
        keys: dict[uuid.UUID, bytes | None] = {}
        missing = []
        for subject, _ in items:
            cached = self._seal_cache.get(subject)
            if cached is not None and cached[1] > now:
                keys[subject] = cached[0]
            else:
                missing.append(subject)
        if missing:
            fetched = await self.keys(conn, tenant_id, missing, create=True)
            keys.update(fetched)
            if len(self._seal_cache) + len(fetched) > self.seal_cache_size:
                self._seal_cache.clear()
            for subject, key in fetched.items():
                if key is not None:
                    self._seal_cache[subject] = (key, now + self.seal_cache_ttl_s)
        sections = []
        ciphers: dict[uuid.UUID, AESGCM] = {}
        for subject, fields in items:
            key = keys[subject]
            if key is None:
                raise KeyDestroyed([str(subject)])
            aead = ciphers.get(subject) or ciphers.setdefault(subject, AESGCM(key))
            sections.append({"subject": str(subject), "fields": {k: seal(aead, v, subject) for k, v in fields.items()}})
        return sections

    async def unseal_events(self, conn: AsyncConnection, events: Sequence[Envelope]) -> list[Envelope]:
        """Events with their `_pii` section opened into plain fields (None where the key was destroyed)."""
        subjects = {uuid.UUID(e.data[PII]["subject"]) for e in events if isinstance(e.data.get(PII), dict)}
        keys = await self.keys(conn, None, subjects, create=False)
        return [_opened(event, keys) for event in events]

    def open_events(self, events: Sequence[Envelope], wrapped: Sequence[bytes | None]) -> list[Envelope]:
        """Like `unseal_events`, with each event's wrapped data key already read (None: destroyed, or no PII)."""
        keys: dict[uuid.UUID, bytes | AESGCM | None] = {}
        for event, key in zip(events, wrapped, strict=True):
            section = event.data.get(PII)
            if isinstance(section, dict) and key is not None:
                subject = uuid.UUID(section["subject"])
                if subject not in keys:
                    keys[subject] = AESGCM(self.master.unwrap(key, subject))
        return [_opened(event, keys) for event in events]


def _opened(event: Envelope, keys: Mapping[uuid.UUID, bytes | AESGCM | None]) -> Envelope:
    section = event.data.get(PII)
    if not isinstance(section, dict):
        return event
    subject = uuid.UUID(section["subject"])
    data = {k: v for k, v in event.data.items() if k != PII}
    for name, token in section.get("fields", {}).items():
        data[name] = unseal(keys.get(subject), token, subject)
    return replace(event, data=data)
