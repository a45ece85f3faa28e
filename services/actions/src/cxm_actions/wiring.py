"""The one place that builds actions' collaborators from the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cxm_actions.automation import Automation
from cxm_actions.config import Settings
from cxm_actions.timers import Clock, ImpactWatch, SlaWatch
from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.service import Runtime


@dataclass
class ActionsContext:
    """Actions' collaborators for one process."""

    runtime: Runtime
    settings: Settings
    keyring: KeyRing
    clock: Clock
    automation: Automation
    sla: SlaWatch
    impact: ImpactWatch


_built: dict[int, ActionsContext] = {}


def build(runtime: Runtime) -> ActionsContext:
    """Wire actions from the runtime, once per runtime."""
    found = _built.get(id(runtime))
    if found is not None and found.runtime is runtime:
        return found
    settings = runtime.settings
    assert isinstance(settings, Settings)
    if not settings.master_key:
        raise RuntimeError("CXM_MASTER_KEY is required by actions (it seals feedback texts and comments)")
    keyring = runtime.keyring or KeyRing(MasterKey(settings.master_key))
    clock = Clock()
    ctx = ActionsContext(
        runtime=runtime,
        settings=settings,
        keyring=keyring,
        clock=clock,
        automation=Automation(keyring, clock.now, max_age=timedelta(days=settings.automation_max_age_days)),
        sla=SlaWatch(runtime.engine, clock),
        impact=ImpactWatch(runtime.engine, clock, timedelta(days=settings.impact_window_days)),
    )
    _built.clear()
    _built[id(runtime)] = ctx
    return ctx
