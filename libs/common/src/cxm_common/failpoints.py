"""Failpoints: named places where a fault test makes a process crash, fail or stall, armed by the environment only.

`CXM_FAILPOINTS="relay.after_publish_before_mark=kill@2; consumer.before_commit=raise"` arms points for one
process: `kill` sends the process SIGKILL (a crash with nothing flushed or closed), `raise` raises `FailpointError`,
`sleep:SECONDS` stalls the coroutine that reached the point. `@N` fires on the point's N-th hit only; without it,
on every hit. When the variable is unset, `reach` returns at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENV = "CXM_FAILPOINTS"

POINTS = {
    "consumer.before_commit": "a consumer applied a batch and is about to commit it",
    "consumer.after_commit_before_ack": "a consumer committed a batch and has not acked its messages yet",
    "relay.after_publish_before_mark": "the relay has JetStream's acks and has not deleted the outbox rows yet",
    "eventstore.after_append": "events are appended (positions taken) and the caller's transaction is still open",
}
ACTIONS = ("kill", "raise", "sleep")


class FailpointError(RuntimeError):
    """Raised by a point armed with `raise`."""


@dataclass
class Armed:
    """What one armed point does, and on which hit."""

    action: str
    seconds: float = 0.0
    on_hit: int | None = None
    hits: int = 0


def parse(spec: str) -> dict[str, Armed]:
    """Parse `name=action[@hit]` entries separated by `;` or `,`; ValueError for an unknown point or action."""
    armed: dict[str, Armed] = {}
    for entry in spec.replace(",", ";").split(";"):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, rest = entry.partition("=")
        name = name.strip()
        if not sep or name not in POINTS:
            raise ValueError(f"{ENV}: unknown failpoint {name!r} (known: {', '.join(sorted(POINTS))})")
        action, _, hit = rest.strip().partition("@")
        kind, _, argument = action.partition(":")
        if kind not in ACTIONS or (kind == "sleep") != bool(argument):
            raise ValueError(f"{ENV}: {entry!r} needs kill, raise or sleep:SECONDS, optionally @HIT")
        armed[name] = Armed(kind, float(argument) if argument else 0.0, int(hit) if hit else None)
    return armed


_armed: dict[str, Armed] = parse(os.environ.get(ENV, ""))


def arm(spec: str) -> None:
    """Replace the armed points (tests; processes read `CXM_FAILPOINTS` when this module is imported)."""
    global _armed
    _armed = parse(spec)


def hits(name: str) -> int:
    """How many times an armed point has been reached in this process."""
    armed = _armed.get(name)
    return armed.hits if armed else 0


async def reach(name: str) -> None:
    """Mark that execution reached `name`; crash, raise or stall if it is armed for this hit."""
    if not _armed:
        return
    armed = _armed.get(name)
    if armed is None:
        return
    armed.hits += 1
    if armed.on_hit is not None and armed.hits != armed.on_hit:
        return
    log.warning("failpoint %s reached (hit %d): %s", name, armed.hits, armed.action)
    if armed.action == "kill":
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    elif armed.action == "raise":
        raise FailpointError(f"failpoint {name}")
    else:
        await asyncio.sleep(armed.seconds)
