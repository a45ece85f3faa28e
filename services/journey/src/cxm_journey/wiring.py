"""The one place that builds journey's collaborators from the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from cxm_common.service import Runtime
from cxm_journey.config import Settings
from cxm_journey.detector import FrictionDetector, RiskSweep
from cxm_journey.stage_maps import Rederiver
from cxm_journey.timeline import StageMaps, Timeline


@dataclass
class JourneyContext:
    """Journey's collaborators for one process."""

    runtime: Runtime
    settings: Settings
    stage_maps: StageMaps
    timeline: Timeline
    rederiver: Rederiver
    friction: FrictionDetector
    risk: RiskSweep


_built: dict[int, JourneyContext] = {}


def build(runtime: Runtime) -> JourneyContext:
    """Wire journey from the runtime, once per runtime."""
    found = _built.get(id(runtime))
    if found is not None and found.runtime is runtime:
        return found
    settings = runtime.settings
    assert isinstance(settings, Settings)
    stage_maps = StageMaps()
    timeline = Timeline(stage_maps)
    ctx = JourneyContext(
        runtime=runtime,
        settings=settings,
        stage_maps=stage_maps,
        timeline=timeline,
        rederiver=Rederiver(runtime.engine, stage_maps, timeline),
        friction=FrictionDetector(runtime.engine, stage_maps, settings),
        risk=RiskSweep(runtime.engine, timeline),
    )
    _built.clear()
    _built[id(runtime)] = ctx
    return ctx
