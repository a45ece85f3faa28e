"""Theme discovery: cluster recent negative feedback that fits no topic and propose each cluster as a theme."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.crypto import KeyRing
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many
from cxm_common.ids import deterministic_uuid
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.analysis import vector_of
from cxm_insight.domain.themes import discover_themes
from cxm_insight.projections import INSIGHT_READ_MODELS
from cxm_insight.queries import open_sections

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("9d7a3c55-0f0e-4d7e-a1b9-5f2f7c1c2e41")
OVERLAP = 0.5
"""A cluster sharing this share of its members with a theme already proposed is that theme, not a new one."""


class Discovery:
    """Runs discovery rounds over every tenant with recent unmatched negative feedback."""

    def __init__(
        self, engine: AsyncEngine, keyring: KeyRing, *, lookback_days: int = 30, min_size: int = 15, limit: int = 3000
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.lookback = timedelta(days=lookback_days)
        self.min_size = min_size
        self.limit = limit

    async def tenants(self) -> list[uuid.UUID]:
        """Tenants with unmatched negative feedback in the lookback window."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT DISTINCT tenant_id FROM analyses WHERE sentiment_label = 'negative' AND topics = '{}' "
                "AND analyzed_at >= $1",
                datetime.now(UTC) - self.lookback,
            )
            return [r["tenant_id"] for r in rows]

    async def discover(self, tenant: uuid.UUID, *, until: datetime | None = None) -> int:
        """Discover themes for one tenant; return how many new ones were proposed."""
        until = until or datetime.now(UTC)
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"themes:{tenant}"):
                return 0
            rows = await pg.fetch(
                "SELECT a.feedback_id, a.pii::text AS pii, e.vector FROM analyses a "
                "JOIN embeddings e ON e.feedback_id = a.feedback_id "
                "WHERE a.tenant_id = $1 AND a.sentiment_label = 'negative' AND a.topics = '{}' "
                "AND a.occurred_at >= $2 AND a.occurred_at < $3 ORDER BY a.occurred_at DESC LIMIT $4",
                tenant, until - self.lookback, until, self.limit,
            )  # fmt: skip
            opened = await open_sections(conn, self.keyring, [r["pii"] for r in rows])
            kept = [(r, o["text"]) for r, o in zip(rows, opened, strict=True) if o.get("text")]
            if len(kept) < self.min_size:
                return 0
            ids = [r["feedback_id"] for r, _ in kept]
            texts = [t for _, t in kept]
            matrix = np.stack([vector_of(r["vector"]) for r, _ in kept])
            themes = await asyncio.to_thread(
                discover_themes, matrix, texts, [str(i) for i in ids], min_size=self.min_size
            )
            existing = await pg.fetch("SELECT feedback_ids FROM themes WHERE tenant_id = $1", tenant)
            known = [set(r["feedback_ids"]) for r in existing]
            events = []
            for theme in themes:
                members = [ids[i] for i in theme.member_indices]
                if any(len(k & set(members)) >= OVERLAP * len(members) for k in known):
                    continue
                similarity = matrix[theme.member_indices] @ theme.centroid
                order = np.argsort(-similarity)[:5]
                examples = [members[int(i)] for i in order]
                theme_id = deterministic_uuid(NAMESPACE, str(tenant), theme.key)
                data = {
                    "theme_id": str(theme_id), "key": theme.key, "size": theme.size, "top_terms": theme.top_terms,
                    "feedback_ids": [str(m) for m in members], "example_ids": [str(e) for e in examples],
                    "cohesion": round(float(theme.cohesion), 4),
                }  # fmt: skip
                events.append(
                    Envelope(
                        type=c.THEME_DISCOVERED, source=c.SOURCE, subject=str(theme_id), tenant_id=tenant, data=data
                    )
                )
                known.append(set(members))
            if not events:
                return 0
            stored = await append_many(conn, [PendingAppend(f"theme-{e.subject}", [e], 0) for e in events])
            await project(conn, [INSIGHT_READ_MODELS], stored)
            log.info("tenant %s: %d theme(s) discovered", tenant, len(events))
            return len(events)

    async def round(self) -> int:
        """Discover themes for every tenant that has material."""
        found = 0
        for tenant in await self.tenants():
            found += await self.discover(tenant)
        return found
