"""`GET /v1/stream`: the tenant's own events as Server-Sent Events, resumable across every stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator

from fastapi import HTTPException
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from cxm_common.auth import InvalidInternalToken, Principal, issue_token, verify_token
from cxm_common.jetstream import HEADER_TENANT, stream_name, subject_for

log = logging.getLogger(__name__)

STREAM_AUDIENCE = "cxm-stream"
# Which streams a key may watch, by the read scope of the area that publishes them.
STREAMED = {"ingest": "ingest:read", "insight": "insights:read", "journey": "journeys:read", "actions": "actions:read"}
_EVENT_ID_RE = re.compile(r"^[a-z]+:\d+(,[a-z]+:\d+)*$")


def issue_stream_token(secret: str, principal: Principal, ttl_s: float) -> str:
    """A token that only opens the stream (its audience differs from the services' internal tokens)."""
    return issue_token(secret, principal, ttl_s, audience=STREAM_AUDIENCE)


def verify_stream_token(secret: str, token: str) -> Principal | None:
    """The principal of a valid stream token, else None."""
    try:
        return verify_token(secret, token, audience=STREAM_AUDIENCE)
    except InvalidInternalToken:
        return None


def parse_event_id(value: str | None) -> dict[str, int]:
    """Read a `Last-Event-ID` (`ingest:12,insight:40`): the last stream sequence seen per service."""
    if not value:
        return {}
    if not _EVENT_ID_RE.match(value):
        raise HTTPException(400, "Last-Event-ID is not one this stream sent.")
    positions = {}
    for part in value.split(","):
        service, _, seq = part.partition(":")
        if service in STREAMED:
            positions[service] = int(seq)
    return positions


def format_event_id(positions: dict[str, int]) -> str:
    """The SSE id: every stream's last sequence, so a reconnect resumes each one where it stopped."""
    return ",".join(f"{service}:{seq}" for service, seq in sorted(positions.items()))


async def events(
    js: JetStreamContext,
    principal: Principal,
    *,
    prefix: str,
    last_event_id: dict[str, int],
    heartbeat_s: float,
    resume_window_s: float = 900.0,
    queue_size: int = 1000,
) -> AsyncIterator[bytes]:
    """Yield SSE frames of the principal's tenant until the client goes away."""
    tenant = str(principal.tenant_id)
    services = [s for s, scope in STREAMED.items() if scope in principal.scopes]
    positions = dict(last_event_id)
    queue: asyncio.Queue[tuple[str, int, Msg]] = asyncio.Queue(maxsize=queue_size)
    subscriptions = []
    try:
        for service in services:

            async def deliver(msg: Msg, service: str = service) -> None:
                # Other tenants' events are dropped here: the subject carries no tenant, the header does. A resume
                # reaches back `resume_window_s` at most: older events are history, read through the APIs (which
                # honour erasures), not replayed from the stream.
                if (msg.headers or {}).get(HEADER_TENANT) != tenant:
                    return
                if msg.metadata.timestamp.timestamp() < time.time() - resume_window_s:
                    return
                await queue.put((service, msg.metadata.sequence.stream, msg))

            start = positions.get(service)
            config = (
                ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start + 1)
                if start is not None
                else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
            )
            try:
                subscriptions.append(
                    await js.subscribe(
                        subject_for(f"{service}.>", prefix),
                        stream=stream_name(service, prefix),
                        ordered_consumer=True,
                        config=config,
                        cb=deliver,
                    )
                )
            except Exception as exc:  # a service that has never published has no stream yet
                log.info("stream %s not available for SSE: %r", service, exc)
        yield b"retry: 2000\n\n"
        while True:
            try:
                service, seq, msg = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            positions[service] = seq
            event_type = (msg.headers or {}).get("Cxm-Event-Type", "event")
            yield (
                f"id: {format_event_id(positions)}\nevent: {event_type}\ndata: ".encode()
                + msg.data.replace(b"\n", b"")
                + b"\n\n"
            )
    finally:
        for sub in subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def require_stream_scope(principal: Principal) -> None:
    """Refuse a key that may read none of the streamed areas."""
    if not any(scope in principal.scopes for scope in STREAMED.values()):
        raise HTTPException(403, "Watching the stream needs a read scope (e.g. insights:read).")
