"""UUIDv7 generation."""

import time
import uuid

from cxm_common.ids import deterministic_uuid, uuid7, uuid7_time_ms


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_embeds_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after + 1


def test_uuid7_is_strictly_increasing_within_a_process() -> None:
    values = [uuid7() for _ in range(20_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_deterministic_uuid_is_stable_and_distinguishes_parts() -> None:
    ns = uuid.UUID(int=1)
    assert deterministic_uuid(ns, "a", "b") == deterministic_uuid(ns, "a", "b")
    assert deterministic_uuid(ns, "a", "b") != deterministic_uuid(ns, "ab")
