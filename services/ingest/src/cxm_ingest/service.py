"""The ingest service as the runtime sees it: schema, migrations, routes, subscriptions, projections."""

from pathlib import Path

from cxm_common.service import ServiceSpec
from cxm_ingest.config import Settings

SPEC = ServiceSpec(
    name="ingest",
    title="cxm ingest",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8081,
    publishes=True,
)
