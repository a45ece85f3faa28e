"""Settings of the gateway service."""

from pydantic_settings import SettingsConfigDict

from cxm_common.settings import CommonSettings


class Settings(CommonSettings):
    """Read from `CXM_GATEWAY_*`, falling back to the shared `CXM_*` names."""

    model_config = SettingsConfigDict(env_prefix="CXM_GATEWAY_", extra="ignore", frozen=True)
