"""Typed settings: one `CommonSettings` subclass per service, each with its own env prefix."""

from __future__ import annotations

import os
from typing import Any

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

# Read by some services only, yet shared: one `CXM_<NAME>` serves each service that has the setting.
_SHARED_EXTRAS = ("admin_token", "public_base_url")


class CommonSettings(BaseSettings):
    """Settings shared by every service; a subclass sets `env_prefix`, e.g. `CXM_INGEST_`."""

    model_config = SettingsConfigDict(env_prefix="CXM_", extra="ignore", frozen=True)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/cxm"
    db_pool_size: int = 10
    db_max_overflow: int = 5
    db_pool_timeout_s: float = 5.0
    nats_url: str = DEFAULT_NATS_URL
    nats_prefix: str = ""
    host: str = "127.0.0.1"
    port: int | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    internal_token_secret: str = ""
    master_key: str = ""

    relay_batch_size: int = 1000
    relay_idle_poll_s: float = 0.02
    relay_max_idle_poll_s: float = 0.1
    stream_max_age_s: int = 7 * 24 * 3600
    stream_duplicate_window_s: int = 15 * 60
    stream_replicas: int = 1

    consumer_batch_size: int = 256
    consumer_max_deliver: int = 5
    consumer_backoff_s: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0)
    consumer_ack_wait_s: float = 30.0
    consumer_max_ack_pending: int = 2000

    @model_validator(mode="before")
    @classmethod
    def _shared_fallbacks(cls, data: Any) -> Any:
        """Fill unset values from the shared `CXM_*` variables (e.g. `CXM_DATABASE_URL`)."""
        if not isinstance(data, dict):
            return data
        for field, env_name in SHARED_FALLBACKS.items():
            if data.get(field) in (None, "") and os.environ.get(env_name):
                data[field] = os.environ[env_name]
        if isinstance(data.get("database_url"), str):
            data["database_url"] = normalise_database_url(data["database_url"])
        return data


SHARED_FALLBACKS = {name: f"CXM_{name.upper()}" for name in (*CommonSettings.model_fields, *_SHARED_EXTRAS)}
"""Setting → the shared variable a service reads when its own `CXM_<SERVICE>_<NAME>` is unset."""


def normalise_database_url(url: str) -> str:
    """Return `url` with the `postgresql+asyncpg` scheme that the engines use."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url
