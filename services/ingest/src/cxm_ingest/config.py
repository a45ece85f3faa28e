"""Settings of the ingest service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_INGEST_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_INGEST_", extra="ignore", frozen=True)
