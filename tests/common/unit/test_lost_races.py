"""A deadlock or serialization failure is a lost race: the whole transaction is run again."""

from __future__ import annotations

import asyncpg
import pytest

from cxm_common.db import is_lost_race
from cxm_common.eventstore import ConcurrencyError, retry_on_conflict


class Wrapped(Exception):
    """What SQLAlchemy raises around a driver error: the driver's error as `orig`."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig


def test_deadlocks_and_serialization_failures_are_lost_races() -> None:
    assert is_lost_race(asyncpg.DeadlockDetectedError("deadlock detected"))
    assert is_lost_race(asyncpg.SerializationError("could not serialize"))
    assert is_lost_race(Wrapped(asyncpg.DeadlockDetectedError("deadlock detected")))
    try:
        try:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("while storing") from inner
    except RuntimeError as outer:
        assert is_lost_race(outer)
    assert not is_lost_race(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_lost_race(ValueError("bad input"))


async def test_a_lost_race_is_retried_and_other_errors_are_not() -> None:
    calls = []

    async def deadlocks_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return "stored"

    assert await retry_on_conflict(deadlocks_once) == "stored" and len(calls) == 2

    async def conflicts() -> None:
        raise ConcurrencyError(["s-1"])

    with pytest.raises(ConcurrencyError):
        await retry_on_conflict(conflicts, attempts=3)

    async def bad() -> None:
        calls.append(1)
        raise ValueError("bad input")

    calls.clear()
    with pytest.raises(ValueError):
        await retry_on_conflict(bad)
    assert len(calls) == 1
