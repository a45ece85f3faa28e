"""Group commit: single records that concurrent requests of one tenant send are stored in one transaction.

A request's record is checked on its own first, then waits for a flush: while a tenant has fewer than
`flushes_per_tenant` transactions in flight, one starts at once (so a lone request waits for nothing); the
records that arrive meanwhile go together into the next one. Every request is answered after the commit that
holds its record, with its own id, exactly as if it had been stored alone.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from cxm_common.db import is_transient_db_error
from cxm_common.observability import current_traceparent
from cxm_ingest.domain.records import Record, check_record
from cxm_ingest.handlers import Ingest


class Overloaded(Exception):
    """More records wait for a flush than this process keeps: the request should be retried shortly."""


@dataclass(slots=True)
class _Waiting:
    record: Record
    traceparent: str | None
    answer: asyncio.Future[tuple[uuid.UUID, bool]]


class GroupCommit:
    """Stores one record per call, coalescing concurrent calls of a tenant into shared transactions."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        on_commit: Any = None,
        max_batch: int = 200,
        flushes_per_tenant: int = 2,
        max_waiting: int = 5_000,
    ) -> None:
        self.ingest = ingest
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.flushes_per_tenant = flushes_per_tenant
        self.max_waiting = max_waiting
        self._waiting: dict[uuid.UUID, list[_Waiting]] = {}
        self._flushing: dict[uuid.UUID, int] = {}
        self._count = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, tenant: uuid.UUID, record: Record) -> tuple[uuid.UUID, bool]:
        """Store `record` for `tenant`; return its id and whether it was a duplicate (InvalidRecord when bad)."""
        check_record(record)  # a bad record is refused before it can share a transaction with good ones
        if self._count >= self.max_waiting:
            raise Overloaded
        waiting = _Waiting(record, current_traceparent(), asyncio.get_running_loop().create_future())
        self._waiting.setdefault(tenant, []).append(waiting)
        self._count += 1
        if self._flushing.get(tenant, 0) < self.flushes_per_tenant:
            self._flushing[tenant] = self._flushing.get(tenant, 0) + 1
            task = asyncio.create_task(self._drain(tenant))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await waiting.answer

    async def _drain(self, tenant: uuid.UUID) -> None:
        try:
            while queue := self._waiting.get(tenant):
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                self._count -= len(batch)
                await self._flush(tenant, batch)
        finally:
            # No await between the empty queue above and this: a record arriving now starts a new drain.
            self._flushing[tenant] -= 1
            if not self._flushing[tenant]:
                del self._flushing[tenant]
                self._waiting.pop(tenant, None)

    async def _flush(self, tenant: uuid.UUID, batch: list[_Waiting]) -> None:
        try:
            result = await self.ingest.store(
                tenant, [w.record for w in batch], traceparents=[w.traceparent for w in batch]
            )
        except Exception as exc:
            if len(batch) == 1 or is_transient_db_error(exc):
                for w in batch:
                    if not w.answer.done():
                        w.answer.set_exception(exc)
                return
            # Whatever failed the group may concern one record only: each is stored alone, to fail on its own.
            for w in batch:
                await self._flush(tenant, [w])
            return
        if self.on_commit is not None:
            self.on_commit()
        for w, record_id, duplicate in zip(batch, result.ids, result.duplicate, strict=True):
            if not w.answer.done():  # the caller may have gone; its record is stored all the same
                assert record_id is not None
                w.answer.set_result((record_id, duplicate))
