"""Waiting for a slot in a service's lane: requests queue briefly behind a full lane, first come first served."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from cxm_gateway.domain.admission import Admission, Lane


class Gate:
    """Admits requests into lanes; those that find a lane full wait (bounded in number and time) or are refused."""

    def __init__(
        self, admission: Admission, *, max_queued: int, patience_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.admission = admission
        self.max_queued = max_queued
        self.patience_s = patience_s
        self.clock = clock
        self._queues: dict[int, deque[asyncio.Future[int]]] = {}

    async def enter(self, service: str, kind: str) -> tuple[Lane, int] | None:
        """A slot in the lane (with the number in flight once admitted), or None when the request must be refused."""
        lane = self.admission.lane(service, kind)
        queue = self._queues.setdefault(id(lane), deque())
        if not queue:  # nobody waiting: nobody to overtake
            admitted = lane.admit()
            if admitted is not None:
                return lane, admitted
        wait = lane.patience(self.clock(), len(queue), self.max_queued, self.patience_s)
        if wait is None:
            return None
        handed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        queue.append(handed)
        try:
            async with asyncio.timeout(wait):
                return lane, await asyncio.shield(handed)
        except TimeoutError:
            if handed.done():  # the slot came as the wait ran out: take it
                return lane, handed.result()
            self._forget(lane, queue, handed)
            return None
        except BaseException:  # the request was cancelled (its client went away) while it waited
            if handed.done() and not handed.cancelled():
                self.release(lane)
            else:
                self._forget(lane, queue, handed)
            raise

    def leave(self, lane: Lane, latency_s: float | None, admitted: int) -> None:
        """Give a slot back (with the upstream's latency, None if it did not answer) and hand it to the next waiter."""
        lane.done(latency_s, admitted)
        self._hand_over(lane)

    def release(self, lane: Lane) -> None:
        """Give a slot back without a latency sample (the request was cancelled)."""
        lane.in_flight -= 1
        self._hand_over(lane)

    def _hand_over(self, lane: Lane) -> None:
        queue = self._queues.get(id(lane))
        while queue and lane.in_flight < int(lane.limit):
            waiter = queue.popleft()
            if not waiter.done():
                lane.in_flight += 1
                waiter.set_result(lane.in_flight)
        if queue is not None and not queue:
            lane.queue_empty_at = self.clock()

    def _forget(self, lane: Lane, queue: deque[asyncio.Future[int]], handed: asyncio.Future[int]) -> None:
        handed.cancel()
        queue.remove(handed)
        if not queue:
            lane.queue_empty_at = self.clock()
