"""Where a process finds the analyzer, each tenant's taxonomy and learned model, and customers' attributes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.db import driver
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.learning import TenantModel
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, Taxonomy, parse_taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaxonomyVersion:
    """A tenant's current taxonomy (the default one until the tenant defines its own)."""

    version: int
    taxonomy: Taxonomy


@dataclass(frozen=True, slots=True)
class TenantModelVersion:
    """A tenant's learned model, if it has labelled enough feedback."""

    version: str | None
    model: TenantModel | None


class ModelStore:
    """Loads the analyzer once per process and caches tenants' taxonomies and models by version."""

    def __init__(self, *, threads: int = 1, max_tokens: int = 256) -> None:
        self.threads = threads
        self.max_tokens = max_tokens
        self._analyzer: Analyzer | None = None
        self._lock = asyncio.Lock()
        self._taxonomies: dict[tuple[uuid.UUID, int], Taxonomy] = {}
        self._models: dict[tuple[uuid.UUID, int], TenantModel] = {}

    async def analyzer(self) -> Analyzer:
        """The process's analyzer, loaded on first use (about a second) off the event loop."""
        if self._analyzer is None:
            async with self._lock:
                if self._analyzer is None:
                    self._analyzer = await asyncio.to_thread(Analyzer.load, threads=self.threads)
        return self._analyzer

    async def taxonomy(self, conn: AsyncConnection, tenant: uuid.UUID) -> TaxonomyVersion:
        """The tenant's current taxonomy."""
        row = await (await driver(conn)).fetchrow(
            "SELECT version, definition::text AS definition FROM taxonomies WHERE tenant_id = $1 "
            "ORDER BY version DESC LIMIT 1",
            tenant,
        )
        if row is None:
            return TaxonomyVersion(DEFAULT_TAXONOMY.version, DEFAULT_TAXONOMY)
        key = (tenant, row["version"])
        cached = self._taxonomies.get(key)
        if cached is None:
            cached = parse_taxonomy(orjson.loads(row["definition"]), row["version"])
            self._taxonomies[key] = cached
        return TaxonomyVersion(row["version"], cached)

    async def tenant_model(self, conn: AsyncConnection, tenant: uuid.UUID) -> TenantModelVersion:
        """The tenant's learned model, or none."""
        pg = await driver(conn)
        version = await pg.fetchval("SELECT version FROM tenant_models WHERE tenant_id = $1", tenant)
        if version is None:
            return TenantModelVersion(None, None)
        key = (tenant, version)
        model = self._models.get(key)
        if model is None:
            data = await pg.fetchval(
                "SELECT model FROM tenant_models WHERE tenant_id = $1 AND version = $2", tenant, version
            )
            if data is None:
                return TenantModelVersion(None, None)
            try:
                model = TenantModel.from_bytes(bytes(data))
            except ValueError as exc:
                # A model of an older format: the default model serves until the trainer replaces it.
                log.warning(
                    "tenant %s: stored model v%s unreadable (%s); default model meanwhile", tenant, version, exc
                )
                return TenantModelVersion(None, None)
            self._models = {k: v for k, v in self._models.items() if k[0] != tenant}
            self._models[key] = model
        return TenantModelVersion(f"{tenant}:{version}", model)

    async def attributes(
        self, conn: AsyncConnection, tenant: uuid.UUID, customers: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """Customers' attributes as ingest last published them."""
        if not customers:
            return {}
        rows = await (await driver(conn)).fetch(
            "SELECT id, attributes::text AS attributes FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
            tenant, list(set(customers)),
        )  # fmt: skip
        return {r["id"]: orjson.loads(r["attributes"]) for r in rows}
