"""Tracing (W3C traceparent across HTTP, Postgres, NATS), Prometheus metrics and JSON logs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge, Histogram

_propagator = TraceContextTextMapPropagator()
tracer = trace.get_tracer("cxm")

HTTP_LATENCY = Histogram(
    "cxm_http_request_duration_seconds",
    "HTTP request latency by route template and status class.",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("cxm_outbox_backlog", "Events appended but not yet published to JetStream.", ["service"])
RELAY_PUBLISHED = Counter("cxm_relay_published_total", "Events published to JetStream by the relay.", ["service"])
RELAY_LAG = Histogram(
    "cxm_relay_commit_to_publish_seconds",
    "Time from an event's append to its JetStream ack.",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge("cxm_consumer_lag", "Messages pending on a durable consumer.", ["consumer"])
CONSUMER_APPLIED = Counter(
    "cxm_consumer_messages_total",
    "Messages handled by outcome (applied, duplicate, retried, dead).",
    ["consumer", "outcome"],
)
DEAD_LETTERS = Gauge("cxm_dead_letters", "Dead-lettered messages awaiting a redrive.", ["consumer"])


def setup_tracing(service: str) -> None:
    """Install the tracer provider; spans are exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    exporting = bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    # Without an exporter, spans are not recorded (ids still flow to logs, events and NATS headers), unless a caller
    # sends a sampled traceparent.
    sampler = ParentBased(ALWAYS_ON if exporting else ALWAYS_OFF)
    provider = TracerProvider(resource=Resource.create({"service.name": f"cxm-{service}"}), sampler=sampler)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _instrument_asyncpg()
    trace.set_tracer_provider(provider)


def _instrument_asyncpg() -> None:
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    except ImportError:  # optional: Postgres spans only when the instrumentation is installed
        return
    AsyncPGInstrumentor().instrument()


def current_traceparent() -> str | None:
    """Return the W3C traceparent of the current span, to store with an event or send in a header."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_from_traceparent(name: str, traceparent: str | None, kind: SpanKind, **attributes: Any) -> Iterator[Span]:
    """Run a block in a span whose parent is the given traceparent (a new trace when there is none)."""
    ctx = _propagator.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with tracer.start_as_current_span(name, context=ctx, kind=kind, attributes=attributes) as span:
        yield span


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send logs to stderr, as JSON lines (default) or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
