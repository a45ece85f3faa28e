"""UUIDv7 identifiers (RFC 9562), generated in Python: neither Python 3.11 nor Postgres 15 has them."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """Return a new time-ordered UUIDv7, monotonic within this process."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # 12-bit counter seeded randomly in its lower half leaves room for 2k ids per ms.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:
                # Counter exhausted within one millisecond: borrow the next millisecond.
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFFFFFFFFFFFFFF
    value = (ms & 0xFFFFFFFFFFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """Return the Unix time in milliseconds embedded in a UUIDv7."""
    return value.int >> 80


def deterministic_uuid(namespace: uuid.UUID, *parts: str) -> uuid.UUID:
    """Return a UUIDv5 derived from parts, for ids that must be the same on every replica."""
    return uuid.uuid5(namespace, "\x1f".join(parts))
