"""The gate in front of a lane: a full lane makes requests wait briefly in order, a full queue refuses at once."""

from __future__ import annotations

import asyncio

from cxm_gateway.domain.admission import Admission
from cxm_gateway.gate import Gate


def gate(limit: int = 1, max_queued: int = 4, patience_s: float = 1.0) -> Gate:
    return Gate(Admission(minimum=limit, maximum=limit, tolerance=3.0), max_queued=max_queued, patience_s=patience_s)


async def test_a_freed_slot_goes_to_the_first_waiter() -> None:
    door = gate()
    first = await door.enter("ingest", "write")
    assert first is not None
    waiters = [asyncio.create_task(door.enter("ingest", "write")) for _ in range(2)]
    await asyncio.sleep(0.01)
    door.leave(first[0], 0.01, first[1])
    await asyncio.sleep(0.01)
    assert waiters[0].done() and not waiters[1].done()
    second = waiters[0].result()
    assert second is not None
    door.leave(second[0], 0.01, second[1])
    assert (await waiters[1]) is not None


async def test_a_waiter_is_refused_when_its_wait_runs_out() -> None:
    door = gate(patience_s=0.05)
    held = await door.enter("ingest", "write")
    assert held is not None
    assert await door.enter("ingest", "write") is None
    door.leave(held[0], 0.01, held[1])
    assert held[0].in_flight == 0


async def test_a_full_queue_refuses_at_once() -> None:
    door = gate(max_queued=1, patience_s=5.0)
    assert await door.enter("ingest", "write") is not None
    waiting = asyncio.create_task(door.enter("ingest", "write"))
    await asyncio.sleep(0.01)
    refused = await asyncio.wait_for(door.enter("ingest", "write"), timeout=0.5)
    assert refused is None
    waiting.cancel()


async def test_behind_a_standing_queue_the_wait_is_cut_short() -> None:
    door = gate(max_queued=100, patience_s=5.0)
    held = await door.enter("ingest", "write")
    assert held is not None
    standing = asyncio.create_task(door.enter("ingest", "write"))
    await asyncio.sleep(0.15)  # the queue has not emptied for longer than a burst lasts
    began = asyncio.get_running_loop().time()
    assert await door.enter("ingest", "write") is None
    assert asyncio.get_running_loop().time() - began < 0.5
    standing.cancel()


async def test_a_waiter_whose_client_went_away_leaks_no_slot() -> None:
    door = gate(patience_s=5.0)
    held = await door.enter("ingest", "write")
    assert held is not None
    gone = asyncio.create_task(door.enter("ingest", "write"))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    door.leave(held[0], 0.01, held[1])
    assert held[0].in_flight == 0
    assert await door.enter("ingest", "write") is not None


async def test_a_cancelled_request_gives_its_slot_back_without_a_latency_sample() -> None:
    door = gate(limit=2)
    held = await door.enter("ingest", "write")
    assert held is not None
    limit = held[0].limit
    door.release(held[0])
    assert (held[0].in_flight, held[0].limit, held[0].smoothed_s) == (0, limit, None)
