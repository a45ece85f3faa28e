"""Builders for scripted journeys: steps staged by the default map, at offsets from a fixed start."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cxm_journey.domain.paths import Step
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP, StageMap, stage_of

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


class Journey:
    """A customer's steps, appended one by one with ids that keep their order."""

    def __init__(self, customer: str, m: StageMap = DEFAULT_STAGE_MAP) -> None:
        """An empty journey for `customer`, staged with map `m`."""
        self.customer = customer
        self.map = m
        self.steps: list[Step] = []

    def _id(self) -> str:
        """The next step id."""
        return f"{self.customer}-{len(self.steps):04d}"

    def did(self, name: str, at: datetime, *, touchpoint: str | None = None) -> Journey:
        """Add an interaction."""
        stage = stage_of(self.map, kind="interaction", name=name, touchpoint=touchpoint)
        self.steps.append(Step(self._id(), at, "interaction", name, stage))
        return self

    def said(self, at: datetime, *, touchpoint: str | None = None, **scores: Any) -> Journey:
        """Add a feedback with scores (nps, csat, ces, sentiment_score, sentiment_label, intent)."""
        stage = stage_of(self.map, kind="feedback", name=None, touchpoint=touchpoint)
        self.steps.append(Step(self._id(), at, "feedback", None, stage, **scores))
        return self


def shuffled(journeys: Mapping[str, Sequence[Step]], seed: int = 7) -> dict[str, list[Step]]:
    """The same journeys with each one's steps in a random order, customers in reverse order."""
    rng = random.Random(seed)
    out: dict[str, list[Step]] = {}
    for cid in reversed(list(journeys)):
        steps = list(journeys[cid])
        rng.shuffle(steps)
        out[cid] = steps
    return out
