"""Settings of the actions service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_ACTIONS_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_ACTIONS_", extra="ignore", frozen=True)

    automation_max_age_days: int = 30
    """Feedback older than this when it arrives (imported history) opens no close-loop item."""
    sla_interval_s: float = 15.0
    impact_interval_s: float = 300.0
    impact_window_days: int = 28
    outbound_interval_s: float = 1.0
    outbound_timeout_s: float = 10.0
    outbound_max_attempts: int = 8
    outbound_concurrency: int = 16
    outbound_allow_private: bool = False
    """Allow webhook targets on loopback, private or link-local addresses (the internal services listen there)."""
    outbound_allowed_hosts: tuple[str, ...] = ()
    """Hosts allowed even when they resolve to private addresses (e.g. an in-cluster helpdesk)."""
