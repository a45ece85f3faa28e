"""The one place that builds insight's collaborators from the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.service import Runtime
from cxm_insight.analysis import Analysis
from cxm_insight.config import Settings
from cxm_insight.customers import Customers
from cxm_insight.detector import Detector, DetectorSettings
from cxm_insight.discovery import Discovery
from cxm_insight.models_store import ModelStore
from cxm_insight.reanalysis import Reanalyzer
from cxm_insight.trainer import Trainer


@dataclass
class InsightContext:
    """Insight's collaborators for one process."""

    runtime: Runtime
    settings: Settings
    keyring: KeyRing
    models: ModelStore
    analysis: Analysis
    customers: Customers
    detector: Detector
    trainer: Trainer
    discovery: Discovery
    reanalyzer: Reanalyzer


_built: dict[int, InsightContext] = {}


def build(runtime: Runtime) -> InsightContext:
    """Wire insight from the runtime, once per runtime (the models are loaded once per process)."""
    found = _built.get(id(runtime))
    if found is not None and found.runtime is runtime:
        return found
    settings = runtime.settings
    assert isinstance(settings, Settings)
    if not settings.master_key:
        raise RuntimeError("CXM_MASTER_KEY is required by insight (it seals the redacted texts)")
    keyring = runtime.keyring or KeyRing(MasterKey(settings.master_key))
    models = ModelStore(threads=settings.analysis_threads, max_tokens=settings.max_tokens)
    analysis = Analysis(models, keyring)
    engine = runtime.engine
    detector = Detector(
        engine,
        DetectorSettings(
            window_h=settings.alert_window_h,
            baseline_windows=settings.alert_baseline_windows,
            alpha=settings.alert_alpha,
            min_count=settings.alert_min_count,
        ),
    )
    ctx = InsightContext(
        runtime=runtime,
        settings=settings,
        keyring=keyring,
        models=models,
        analysis=analysis,
        customers=Customers(keyring),
        detector=detector,
        trainer=Trainer(engine, keyring, models, min_labels=settings.train_min_labels),
        discovery=Discovery(
            engine,
            keyring,
            lookback_days=settings.theme_lookback_days,
            min_size=settings.theme_min_size,
            limit=settings.theme_max_texts,
        ),
        reanalyzer=Reanalyzer(engine, analysis),
    )
    _built.clear()
    _built[id(runtime)] = ctx
    return ctx
