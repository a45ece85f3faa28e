"""JSON logs carry the trace they were written in; traceparents round-trip."""

import json
import logging

from opentelemetry.trace import SpanKind

from cxm_common.observability import JsonFormatter, current_traceparent, setup_tracing, span_from_traceparent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_log_line_is_json_with_the_current_trace_and_span() -> None:
    setup_tracing("test")
    record = logging.LogRecord("cxm.test", logging.INFO, __file__, 1, "stored %s", ("x",), None)
    with span_from_traceparent("op", f"00-{TRACE_ID}-00f067aa0ba902b7-01", SpanKind.SERVER):
        line = json.loads(JsonFormatter("ingest").format(record))
    assert line["msg"] == "stored x" and line["service"] == "ingest" and line["level"] == "info"
    assert line["trace_id"] == TRACE_ID and len(line["span_id"]) == 16


def test_a_new_trace_starts_when_there_is_none_and_is_passed_on() -> None:
    setup_tracing("test")
    with span_from_traceparent("op", None, SpanKind.CONSUMER):
        traceparent = current_traceparent()
    assert traceparent is not None and len(traceparent.split("-")[1]) == 32
