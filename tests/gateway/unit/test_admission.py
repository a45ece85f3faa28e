"""Admission control: a lane refuses at once beyond its limit, which follows the service's latency."""

from __future__ import annotations

import pytest

from cxm_gateway.domain.admission import Admission, Lane, lane_kind


def lane(limit: float = 8, minimum: int = 2, maximum: int = 32, window: int = 20) -> Lane:
    return Lane(minimum=minimum, maximum=maximum, tolerance=2.0, window=window, limit=limit)


def test_refuses_at_once_beyond_the_limit_and_admits_again_when_a_slot_frees() -> None:
    found = lane(limit=2)
    assert [found.admit(), found.admit(), found.admit()] == [1, 2, None]
    found.done(0.01, 1)
    assert found.admit() == 2


def test_queueing_latency_shrinks_the_limit_down_to_the_minimum() -> None:
    found = lane(limit=8)
    for _ in range(20):  # a window at the usual latency teaches the no-load latency
        found.done(0.01, 8) if found.admit() else None
    for _ in range(40):
        found.admit()
        found.done(0.2, 8)  # twenty times slower while the lane is full: requests queue in the service
    assert found.limit == 2


def test_latency_near_the_no_load_level_grows_the_limit_up_to_the_maximum() -> None:
    found = lane(limit=4, maximum=6)
    for _ in range(500):
        found.admit()
        found.done(0.01, int(found.limit))
    assert found.limit == 6


def test_slow_answers_of_a_lightly_loaded_lane_leave_the_limit_alone() -> None:
    found = lane(limit=8)
    for _ in range(20):
        found.admit()
        found.done(0.01, 1)
    for _ in range(50):
        found.admit()
        found.done(0.5, 1)  # slow, but alone in flight: not our queue
    assert found.limit == 8


def test_an_unanswered_request_shrinks_the_limit() -> None:
    found = lane(limit=8)
    found.admit()
    found.done(None, 1)
    assert found.limit < 8


def test_lanes_are_per_service_and_kind_and_start_within_bounds() -> None:
    admission = Admission(minimum=4, maximum=10, tolerance=3.0)
    assert admission.lane("ingest", "write") is admission.lane("ingest", "write")
    assert admission.lane("ingest", "write") is not admission.lane("ingest", "read")
    assert admission.lane("insight", "read").limit == 10
    with pytest.raises(ValueError):
        Admission(minimum=0, maximum=10, tolerance=3.0)


@pytest.mark.parametrize(
    ("method", "batch", "kind"),
    [("GET", False, "read"), ("HEAD", False, "read"), ("POST", False, "write"), ("DELETE", False, "write"),
     ("POST", True, "batch")],
)  # fmt: skip
def test_batches_reads_and_writes_have_lanes_of_their_own(method: str, batch: bool, kind: str) -> None:
    assert lane_kind(method, batch) == kind
