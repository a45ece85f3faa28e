"""Piecemeal updates of one aggregate converge to the in-order result, whatever order they are applied in."""

from __future__ import annotations

import itertools
from typing import Any

from cxm_common.newest import EVERY_FIELD, merge, reset

UPDATES: list[tuple[int, dict[str, Any]]] = [
    (1, {"segment": "bronze", "value": 10}),
    (2, {"segment": "silver", "team": "apac"}),
    (3, {"value": 250, "team": "emea"}),
    (4, {"segment": "gold", "plan": "pro"}),
]


def apply_all(order: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    versions: dict[str, int] = {}
    for version, changes in order:
        state, versions = merge(state, versions, changes, version)
    return state


def test_every_order_of_the_updates_gives_the_in_order_result() -> None:
    in_order = apply_all(UPDATES)
    assert in_order == {"segment": "gold", "value": 250, "team": "emea", "plan": "pro"}
    for order in itertools.permutations(UPDATES):
        assert apply_all(list(order)) == in_order


def test_a_redelivered_update_changes_nothing() -> None:
    state, versions = merge({}, {}, {"segment": "gold"}, 4)
    assert merge(state, versions, {"segment": "gold"}, 4) == (state, versions)


def test_a_reset_outranks_older_changes_arriving_after_it() -> None:
    state, versions = merge({}, {}, {"segment": "gold"}, 4)
    versions = reset(versions, 5)
    state, versions = merge({}, versions, {"segment": "bronze", "value": 10}, 3)
    assert state == {}
    assert versions == {EVERY_FIELD: 5}
    assert merge({}, versions, {"segment": "new"}, 6)[0] == {"segment": "new"}
