"""Settings of the ingest service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_INGEST_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_INGEST_", extra="ignore", frozen=True)

    public_base_url: str = "http://127.0.0.1:8080"
    rotation_grace_s: int = 24 * 3600
    delivery_retention_days: int = 14
    erasure_services: tuple[str, ...] = ("ingest", "insight", "journey", "actions")
    """The services whose part of an erasure must be done (each confirms with `<service>.customer.erased.v1`)."""
    group_commit_max_batch: int = 200
    """Single records (`POST /v1/feedback`, `/v1/interactions`) of one tenant stored together in one transaction."""
    group_commit_flushes_per_tenant: int = 2
    """Transactions of single records one tenant may have in flight in one process."""
    group_commit_max_waiting: int = 5_000
    """Single records waiting for a transaction in one process; beyond that a request is answered 503."""
    review_api_hosts: tuple[str, ...] = (
        "androidpublisher.googleapis.com",
        "oauth2.googleapis.com",
        "api.appstoreconnect.apple.com",
    )
