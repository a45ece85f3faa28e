"""Settings of the gateway."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_GATEWAY_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_GATEWAY_", extra="ignore", frozen=True)

    ingest_url: str = "http://127.0.0.1:8081"
    insight_url: str = "http://127.0.0.1:8082"
    journey_url: str = "http://127.0.0.1:8083"
    actions_url: str = "http://127.0.0.1:8084"
    admin_token: str = ""
    key_cache_ttl_s: float = 5.0
    rate_limit_per_s: float = 200.0
    rate_limit_burst: float = 400.0
    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 10 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    upstream_connect_timeout_s: float = 1.0
    upstream_timeout_s: float = 30.0
    upstream_pool_size: int = 256
    upstream_keepalive_s: float = 30.0
    """How long an idle pooled connection to a service is kept (services keep theirs open longer)."""
    admission_min_in_flight: int = 16
    """Each lane (a service's reads, writes, batches) may always have this many requests in flight: a floor high
    enough that latency raised by neighbours on a shared CPU (not by this lane's queue) never sheds moderate load."""
    admission_max_in_flight: int = 64
    """…and never more than this many; in between, the limit follows the service's latency."""
    admission_tolerance: float = 3.0
    """Latency (smoothed) above this multiple of the lane's no-load latency shrinks its limit."""
    admission_max_queued: int = 128
    """Requests that may wait for a slot in one lane; more are refused at once."""
    admission_queue_wait_s: float = 0.25
    """How long a request may wait for a slot (10 ms once the queue has not emptied for 100 ms: overload)."""
    admission_retry_after_s: int = 1
    internal_token_ttl_s: float = 60.0
    stream_token_ttl_s: float = 300.0
    stream_heartbeat_s: float = 15.0
    stream_resume_window_s: float = 900.0
    cors_origins: tuple[str, ...] = ()
