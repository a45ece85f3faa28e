"""Learning from people: retrain a tenant's model when it has new labels, and keep it for the analyzer."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.crypto import KeyRing
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.models_store import ModelStore
from cxm_insight.nlp.learning import FORMAT as MODEL_FORMAT
from cxm_insight.nlp.learning import LabelExample, train_tenant_model
from cxm_insight.projections import INSIGHT_READ_MODELS
from cxm_insight.queries import open_sections

log = logging.getLogger(__name__)


class Trainer:
    """Retrains tenants' models from their labels."""

    def __init__(self, engine: AsyncEngine, keyring: KeyRing, models: ModelStore, *, min_labels: int = 20) -> None:
        self.engine = engine
        self.keyring = keyring
        self.models = models
        self.min_labels = min_labels

    async def stale_tenants(self) -> list[uuid.UUID]:
        """Tenants with enough labels and either more of them than their model saw or a model of an older format."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT l.tenant_id FROM labels l LEFT JOIN tenant_models m ON m.tenant_id = l.tenant_id "
                "GROUP BY l.tenant_id, m.labels, m.report->>'format' HAVING count(*) >= $1 "
                "AND (count(*) <> coalesce(m.labels, 0) OR coalesce(m.report->>'format', '1') <> $2)",
                self.min_labels, str(MODEL_FORMAT),
            )  # fmt: skip
            return [r["tenant_id"] for r in rows]

    async def train(self, tenant: uuid.UUID) -> int | None:
        """Retrain one tenant's model from all its labels; return the new version (None if another replica is)."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"train:{tenant}"):
                return None
            rows = await pg.fetch(
                "SELECT sentiment, topics, pii::text AS pii FROM labels WHERE tenant_id = $1 ORDER BY created_at, id",
                tenant,
            )
            opened = await open_sections(conn, self.keyring, [r["pii"] for r in rows])
            examples = [
                LabelExample(text=o["text"], sentiment=r["sentiment"], topics=tuple(r["topics"]))
                for r, o in zip(rows, opened, strict=True)
                if o.get("text")
            ]
            analyzer = await self.models.analyzer()
            started = datetime.now(UTC)
            model = await asyncio.to_thread(train_tenant_model, analyzer, examples)
            version = int(
                await pg.fetchval(
                    "SELECT coalesce(max(version), 0) + 1 FROM tenant_models WHERE tenant_id = $1", tenant
                )
            )
            report: dict[str, Any] = {
                "format": MODEL_FORMAT,
                "labels": len(rows),
                "usable": len(examples),
                "sentiment_labels": sum(1 for e in examples if e.sentiment),
                "topic_labels": sum(1 for e in examples if e.topics),
                "seconds": round((datetime.now(UTC) - started).total_seconds(), 3),
            }
            await pg.execute(
                "INSERT INTO tenant_models (tenant_id, version, labels, trained_at, model, report) "
                "VALUES ($1, $2, $3, now(), $4, $5::jsonb) ON CONFLICT (tenant_id) DO UPDATE SET "
                "version = excluded.version, labels = excluded.labels, trained_at = excluded.trained_at, "
                "model = excluded.model, report = excluded.report",
                tenant, version, len(rows), model.to_bytes(), orjson.dumps(report).decode(),
            )  # fmt: skip
            event = Envelope(
                type=c.MODEL_TRAINED, source=c.SOURCE, subject=f"model-{tenant}", tenant_id=tenant,
                data={"version": version, "labels": len(rows), "report": report},
            )  # fmt: skip
            stored = await append_many(conn, [PendingAppend(f"model-{tenant}", [event], ANY_VERSION)])
            await project(conn, [INSIGHT_READ_MODELS], stored)
            log.info("tenant %s: model v%d trained on %d labels", tenant, version, len(examples))
            return version

    async def round(self) -> int:
        """Retrain every stale tenant; return how many were retrained."""
        trained = 0
        for tenant in await self.stale_tenants():
            if await self.train(tenant) is not None:
                trained += 1
        return trained
