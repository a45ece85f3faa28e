"""UUIDv7 identifiers (RFC 9562), generated in Python: neither Python 3.11 nor Postgres 15 has them."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_random = b""
_random_at = 0
_RANDOM_CHUNK = 4096
"""Bytes of `os.urandom` read at once: one system call for 400 ids rather than two per id."""


def _forget_after_fork() -> None:
    # A forked child must not hand out the random bytes (and counter) its parent already uses.
    global _last_ms, _counter, _random, _random_at
    _last_ms, _counter, _random, _random_at = 0, 0, b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def uuid7() -> uuid.UUID:
    """Return a new time-ordered UUIDv7, monotonic within this process."""
    global _last_ms, _counter, _random, _random_at
    with _lock:
        if _random_at + 10 > len(_random):
            _random, _random_at = os.urandom(_RANDOM_CHUNK), 0
        rand = int.from_bytes(_random[_random_at : _random_at + 10], "big")
        _random_at += 10
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # 12-bit counter seeded randomly in its lower half leaves room for 2k ids per ms.
            _counter = (rand >> 64) & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:
                # Counter exhausted within one millisecond: borrow the next millisecond.
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    value = (ms & 0xFFFFFFFFFFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFFFFFFFFFFFFFF
    # As `uuid.UUID(int=value)` builds it, without re-checking a value that is in range by construction.
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def uuid7_time_ms(value: uuid.UUID) -> int:
    """Return the Unix time in milliseconds embedded in a UUIDv7."""
    return value.int >> 80


def deterministic_uuid(namespace: uuid.UUID, *parts: str) -> uuid.UUID:
    """Return a UUIDv5 derived from parts, for ids that must be the same on every replica."""
    return uuid.uuid5(namespace, "\x1f".join(parts))
