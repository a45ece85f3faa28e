"""Insight's commands from people: taxonomy, objectives, labels, alert acknowledgement, theme acceptance.

Each is one transaction that appends events (optimistic concurrency on the tenant's stream) and projects them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many, stream_version
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.domain.objectives import parse_objectives
from cxm_insight.nlp.redaction import redact
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, Taxonomy, Topic, parse_taxonomy, taxonomy_to_dict
from cxm_insight.projections import INSIGHT_READ_MODELS

SENTIMENTS = ("negative", "neutral", "positive")


class NotFound(LookupError):
    """The thing a command names does not exist for this tenant."""


class Conflict(Exception):
    """The command does not apply to the current state (answered 409)."""


def _event(type_: str, tenant: uuid.UUID, subject: str, data: dict[str, Any]) -> Envelope:
    return Envelope(
        type=type_, source=c.SOURCE, subject=subject, tenant_id=tenant, data=data, traceparent=current_traceparent()
    )


async def _append(conn: AsyncConnection, stream: str, events: list[Envelope], expected: int) -> list[Envelope]:
    stored = await append_many(conn, [PendingAppend(stream, events, expected)])
    await project(conn, [INSIGHT_READ_MODELS], stored)
    return stored


async def current_taxonomy(conn: AsyncConnection, tenant: uuid.UUID) -> tuple[int, Taxonomy]:
    """The tenant's taxonomy and its version (the shipped default until the tenant saves one)."""
    row = await (await driver(conn)).fetchrow(
        "SELECT version, definition::text AS d FROM taxonomies WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
        tenant,
    )
    if row is None:
        return DEFAULT_TAXONOMY.version, DEFAULT_TAXONOMY
    return row["version"], parse_taxonomy(orjson.loads(row["d"]), row["version"])


async def put_taxonomy(conn: AsyncConnection, tenant: uuid.UUID, definition: dict[str, Any]) -> Taxonomy:
    """Save a new taxonomy version (ValueError if the definition is invalid)."""
    version, _ = await current_taxonomy(conn, tenant)
    taxonomy = parse_taxonomy(definition, version + 1)
    stream = f"taxonomy-{tenant}"
    data = {"version": taxonomy.version, "topics": taxonomy_to_dict(taxonomy)["topics"]}
    await _append(conn, stream, [_event(c.TAXONOMY_UPDATED, tenant, stream, data)], await stream_version(conn, stream))
    return taxonomy


async def put_objectives(conn: AsyncConnection, tenant: uuid.UUID, definition: dict[str, Any]) -> int:
    """Save a new version of the tenant's objectives (ValueError if invalid); return the version."""
    objectives = parse_objectives(definition)
    for objective in objectives:
        if len(objective.filters) > 1:
            raise ValueError(f"objective {objective.id!r}: filter on at most one of topic, channel or segment")
    stream = f"objectives-{tenant}"
    current = await stream_version(conn, stream)
    data = {"version": current + 1, "objectives": [o.to_dict() for o in objectives]}
    await _append(conn, stream, [_event(c.OBJECTIVES_UPDATED, tenant, stream, data)], current)
    # The detector judges the new objectives on its next round, without waiting for new feedback.
    await (await driver(conn)).execute(
        "INSERT INTO alert_checks (tenant_id, dim, key, bucket) VALUES ($1, 'all', 'all', date_trunc('hour', now())) "
        "ON CONFLICT DO NOTHING",
        tenant,
    )
    return current + 1


@dataclass(frozen=True, slots=True)
class LabelIn:
    """One correction from a person: about a stored feedback, or about a text given inline."""

    feedback_id: uuid.UUID | None
    text: str | None
    sentiment: str | None
    topics: tuple[str, ...]


