"""Admission control: how many requests each lane of an upstream may have in flight, adapted to its latency.

A lane (one service's reads, writes or batches) admits requests while fewer than its limit are in flight; the
others wait briefly for a slot (a burst passes) or are refused, so an overloaded service answers its accepted
requests at their usual pace instead of queueing everyone into timeouts. The limit grows by about one per round
trip while latency stays near the lane's no-load latency (a low quantile of its recent unqueued requests) and
shrinks as soon as it exceeds `tolerance` times that while at least `minimum` requests are in flight: requests
have started to queue inside the service. Samples of fewer requests at a time never move it, so slow but lightly
loaded routes never shrink it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SMOOTHING = 0.1
"""Weight of each new latency sample in the moving average compared with the no-load latency."""
DECREASE = 0.5
"""How much the limit shrinks per sample taken while the lane is queueing."""
NO_LOAD_QUANTILE = 0.1
"""The no-load latency is this quantile of a window's samples: robust to a lucky fastest one, and to noise."""
STANDING_S = 0.1
"""A queue that has not emptied for this long is standing: the lane is overloaded, not taking a burst."""
IMPATIENT_S = 0.01
"""How long a request waits for a slot behind a standing queue (CoDel's idea: keep the queue short)."""


@dataclass(slots=True)
class Lane:
    """The in-flight limit of one lane and what it learnt of the lane's latency."""

    minimum: int
    maximum: int
    tolerance: float
    window: int
    limit: float
    in_flight: int = 0
    queue_empty_at: float = 0.0
    """When the lane last had nobody waiting (monotonic seconds)."""
    smoothed_s: float | None = None
    no_load_s: float | None = None
    """A low quantile of the latencies of the last window of unqueued requests (None until one is complete)."""
    _window: list[float] = field(default_factory=list)

    def admit(self) -> int | None:
        """Take a slot: the number in flight once admitted, or None when the lane is full."""
        if self.in_flight >= int(self.limit):
            return None
        self.in_flight += 1
        return self.in_flight

    def patience(self, now: float, waiting: int, max_waiting: int, patient_s: float) -> float | None:
        """How long one more request may wait for a slot: None when the queue is full, a short wait when it has
        stood for a while (overload), else `patient_s` (a burst)."""
        if waiting >= max_waiting:
            return None
        if waiting == 0:
            self.queue_empty_at = now
        return min(patient_s, IMPATIENT_S) if now - self.queue_empty_at > STANDING_S else patient_s

    def done(self, latency_s: float | None, in_flight_when_admitted: int) -> None:
        """Give the slot back; `latency_s` is the upstream's time to answer (None when it did not answer)."""
        self.in_flight -= 1
        if latency_s is None:
            self.limit = max(float(self.minimum), self.limit - DECREASE)  # unanswered: the service is struggling
            return
        crowded = in_flight_when_admitted >= self.minimum
        # The no-load latency is learnt from requests that had little company (all of them until a first estimate):
        # under sustained overload it must not drift up to the queued latency it is there to detect.
        if not crowded or self.no_load_s is None:
            self._window.append(latency_s)
            if len(self._window) >= self.window:
                self._window.sort()
                self.no_load_s = self._window[int(NO_LOAD_QUANTILE * len(self._window))]
                self._window.clear()
        smoothed = latency_s if self.smoothed_s is None else self.smoothed_s + SMOOTHING * (latency_s - self.smoothed_s)
        self.smoothed_s = smoothed
        if not crowded:
            return  # a few requests at a time: slow answers are the routes', not a queue's
        if self.no_load_s is not None and smoothed > self.tolerance * self.no_load_s:
            self.limit = max(float(self.minimum), self.limit - DECREASE)
        elif 2 * in_flight_when_admitted >= self.limit:  # grow only a limit that is being used
            self.limit = min(float(self.maximum), self.limit + 1 / self.limit)


class Admission:
    """The lanes of every upstream, created on first use."""

    def __init__(self, *, minimum: int, maximum: int, tolerance: float, window: int = 200) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("admission limits need 1 ≤ minimum ≤ maximum")
        self.minimum = minimum
        self.maximum = maximum
        self.tolerance = tolerance
        self.window = window
        self._lanes: dict[tuple[str, str], Lane] = {}

    def lane(self, service: str, kind: str) -> Lane:
        """The lane of one service's `read`, `write` or `batch` requests."""
        key = (service, kind)
        found = self._lanes.get(key)
        if found is None:
            # It starts open: only evidence of queueing (latency rising with the lane full) narrows it.
            found = self._lanes[key] = Lane(self.minimum, self.maximum, self.tolerance, self.window, self.maximum)
        return found

    def lanes(self) -> dict[tuple[str, str], Lane]:
        """Every lane created so far."""
        return dict(self._lanes)


def lane_kind(method: str, batch: bool) -> str:
    """Which lane a request belongs to: batches apart, then reads apart from writes."""
    if batch:
        return "batch"
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"
