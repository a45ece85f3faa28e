"""A tiny service built on the kit, the way a real service is: routes, a projection, a subscription."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, Depends
from opentelemetry import trace
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.auth import scoped
from cxm_common.consumer import Subscription
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append
from cxm_common.observability import current_traceparent
from cxm_common.problems import StrictJsonRoute
from cxm_common.projections import Projection, project
from cxm_common.service import Runtime, ServiceSpec
from cxm_common.settings import CommonSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
TENANT = uuid.UUID("00000000-0000-7000-8000-0000000000aa")


class NoteIn(BaseModel):
    body: str


async def apply_note(conn: AsyncConnection, event: Envelope) -> None:
    """Projection: one row per written note."""
    if event.type == "sample.note.written.v1":
        await conn.execute(
            text("INSERT INTO notes (id, tenant_id, body) VALUES (:id, :t, :b)"),
            {"id": uuid.UUID(event.subject), "t": event.tenant_id, "b": event.data["body"]},
        )


NOTES = Projection(name="notes", tables=["notes"], apply=apply_note)


def routers(runtime: Runtime) -> Sequence[APIRouter]:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/notes", status_code=202)
    async def write(note: NoteIn, tenant: uuid.UUID = Depends(scoped("ingest:write"))) -> dict[str, str]:
        note_id = uuid.uuid4()
        event = Envelope(
            type="sample.note.written.v1",
            source="sample",
            subject=str(note_id),
            tenant_id=tenant,
            data={"body": note.body},
            traceparent=current_traceparent(),
        )
        async with runtime.engine.begin() as conn:
            stored = await append(conn, str(note_id), [event], expected_version=0)
            await project(conn, [NOTES], stored)
        runtime.committed()
        return {"id": str(note_id)}

    return [router]


async def remember(conn: AsyncConnection, event: Envelope) -> None:
    """Subscription handler: records what it saw and under which trace."""
    span = trace.get_current_span().get_span_context()
    await conn.execute(
        text("INSERT INTO seen (event_id, trace_id) VALUES (:id, :trace)"),
        {"id": event.id, "trace": format(span.trace_id, "032x") if span.is_valid else None},
    )


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    return [Subscription(name="notes", service="sample", event_types=["sample.note.written.v1"], handler=remember)]


def make_spec(settings: CommonSettings) -> ServiceSpec:
    """The sample service, reading its settings from the test's fixtures."""
    return ServiceSpec(
        name="sample",
        title="sample",
        settings_factory=lambda: settings,
        migrations=MIGRATIONS_DIR,
        default_port=0,
        routers=routers,
        subscriptions=subscriptions,
        projections=lambda: [NOTES],
    )