async def record_labels(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, labels: Sequence[LabelIn]
) -> list[uuid.UUID]:
    """Record corrections (the text is taken from the feedback's analysis when it is not given)."""
    _, taxonomy = await current_taxonomy(conn, tenant)
    known = {t.id for t in taxonomy.topics}
    pg = await driver(conn)
    ids = [label.feedback_id for label in labels if label.feedback_id is not None]
    rows = {
        r["feedback_id"]: r
        for r in await pg.fetch(
            "SELECT feedback_id, customer_id, pii::text AS pii FROM analyses "
            "WHERE tenant_id = $1 AND feedback_id = ANY($2::uuid[])",
            tenant, ids,
        )
    }  # fmt: skip
    from cxm_insight.queries import open_sections

    opened = await open_sections(conn, keyring, [r["pii"] for r in rows.values()])
    texts = {fid: o.get("text") for fid, o in zip(rows, opened, strict=True)}
    items: list[tuple[uuid.UUID, dict[str, Any], dict[str, Any]]] = []
    for index, label in enumerate(labels):
        unknown = [t for t in label.topics if t not in known]
        if unknown:
            raise ValueError(f"labels[{index}]: unknown topic(s) {', '.join(unknown)}")
        customer = None
        if label.feedback_id is not None:
            row = rows.get(label.feedback_id)
            if row is None:
                raise NotFound(f"labels[{index}]: no analysed feedback {label.feedback_id}")
            customer = row["customer_id"]
            text = texts.get(label.feedback_id)
            if not text:
                raise Conflict(f"labels[{index}]: feedback {label.feedback_id} has no text to learn from")
        else:
            text = redact(label.text or "").text
        label_id = uuid7()
        public = {
            "label_id": str(label_id),
            "feedback_id": str(label.feedback_id) if label.feedback_id else None,
            "customer_id": str(customer) if customer else None,
            "sentiment": label.sentiment,
            "topics": list(label.topics),
        }
        items.append((customer or label_id, public, {"text": text}))
    sealed = await keyring.seal_many(conn, tenant, [(subject, private) for subject, _, private in items])
    events = [
        _event(c.LABEL_RECORDED, tenant, public["label_id"], {**public, "_pii": section})
        for (_, public, _), section in zip(items, sealed, strict=True)
    ]
    stored = await append_many(conn, [PendingAppend(e.subject, [e], 0) for e in events])
    await project(conn, [INSIGHT_READ_MODELS], stored)
    return [uuid.UUID(p["label_id"]) for _, p, _ in items]


async def acknowledge_alert(conn: AsyncConnection, tenant: uuid.UUID, alert_id: uuid.UUID) -> str:
    """Acknowledge an open alert; acknowledging twice is a no-op; a resolved alert is a conflict."""
    status = await (await driver(conn)).fetchval(
        "SELECT status FROM alerts WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant, alert_id
    )
    if status is None:
        raise NotFound(f"no alert {alert_id}")
    if status == "acknowledged":
        return status
    if status != "open":
        raise Conflict(f"alert {alert_id} is {status}")
    stream = f"alert-{alert_id}"
    event = _event(c.ALERT_ACKNOWLEDGED, tenant, stream, {"alert_id": str(alert_id)})
    await _append(conn, stream, [event], await stream_version(conn, stream))
    return "acknowledged"


async def accept_theme(
    conn: AsyncConnection, tenant: uuid.UUID, theme_id: uuid.UUID, name: str | None, topic_id: str | None
) -> tuple[str, int]:
    """Add a discovered theme to the taxonomy as a topic (a new taxonomy version); return topic id and version."""
    pg = await driver(conn)
    theme = await pg.fetchrow(
        "SELECT status, top_terms, example_ids FROM themes WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant, theme_id,
    )  # fmt: skip
    if theme is None:
        raise NotFound(f"no theme {theme_id}")
    if theme["status"] != "proposed":
        raise Conflict(f"theme {theme_id} is already {theme['status']}")
    version, taxonomy = await current_taxonomy(conn, tenant)
    terms = list(theme["top_terms"])
    title = name or " / ".join(terms[:3]) or "new theme"
    new_id = topic_id or _slug(title)
    if any(t.id == new_id for t in taxonomy.topics):
        raise Conflict(f"the taxonomy already has a topic {new_id!r}; give another topic_id")
    topic = Topic(id=new_id, name=title[:80], description=f"Discovered theme: {', '.join(terms[:8])}",
                  keywords=tuple(terms[:10]), examples=())  # fmt: skip
    definition = taxonomy_to_dict(Taxonomy(version=version, topics=(*taxonomy.topics, topic)))
    saved = await put_taxonomy(conn, tenant, definition)
    stream = f"theme-{theme_id}"
    data = {"theme_id": str(theme_id), "topic_id": new_id, "taxonomy_version": saved.version}
    await _append(conn, stream, [_event(c.THEME_ACCEPTED, tenant, stream, data)], await stream_version(conn, stream))
    return new_id, saved.version


def _slug(text: str) -> str:
    slug = "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")
    while "__" in slug:
        slug = slug.replace("__", "_")
    return slug[:48] or "theme"
