"""Event builders for the kit's tests."""

from __future__ import annotations

import uuid
from typing import Any

from cxm_common.envelope import Envelope

TENANT = uuid.UUID("00000000-0000-7000-8000-000000000001")


def event(stream_id: str, n: int = 0, *, type: str = "kit.thing.happened.v1", **data: Any) -> Envelope:
    """An event of the test service `kit` on one stream."""
    return Envelope(type=type, source="kit", subject=stream_id, tenant_id=TENANT, data={"n": n, **data})
