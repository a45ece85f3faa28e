"""JetStream naming and idempotent setup of streams and durable pull consumers."""

from __future__ import annotations

import re

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_TENANT = "Cxm-Tenant-Id"
HEADER_TYPE = "Cxm-Event-Type"
HEADER_TRACEPARENT = "traceparent"


def check_name(name: str) -> str:
    """Return `name` if NATS accepts it as a stream or consumer name (no `.`, `*`, `>` or spaces)."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid NATS stream/consumer name {name!r}")
    return name


def stream_name(service: str, prefix: str = "") -> str:
    """Return the stream that holds a producing service's events, e.g. `INGEST`."""
    name = f"{prefix}_{service}" if prefix else service
    return check_name(name.upper())


def subject_for(event_type: str, prefix: str = "") -> str:
    """Return the NATS subject of an event type: the type itself, under the deployment's prefix."""
    return f"{prefix}.{event_type}" if prefix else event_type


def event_type_of(subject: str, prefix: str = "") -> str:
    """Return the event type carried by a subject (the inverse of `subject_for`)."""
    return subject[len(prefix) + 1 :] if prefix else subject


def durable_name(consumer: str, handler: str) -> str:
    """Return the durable consumer name `<consumer>_<handler>`."""
    return check_name(f"{consumer}_{handler}")


async def connect(url: str, *, name: str, **options: object) -> NATS:
    """Connect to NATS, retrying for ever in the background after a first successful connection."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=3,
        allow_reconnect=True,
        **options,  # type: ignore[arg-type]
    )


async def ensure_stream(
    js: JetStreamContext,
    service: str,
    *,
    prefix: str = "",
    max_age_s: int = 7 * 24 * 3600,
    duplicate_window_s: int = 15 * 60,
    replicas: int = 1,
    max_msg_size: int = 8 * 1024 * 1024,
) -> StreamConfig:
    """Create or update the stream of one producing service (file storage, bounded age, dedupe window)."""
    config = StreamConfig(
        name=stream_name(service, prefix),
        subjects=[subject_for(f"{service}.>", prefix)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(max_age_s),
        duplicate_window=float(duplicate_window_s),
        num_replicas=replicas,
        max_msg_size=max_msg_size,
    )
    try:
        await js.stream_info(config.name)  # type: ignore[arg-type]
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
    return config


async def ensure_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subjects: list[str],
    *,
    ack_wait_s: float = 30.0,
    max_ack_pending: int = 2000,
) -> None:
    """Create or update a durable pull consumer with explicit acks."""
    check_name(durable)
    config = ConsumerConfig(
        name=durable,
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        # Unlimited on the server: a database outage must not use up deliveries. The runner dead-letters a
        # message itself once its handler has failed on the `max_deliver`-th delivery.
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subjects=filter_subjects if len(filter_subjects) > 1 else None,
        filter_subject=filter_subjects[0] if len(filter_subjects) == 1 else None,
    )
    await js.add_consumer(stream, config=config)
