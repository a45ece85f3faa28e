"""Settings of the insight service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_INSIGHT_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_INSIGHT_", extra="ignore", frozen=True)

    analysis_threads: int = 1
    """Threads the model may use per process (scale out with replicas rather than threads)."""
    max_tokens: int = 256
    alert_interval_s: float = 2.0
    alert_window_h: int = 24
    alert_baseline_windows: int = 28
    alert_alpha: float = 0.001
    alert_min_count: int = 5
    theme_interval_s: float = 600.0
    theme_lookback_days: int = 30
    theme_min_size: int = 15
    theme_max_texts: int = 3000
    train_interval_s: float = 2.0
    train_min_labels: int = 20
    reanalysis_rate: float = 50.0
    """Feedback re-analysed per second by a re-analysis job (it shares the CPU with live analysis)."""
