"""The insight service as the runtime sees it: schema, migrations, routes, subscriptions, projections."""

from pathlib import Path

from cxm_common.service import ServiceSpec
from cxm_insight.config import Settings

SPEC = ServiceSpec(
    name="insight",
    title="cxm insight",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8082,
    publishes=True,
)
