"""The actions service as the runtime sees it: schema, migrations, routes, subscriptions, projections."""

from pathlib import Path

from cxm_actions.config import Settings
from cxm_common.service import ServiceSpec

SPEC = ServiceSpec(
    name="actions",
    title="cxm actions",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8084,
    publishes=True,
)
