"""The fault scenarios that fit in CI's time, run by the same harness as `make chaos` (with its quick budget)."""

from __future__ import annotations

import json

import pytest

from bench.chaos.run import execute
from bench.chaos.scenario import QUICK
from bench.chaos.scenarios import ALL
from bench.chaos.system import ChaosSystem

pytestmark = pytest.mark.fault


async def holds(scenario_id: str, system: ChaosSystem) -> None:
    """Run one scenario and fail with every promise it found broken, and its figures."""
    scenario = next(s for s in ALL if s.id == scenario_id)
    outcome = await execute(system, scenario, QUICK, quick=True)
    broken = [f"{c.name}: {c.detail}" for c in outcome.broken()]
    assert outcome.ok, "\n".join([outcome.error or "", *broken, json.dumps(outcome.figures, default=str)[:3000]])
    assert outcome.figures["lost"] == 0 and outcome.figures["leaked"] == 0


def test_the_quick_selection_is_the_one_ci_runs() -> None:
    assert [s.id for s in ALL if s.quick] == ["F1", "F3", "F4", "F5"]


async def test_f1_a_nats_crash_loses_no_acknowledged_event_and_each_is_projected_once(
    chaos_system: ChaosSystem,
) -> None:
    await holds("F1", chaos_system)


async def test_f3_the_same_delivery_many_times_is_stored_and_projected_once(chaos_system: ChaosSystem) -> None:
    await holds("F3", chaos_system)


async def test_f4_events_of_one_customer_out_of_order_give_the_in_order_projections(
    chaos_system: ChaosSystem,
) -> None:
    await holds("F4", chaos_system)


async def test_f5_a_poison_message_is_dead_lettered_while_others_flow_and_a_redrive_applies_it(
    chaos_system: ChaosSystem,
) -> None:
    await holds("F5", chaos_system)
