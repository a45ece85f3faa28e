"""Settings of the ingest service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_INGEST_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_INGEST_", extra="ignore", frozen=True)

    public_base_url: str = "http://127.0.0.1:8080"
    rotation_grace_s: int = 24 * 3600
    delivery_retention_days: int = 14
    erasure_services: tuple[str, ...] = ("ingest", "insight", "journey")
    """The services whose part of an erasure must be done (each confirms with `<service>.customer.erased.v1`)."""
    review_api_hosts: tuple[str, ...] = (
        "androidpublisher.googleapis.com",
        "oauth2.googleapis.com",
        "api.appstoreconnect.apple.com",
    )
