"""Analysing feedback: redact, run the models, seal the text, append `insight.feedback.analyzed` and project it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many
from cxm_common.observability import current_traceparent
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.models_store import ModelStore
from cxm_insight.nlp.analysis import AnalysisInput, TextAnalysis
from cxm_insight.nlp.redaction import redact
from cxm_insight.projections import INSIGHT_READ_MODELS

ATTRIBUTES = ("segment", "agent", "team", "value", "plan", "region")


@dataclass(frozen=True, slots=True)
class Feedback:
    """What insight needs of one feedback to analyse it (text still unredacted, in memory only)."""

    feedback_id: uuid.UUID
    customer_id: uuid.UUID | None
    channel: str
    source: str
    touchpoint: str | None
    occurred_at: datetime
    scores: dict[str, int | None]
    text: str | None

    @classmethod
    def from_event(cls, event: Envelope) -> Feedback:
        """Read an `ingest.feedback.received` event (its `_pii` already opened by ingest's relay)."""
        d = event.data
        text = d.get("text")
        scores = d.get("scores") or {}
        return cls(
            feedback_id=uuid.UUID(d["feedback_id"]),
            customer_id=uuid.UUID(d["customer_id"]) if d.get("customer_id") else None,
            channel=d["channel"],
            source=d["source"],
            touchpoint=d.get("touchpoint"),
            occurred_at=datetime.fromisoformat(d["occurred_at"]) if d.get("occurred_at") else event.time,
            scores={k: scores.get(k) for k in ("nps", "csat", "ces")},
            text=text if isinstance(text, str) else None,
        )


def analyzed_event(
    tenant: uuid.UUID,
    feedback: Feedback,
    analysis: TextAnalysis,
    *,
    redactions: dict[str, int],
    taxonomy_version: int,
    tenant_model_version: str | None,
    revision: int,
    attributes: dict[str, Any],
    sealed: dict[str, Any],
) -> Envelope:
    """The `insight.feedback.analyzed` event of one analysis."""
    result = analysis.to_dict()
    topics = [{k: v for k, v in t.items() if k != "evidence"} for t in result["topics"]]
    data = {
        "feedback_id": str(feedback.feedback_id),
        "customer_id": str(feedback.customer_id) if feedback.customer_id else None,
        "channel": feedback.channel,
        "source": feedback.source,
        "touchpoint": feedback.touchpoint,
        "occurred_at": feedback.occurred_at.isoformat(),
        "scores": feedback.scores,
        "sentiment": result["sentiment"],
        "emotions": result["emotions"],
        "intent": result["intent"],
        "intent_scores": result["intent_scores"],
        "urgency": result["urgency"],
        "urgency_reason": result["urgency_reason"],
        "topics": topics,
        "redactions": redactions,
        "model_version": analysis.model_version,
        "taxonomy_version": taxonomy_version,
        "tenant_model_version": tenant_model_version,
        "revision": revision,
        "attributes": {k: attributes[k] for k in ATTRIBUTES if attributes.get(k) is not None},
        "_pii": sealed,
    }
    return Envelope(
        type=c.FEEDBACK_ANALYZED, source=c.SOURCE, subject=str(feedback.feedback_id), tenant_id=tenant, data=data,
        time=feedback.occurred_at, traceparent=current_traceparent(),
    )  # fmt: skip


class Analysis:
    """The analysis pipeline shared by the live consumer and re-analysis jobs."""

    def __init__(self, models: ModelStore, keyring: KeyRing) -> None:
        self.models = models
        self.keyring = keyring

    async def on_feedback(self, conn: AsyncConnection, events: list[Envelope]) -> None:
        """Consumer batch handler: analyse the new feedback of one tenant in the consumer's transaction."""
        tenant = events[0].tenant_id
        feedback = [Feedback.from_event(e) for e in events]
        # Feedback about a customer erased meanwhile is dropped: its text must not be analysed and kept.
        erased = await self.keyring.erased(conn, [f.customer_id for f in feedback if f.customer_id])
        kept = [f for f in feedback if f.customer_id not in erased]
        if kept:
            await self.analyze_in(conn, tenant, kept)

    async def analyze_in(self, conn: AsyncConnection, tenant: uuid.UUID, feedback: Sequence[Feedback]) -> int:
        """Analyse feedback of one tenant and append the analyses in the caller's transaction; return how many."""
        pg = await driver(conn)
        taxonomy = await self.models.taxonomy(conn, tenant)
        tenant_model = await self.models.tenant_model(conn, tenant)
        ids = [f.feedback_id for f in feedback]
        revisions = {
            r["feedback_id"]: r["revision"]
            for r in await pg.fetch(
                "SELECT feedback_id, revision FROM analyses "
                "WHERE tenant_id = $1 AND feedback_id = ANY($2::uuid[])",
                tenant, ids,
            )
        }  # fmt: skip
        attributes = await self.models.attributes(conn, tenant, [f.customer_id for f in feedback if f.customer_id])
        redacted = [redact(f.text) if f.text else None for f in feedback]
        inputs = [
            AnalysisInput(
                text=r.text if r is not None else None,
                nps=f.scores.get("nps"),
                csat=f.scores.get("csat"),
                ces=f.scores.get("ces"),
            )
            for f, r in zip(feedback, redacted, strict=True)
        ]
        analyzer = await self.models.analyzer()
        # The models hold the GIL only in short stretches: the event loop stays responsive while they run.
        analyses, vectors = await asyncio.to_thread(analyzer.analyze, inputs, taxonomy.taxonomy, tenant_model.model)
        tm_version = tenant_model.version
        subjects = [f.customer_id or f.feedback_id for f in feedback]
        private = [
            {"text": r.text if r is not None else None, "evidence": {t.topic: t.evidence for t in a.topics}}
            for r, a in zip(redacted, analyses, strict=True)
        ]
        sealed = await self.keyring.seal_many(conn, tenant, list(zip(subjects, private, strict=True)))
        appends = []
        embeddings = []
        for f, r, a, s, vector in zip(feedback, redacted, analyses, sealed, vectors, strict=True):
            current = revisions.get(f.feedback_id, 0)
            event = analyzed_event(
                tenant, f, a,
                redactions=r.found if r is not None else {},
                taxonomy_version=taxonomy.version,
                tenant_model_version=tm_version,
                revision=current + 1,
                attributes=attributes.get(f.customer_id, {}) if f.customer_id else {},
                sealed=s,
            )  # fmt: skip
            appends.append(PendingAppend(str(f.feedback_id), [event], current))
            if r is not None:
                embeddings.append((f.feedback_id, tenant, f.customer_id, _vector_bytes(vector)))
        if not appends:
            return 0
        stored = await append_many(conn, appends)
        await project(conn, [INSIGHT_READ_MODELS], stored)
        if embeddings:
            await pg.executemany(
                "INSERT INTO embeddings (feedback_id, tenant_id, customer_id, vector) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (feedback_id) DO UPDATE SET vector = excluded.vector",
                embeddings,
            )
        return len(appends)


def _vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def vector_of(data: bytes) -> np.ndarray:
    """A stored embedding back as float32."""
    return np.frombuffer(data, dtype=np.float16).astype(np.float32)
