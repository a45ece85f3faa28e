"""Steps become visits to stages and transitions between them, whatever order they arrive in."""

from __future__ import annotations

import random
from collections import Counter

from cxm_journey.domain.paths import Step, Visit, order_steps, transitions, visits

from .journeys import DAY, HOUR, T0, Journey, shuffled

# Scripted paths, their interaction names and how many customers follow each.
PATHS: list[tuple[int, list[str]]] = [
    (400, ["page_viewed", "pricing_viewed", "checkout_started", "order_placed", "signup_completed", "login"]),
    (200, ["ad_clicked", "page_viewed", "demo_requested"]),
    (200, ["login", "ticket_opened", "ticket_replied", "feature_used", "chat_started", "login", "feature_used"]),
    (100, ["login", "invoice_sent", "payment_failed", "subscription_cancelled"]),
    (100, ["order_placed", "onboarding_started"]),
]
EXPECTED_TRANSITIONS = {
    ("awareness", "consideration"): 600,
    ("consideration", "purchase"): 400,
    ("purchase", "onboarding"): 500,
    ("onboarding", "usage"): 400,
    ("usage", "support"): 400,
    ("support", "usage"): 400,
    ("usage", "billing"): 100,
    ("billing", "churned"): 100,
}


def population(seed: int = 3) -> dict[str, list[Step]]:
    """1,000 customers on the scripted paths, with random gaps and unstaged feedback sprinkled in."""
    rng = random.Random(seed)
    journeys: dict[str, list[Step]] = {}
    n = 0
    for count, names in PATHS:
        for _ in range(count):
            j = Journey(f"c{n:04d}")
            at = T0 + rng.random() * 30 * DAY
            if rng.random() < 0.3:
                j.said(at - HOUR, nps=5)
            for name in names:
                at += rng.uniform(0.1, 5.0) * DAY
                j.did(name, at)
                if rng.random() < 0.3:
                    j.said(at + HOUR, nps=rng.randint(0, 10))
            journeys[j.customer] = j.steps
            n += 1
    return journeys


def all_transitions(journeys: dict[str, list[Step]]) -> Counter[tuple[str, str]]:
    """How often each (from, to) move happens over all journeys."""
    return Counter((a, b) for steps in journeys.values() for a, b, _ in transitions(visits(steps)))


def test_transition_counts_on_scripted_paths_are_exact() -> None:
    assert all_transitions(population()) == EXPECTED_TRANSITIONS


def test_shuffled_steps_give_identical_visits_and_transitions() -> None:
    journeys = population()
    mixed = shuffled(journeys)

    for cid, steps in journeys.items():
        assert visits(mixed[cid]) == visits(steps)
        assert transitions(visits(mixed[cid])) == transitions(visits(steps))


def test_a_visit_is_a_run_of_one_stage_ended_by_the_next_stage() -> None:
    j = (
        Journey("c")
        .did("page_viewed", T0)
        .did("pricing_viewed", T0 + HOUR)
        .did("demo_requested", T0 + 2 * HOUR)
        .did("checkout_started", T0 + 3 * HOUR)
    )

    vs = visits(j.steps)

    assert [(v.stage, v.entered_at, v.exited_at, v.next_stage) for v in vs] == [
        ("awareness", T0, T0 + HOUR, "consideration"),
        ("consideration", T0 + HOUR, T0 + 3 * HOUR, "purchase"),
        ("purchase", T0 + 3 * HOUR, None, None),
    ]
    assert [s.name for s in vs[1].steps] == ["pricing_viewed", "demo_requested"]
    assert vs[2].last_at == T0 + 3 * HOUR


def test_unstaged_steps_join_the_visit_in_progress_and_are_dropped_before_any() -> None:
    j = (
        Journey("c")
        .said(T0, nps=3)
        .did("login", T0 + HOUR)
        .said(T0 + 2 * HOUR, nps=9)
        .did("unmapped_thing", T0 + 3 * HOUR)
        .did("ticket_opened", T0 + 4 * HOUR)
    )

    vs = visits(j.steps)

    assert [v.stage for v in vs] == ["usage", "support"]
    assert [s.id for s in vs[0].steps] == ["c-0001", "c-0002", "c-0003"]
    assert vs[0].exited_at == T0 + 4 * HOUR
    assert vs[0].last_at == T0 + 3 * HOUR


def test_returning_to_a_stage_is_a_new_visit() -> None:
    j = Journey("c").did("login", T0).did("ticket_opened", T0 + DAY).did("login", T0 + 2 * DAY)

    assert [v.stage for v in visits(j.steps)] == ["usage", "support", "usage"]
    assert transitions(visits(j.steps)) == [("usage", "support", T0 + DAY), ("support", "usage", T0 + 2 * DAY)]


def test_steps_at_the_same_time_are_ordered_by_id() -> None:
    a = Step("b", T0, "interaction", "login", "usage")
    b = Step("a", T0, "interaction", "ticket_opened", "support")

    assert order_steps([a, b]) == [b, a]
    assert [v.stage for v in visits([a, b])] == ["support", "usage"]


def test_no_steps_or_only_unstaged_ones_make_no_visits() -> None:
    assert visits([]) == []
    assert visits(Journey("c").said(T0, nps=4).steps) == []
    assert transitions([]) == []


def test_the_last_visit_is_still_open() -> None:
    vs = visits(Journey("c").did("login", T0).steps)

    assert vs == [Visit("usage", T0, None, None, vs[0].steps)]
    assert transitions(vs) == []
