"""A customer's path: steps in time order, the visits to stages they make up, and the transitions between them.

Steps are ordered by (time, id), so the order they arrived in never matters and ties break the same way each time.
A visit is a run of consecutive steps in one stage; it ends when a step of another stage starts the next one.
A step without a stage (feedback at no mapped touchpoint) belongs to the visit in progress; before the first staged
step there is no visit, and such steps are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happened to a customer: an interaction or a feedback, with its stage and any scores."""

    id: str
    at: datetime
    kind: str
    name: str | None
    stage: str | None
    channel: str | None = None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    sentiment_score: float | None = None
    sentiment_label: str | None = None
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """A stay in one stage: when it began, when and to where it was left (None while it lasts), and its steps."""

    stage: str
    entered_at: datetime
    exited_at: datetime | None
    next_stage: str | None
    steps: tuple[Step, ...]

    @property
    def last_at(self) -> datetime:
        """The time of the visit's last step."""
        return self.steps[-1].at


def order_steps(steps: Iterable[Step]) -> list[Step]:
    """The steps by (time, id)."""
    return sorted(steps, key=lambda s: (s.at, s.id))


def visits(steps: Iterable[Step]) -> list[Visit]:
    """The visits the steps make up, in time order (see the module docstring)."""
    out: list[Visit] = []
    stage: str | None = None
    entered: datetime | None = None
    run: list[Step] = []
    for step in order_steps(steps):
        if step.stage is None or step.stage == stage:
            if stage is not None:
                run.append(step)
            continue
        if stage is not None and entered is not None:
            out.append(Visit(stage, entered, step.at, step.stage, tuple(run)))
        stage, entered, run = step.stage, step.at, [step]
    if stage is not None and entered is not None:
        out.append(Visit(stage, entered, None, None, tuple(run)))
    return out


def transitions(visits: Sequence[Visit]) -> list[tuple[str, str, datetime]]:
    """The moves between stages as (from, to, at), in time order."""
    return [
        (v.stage, v.next_stage, v.exited_at) for v in visits if v.next_stage is not None and v.exited_at is not None
    ]
