"""The journey service as the runtime sees it: schema, migrations, routes, subscriptions, projections."""

from pathlib import Path

from cxm_common.service import ServiceSpec
from cxm_journey.config import Settings

SPEC = ServiceSpec(
    name="journey",
    title="cxm journey",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8083,
    publishes=True,
)
