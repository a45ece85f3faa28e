"""What a fault scenario is made of: its budget, the run it shares with the others, and its outcome."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.chaos import reconcile
from bench.chaos.reconcile import Baseline, Expected
from bench.chaos.system import ChaosSystem, Sampler
from bench.chaos.traffic import Tenant, Traffic, new_tenant


@dataclass(frozen=True)
class Budget:
    """Bounds of one run: load rates, windows and timeouts (`QUICK` is what the test suite runs)."""

    rate: float
    """Requests per second of the steady mixed load most scenarios send."""
    before_s: float
    """Load before a fault is injected."""
    fault_s: float
    """How long a server stays down (NATS killed, Postgres stopped)."""
    after_s: float
    """Load after the fault is repaired."""
    drain_timeout_s: float
    """The longest the backlog may take to drain before the scenario reports what was missing."""
    overload_step_s: float
    """Each offered rate of F9's capacity search, and a third of each 1×/2×/5× phase."""
    scenario_timeout_s: float
    """The hard limit on one scenario; past it the scenario is cancelled and reported failed."""


FULL = Budget(rate=40, before_s=3, fault_s=15, after_s=4, drain_timeout_s=90, overload_step_s=4,
              scenario_timeout_s=240)  # fmt: skip
QUICK = Budget(rate=30, before_s=2, fault_s=5, after_s=2, drain_timeout_s=45, overload_step_s=2,
               scenario_timeout_s=120)  # fmt: skip


@dataclass
class Check:
    """One promise, held or broken."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Outcome:
    """What one scenario measured and whether every promise held."""

    id: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    targets: list[Check] = field(default_factory=list)
    """Performance goals, reported met or missed (like the bench's targets) without failing the run."""
    recovery_s: dict[str, float | None] = field(default_factory=dict)
    max_rss_mb: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Every check held and nothing failed."""
        return self.error is None and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record a check; return whether it held."""
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def target(self, name: str, met: bool, detail: str = "") -> None:
        """Record a performance target, met or missed."""
        self.targets.append(Check(name, bool(met), detail))

    def broken(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]


@dataclass
class Run:
    """What every scenario gets: the system, a client, the budget, and fresh tenants on demand."""

    system: ChaosSystem
    session: aiohttp.ClientSession
    budget: Budget
    quick: bool
    sampler: Sampler | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def gateway(self) -> str:
        """The gateway's base URL."""
        return self.system.gateway_url

    async def tenant(self, name: str) -> Tenant:
        """A new tenant with a key and a signed webhook connection."""
        return await new_tenant(self.session, self.gateway, self.system.admin_token, f"{name}-{self.id}")

    def run_id(self, stem: str) -> str:
        """A prefix for external ids that no other run or scenario uses."""
        return f"{stem}-{self.id}-{secrets.token_hex(2)}"


ScenarioFn = Callable[[Run, Outcome], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    """One fault of RELIABILITY.md's table and how to run it."""

    id: str
    title: str
    must_hold: str
    run: ScenarioFn
    quick: bool = False
    """Part of the CI selection (`tests/chaos`)."""


CAPACITY = "at capacity"
"""The gateway's admission control says this when it sheds a request (the client retries it)."""


def standard_checks(outcome: Outcome, figures: dict[str, Any], *, refusals: str = "capacity") -> None:
    """The promises every scenario keeps: nothing acknowledged lost, no effect twice, every event projected,
    JetStream absorbed every re-publish, and no 5xx but 503.

    `refusals` says what the scenario tolerates on top: `capacity` — every request ends 2xx, and the only refusals
    on the way were the gateway shedding load for a moment (retried by the client); `unavailable` — processes were
    killed, so 503s with `Retry-After` may remain; `any` — the scenario checks its refusals itself.
    """
    outcome.check("lost = 0 (every acknowledged record is stored)", figures["lost"] == 0,
                  f"lost {figures['lost']}: {figures['lost_ids']}")  # fmt: skip
    outcome.check("duplicates leaked = 0", figures["leaked"] == 0, str(figures["duplicates_leaked"]))
    outcome.check(
        "every acknowledged record projected once by every service",
        figures["projected"] == figures["projected_wanted"],
        f"projected {figures['projected']} of {figures['projected_wanted']}",
    )
    # Copies the harness itself put on a stream under fresh message ids (F3) are not the relay's doing.
    injected = figures.get("injected") or {}
    unequal = {k for k, v in figures["published"].items() if v - injected.get(k, 0) != figures["appended"][k]}
    shown = f"published {figures['published']} (injected {injected}) vs appended {figures['appended']}"
    outcome.check("streams hold each appended event once (published = appended)", not unequal, shown)
    outcome.check("no 5xx but 503", figures["server_errors"] == 0, str(figures["statuses"]))
    if refusals == "capacity":
        outcome.check("every request answered 2xx (a client retrying what the gateway shed)",
                      figures["acked"] == figures["sent"], str(figures["statuses"]))  # fmt: skip
        other = {r: n for r, n in figures["refusal_reasons"].items() if CAPACITY not in r}
        outcome.check("no refusal but the gateway shedding load for a moment", not other, str(other))
    elif refusals == "unavailable":
        refused = {k for k in figures["statuses"] if not k.startswith("2")}
        outcome.check("every refusal a 503 with Retry-After", refused <= {"503"}, str(figures["statuses"]))


async def reconcile_into(
    run: Run,
    outcome: Outcome,
    base: Baseline,
    traffic: Traffic,
    expected: Expected,
    tenants: list[uuid.UUID],
    **kwargs: Any,
) -> dict[str, Any]:
    """Reconcile, put the figures in the outcome and return them."""
    figures = await reconcile.figures(
        run.system, base, traffic, expected, tenants, drain_timeout_s=run.budget.drain_timeout_s, **kwargs
    )
    outcome.figures.update(figures)
    return figures


def since(began: float) -> float:
    """Seconds since a `time.monotonic()` reading, rounded."""
    return round(time.monotonic() - began, 2)
