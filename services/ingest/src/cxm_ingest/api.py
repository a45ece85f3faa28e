"""Ingest's HTTP edge: parse, call a command or query, map errors to status codes."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from cxm_common.auth import scoped
from cxm_common.db import driver, set_tenant
from cxm_common.eventstore import retry_on_conflict
from cxm_common.pagination import decode_cursor, encode_cursor, limit_param
from cxm_common.problems import StrictJsonRoute
from cxm_ingest import queries
from cxm_ingest.domain.identity import TENANT_KEY
from cxm_ingest.domain.records import (
    CustomerRecord,
    CustomerRef,
    FeedbackRecord,
    InteractionRecord,
    InvalidRecord,
    Record,
    Scores,
)
from cxm_ingest.groupcommit import Overloaded
from cxm_ingest.handlers import IngestResult
from cxm_ingest.schemas import (
    Accepted,
    BatchAccepted,
    CustomerAttributesIn,
    CustomerOut,
    ErasureAccepted,
    ErasureOut,
    FeedbackBatchIn,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
    InteractionBatchIn,
    InteractionIn,
)
from cxm_ingest.wiring import IngestContext

Writer = Annotated[uuid.UUID, Depends(scoped("ingest:write"))]
Reader = Annotated[uuid.UUID, Depends(scoped("ingest:read"))]
Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def feedback_record(item: FeedbackIn) -> FeedbackRecord:
    """The canonical record of an API feedback item."""
    ref = None
    if item.customer is not None:
        ref = CustomerRef(
            keys=((TENANT_KEY, item.customer.id),),
            email=item.customer.email,
            name=item.customer.name,
            phone=item.customer.phone,
        )
    return FeedbackRecord(
        channel=item.channel,
        source=item.source,
        external_id=item.external_id,
        customer=ref,
        text=item.text,
        scores=Scores(nps=item.scores.nps, csat=item.scores.csat, ces=item.scores.ces),
        touchpoint=item.touchpoint,
        occurred_at=item.occurred_at,
        metadata=item.metadata,
    )


def interaction_record(item: InteractionIn) -> InteractionRecord:
    """The canonical record of an API interaction."""
    return InteractionRecord(
        name=item.name,
        source=item.source,
        external_id=item.external_id,
        customer=CustomerRef(keys=((TENANT_KEY, item.customer_id),)),
        occurred_at=item.occurred_at,
        channel=item.channel,
        properties=item.properties,
    )


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def routers(ctx: IngestContext) -> list[APIRouter]:
    """Ingest's public routes."""
    router = APIRouter(route_class=StrictJsonRoute)
    engine = ctx.runtime.engine

    async def accept(tenant: uuid.UUID, key: str | None, body: BaseModel, records: list[Record], one: bool) -> Response:
        """Store records; with an `Idempotency-Key`, once per key (a repeat gets the first answer, another body a 422).

        The key is claimed, the records stored and the answer kept in one transaction, under a lock on the key, so
        a crash or a concurrent repeat can neither store twice nor lose the answer.
        """
        request_hash = (
            hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()
            if key is not None
            else None
        )

        async def once() -> Response:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                pg = await driver(conn)
                if key is not None:
                    await pg.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tenant}:{key}")
                    row = await pg.fetchrow(
                        "SELECT request_hash, response::text AS response FROM idempotency_keys "
                        "WHERE tenant_id = $1 AND key = $2",
                        tenant, key,
                    )  # fmt: skip
                    if row is not None:
                        if row["request_hash"] != request_hash:
                            raise HTTPException(422, "This Idempotency-Key was used with a different request body.")
                        return Response(row["response"], status_code=202, media_type="application/json")
                try:
                    result = await ctx.ingest.store_in(conn, tenant, records)
                except InvalidRecord as exc:
                    raise HTTPException(422, str(exc)) from exc
                answer = orjson.dumps(
                    {"id": str(result.ids[0]), "duplicate": result.duplicates == 1} if one else _batch(result)
                )
                if key is not None:
                    await pg.execute(
                        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response) "
                        "VALUES ($1, $2, $3, 202, $4::jsonb)",
                        tenant, key, request_hash, answer.decode(),
                    )  # fmt: skip
            ctx.runtime.committed()
            return Response(answer, status_code=202, media_type="application/json")

        return await retry_on_conflict(once, attempts=8)

    async def accept_one(tenant: uuid.UUID, key: str | None, body: BaseModel, record: Record) -> Response:
        """Store one record: with an `Idempotency-Key` on its own, else together with concurrent requests'."""
        if key is not None:
            return await accept(tenant, key, body, [record], one=True)
        try:
            record_id, duplicate = await ctx.singles.store(tenant, record)
        except InvalidRecord as exc:
            raise HTTPException(422, str(exc)) from exc
        except Overloaded as exc:
            raise HTTPException(503, "Too many records are waiting to be stored; retry shortly.",
                                headers={"Retry-After": "1"}) from exc  # fmt: skip
        return Response(orjson.dumps({"id": str(record_id), "duplicate": duplicate}), 202,
                        media_type="application/json")  # fmt: skip

    @router.post("/v1/feedback", status_code=202, response_model=Accepted, tags=["feedback"], summary="Send feedback")
    async def post_feedback(body: FeedbackIn, tenant: Writer, idempotency_key: IdempotencyKey = None) -> Response:
        return await accept_one(tenant, idempotency_key, body, feedback_record(body))

    @router.post(
        "/v1/feedback/batch", status_code=202, response_model=BatchAccepted, tags=["feedback"],
        summary="Send up to 1,000 feedback records",
    )  # fmt: skip
    async def post_feedback_batch(
        body: FeedbackBatchIn, tenant: Writer, idempotency_key: IdempotencyKey = None
    ) -> Response:
        return await accept(tenant, idempotency_key, body, [feedback_record(i) for i in body.items], one=False)

    @router.post(
        "/v1/interactions", status_code=202, response_model=Accepted, tags=["interactions"],
        summary="Record an interaction",
    )  # fmt: skip
    async def post_interaction(body: InteractionIn, tenant: Writer, idempotency_key: IdempotencyKey = None) -> Response:
        return await accept_one(tenant, idempotency_key, body, interaction_record(body))

    @router.post(
        "/v1/interactions/batch", status_code=202, response_model=BatchAccepted, tags=["interactions"],
        summary="Record up to 1,000 interactions",
    )  # fmt: skip
    async def post_interactions_batch(
        body: InteractionBatchIn, tenant: Writer, idempotency_key: IdempotencyKey = None
    ) -> Response:
        return await accept(tenant, idempotency_key, body, [interaction_record(i) for i in body.items], one=False)

    @router.get("/v1/feedback/export", tags=["feedback"], summary="Export feedback as CSV or JSON Lines",
                responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})  # fmt: skip
    async def export(
        tenant: Reader,
        format: Literal["csv", "jsonl"] = "csv",
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
    ) -> StreamingResponse:
        since, until = _bounded(from_, "from"), _bounded(to, "to")

        async def rows() -> AsyncIterator[bytes]:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                if format == "csv":
                    yield _csv_line(["id", "occurred_at", "channel", "source", "customer_id", "customer_key",
                                     "nps", "csat", "ces", "touchpoint", "text"])  # fmt: skip
                keys: dict[uuid.UUID, str | None] = {}
                async for item in queries.export_feedback(conn, ctx.keyring, tenant, since=since, until=until):
                    customer = item["customer_id"]
                    if customer is not None and customer not in keys:
                        found = await queries.customer(conn, ctx.keyring, tenant, customer)
                        keys[customer] = found["key"] if found else None
                    key = keys.get(customer) if customer else None
                    if format == "csv":
                        s = item["scores"]
                        yield _csv_line([item["id"], item["occurred_at"].isoformat(), item["channel"], item["source"],
                                         customer, key, s["nps"], s["csat"], s["ces"], item["touchpoint"],
                                         item["text"]])  # fmt: skip
                    else:
                        yield orjson.dumps({**item, "customer_key": key}, default=str) + b"\n"

        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        return StreamingResponse(
            rows(), media_type=media, headers={"Content-Disposition": f'attachment; filename="feedback.{format}"'}
        )

    @router.get("/v1/feedback/{feedback_id}", response_model=FeedbackOut, tags=["feedback"], summary="One feedback")
    async def get_feedback(feedback_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            found = await queries.feedback(conn, ctx.keyring, tenant, feedback_id)
        if found is None:
            raise HTTPException(404, "No such feedback.")
        return found

    @router.get("/v1/feedback", response_model=FeedbackPage, tags=["feedback"], summary="List feedback")
    async def list_feedback(
        tenant: Reader,
        customer_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
        channel: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
        source: Annotated[str | None, Query(pattern=r"^[a-z0-9_.-]{1,64}$")] = None,
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        limit: int = limit_param(),
        cursor: str | None = None,
    ) -> dict[str, Any]:
        after = _after(decode_cursor(cursor))
        from_, to = _bounded(from_, "from"), _bounded(to, "to")
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            customers = None
            if customer_id is not None:
                found = await ctx.resolver.lookup(conn, tenant, customer_id)
                customers = await queries.merged_into(conn, tenant, found) if found else []
            page = await queries.list_feedback(
                conn, ctx.keyring, tenant, customers=customers, channel=channel, source=source, since=from_, until=to,
                after=after, limit=limit + 1,
            )  # fmt: skip
        more = len(page) > limit
        page = page[:limit]
        next_cursor = (
            encode_cursor({"at": page[-1]["occurred_at"].isoformat(), "id": str(page[-1]["id"])}) if more else None
        )
        return {"items": page, "next_cursor": next_cursor}

    @router.put("/v1/customers/{customer_id}", response_model=CustomerOut, tags=["customers"],
                summary="Set a customer's attributes")  # fmt: skip
    async def put_customer(
        customer_id: Annotated[str, Path(min_length=1, max_length=256)], body: CustomerAttributesIn, tenant: Writer
    ) -> dict[str, Any]:
        attributes = body.model_dump(exclude_none=True, exclude={"email", "name", "phone"})
        record = CustomerRecord(
            customer=CustomerRef(keys=((TENANT_KEY, customer_id),), email=body.email, name=body.name, phone=body.phone),
            attributes=attributes,
        )
        result = await ctx.ingest.store(tenant, [record])
        ctx.runtime.committed()
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            found = await queries.customer(conn, ctx.keyring, tenant, result.customers[0])  # type: ignore[arg-type]
        assert found is not None
        return found

    @router.get("/v1/customers/{customer_id}", response_model=CustomerOut, tags=["customers"], summary="One customer")
    async def get_customer(customer_id: str, tenant: Reader) -> dict[str, Any]:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            found_id = await ctx.resolver.lookup(conn, tenant, customer_id)
            found = await queries.customer(conn, ctx.keyring, tenant, found_id) if found_id else None
        if found is None:
            raise HTTPException(404, "No such customer.")
        return found

    @router.delete("/v1/customers/{customer_id}", status_code=202, response_model=ErasureAccepted,
                   tags=["customers"], summary="Erase a customer (GDPR)")  # fmt: skip
    async def erase_customer(customer_id: str, tenant: Admin) -> dict[str, Any]:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            found = await ctx.resolver.lookup(conn, tenant, customer_id)
        if found is None:
            raise HTTPException(404, "No such customer.")
        erasure_id = await ctx.ingest.erase(tenant, found)
        ctx.runtime.committed()
        return {"erasure_id": erasure_id}

    @router.get("/v1/erasures/{erasure_id}", response_model=ErasureOut, tags=["customers"], summary="Erasure status")
    async def get_erasure(erasure_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            found = await queries.erasure(conn, tenant, erasure_id, ctx.settings.erasure_services)
        if found is None:
            raise HTTPException(404, "No such erasure.")
        return found

    return [router]


def _batch(result: IngestResult) -> dict[str, Any]:
    return {"accepted": result.accepted, "duplicates": result.duplicates, "ids": [str(i) for i in result.ids]}


def _after(position: dict[str, Any] | None) -> tuple[datetime, uuid.UUID] | None:
    if position is None:
        return None
    try:
        at = datetime.fromisoformat(position["at"])
        return _bounded(at, "cursor"), uuid.UUID(position["id"])
    except (KeyError, TypeError, ValueError, HTTPException) as exc:
        raise HTTPException(400, "The cursor is not one this API returned.") from exc


def _bounded(value: datetime | None, name: str) -> datetime | None:
    """A query time Postgres can compare: with a time zone, between 1970 and 9999."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            raise ValueError
        utc = value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise HTTPException(422, f"`{name}` must be a time with a time zone, after 1970.") from exc
    if not 1970 <= utc.year <= 9999:
        raise HTTPException(422, f"`{name}` must be a time with a time zone, after 1970.")
    return utc


def _csv_line(cells: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell(c) for c in cells])
    return out.getvalue().encode()
