"""The gateway service as the runtime sees it: schema, migrations, routes, subscriptions, projections."""

from pathlib import Path

from cxm_common.service import ServiceSpec
from cxm_gateway.config import Settings

SPEC = ServiceSpec(
    name="gateway",
    title="cxm gateway",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8080,
    publishes=False,
)
