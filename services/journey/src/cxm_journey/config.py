"""Settings of the journey service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_JOURNEY_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_JOURNEY_", extra="ignore", frozen=True)

    repeat_window_h: float = 7 * 24
    """A support contact followed by another from the same customer within this window was not resolved first time."""
    abandon_after_h: float = 7 * 24
    """A stay in a non-final stage with nothing after it for this long counts as abandoned."""
    friction_interval_s: float = 300.0
    friction_window_days: int = 30
    friction_min_impact: float = 1.0
    risk_interval_s: float = 900.0
    consumer_batch_size: int = 2000
    """Events per fetch: a batch's cost is mostly per customer and per statement, not per event."""
    consumer_max_ack_pending: int = 4000
    """Room for the batch in hand and the one fetched ahead."""
    consumer_lanes: int = 2
    """Transactions each batch of interactions or feedback is split into by customer and applied concurrently."""
