"""Which service owns which public path, and the body limit of each route."""

from __future__ import annotations

from dataclasses import dataclass

# Prefixes are whole path segments and disjoint, so their order does not matter.
OWNERS: dict[str, str] = {
    "/v1/webhooks": "ingest",
    "/v1/connections": "ingest",
    "/v1/feedback": "ingest",
    "/v1/interactions": "ingest",
    "/v1/customers": "ingest",
    "/v1/erasures": "ingest",
    "/v1/imports": "ingest",
    "/v1/insights": "insight",
    "/v1/journeys": "journey",
    "/v1/actions": "actions",
    "/v1/subscriptions": "actions",
}
BATCH_SUFFIXES = ("/batch", "/imports")
WEBHOOK_PREFIX = "/v1/webhooks"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a proxied request goes and how it is checked."""

    service: str
    webhook: bool
    body_limit: int
    batch: bool = False


def route_for(path: str, default_limit: int, batch_limit: int) -> Route | None:
    """Return the route of a public path owned by a service, or None when the gateway itself answers."""
    for prefix, service in OWNERS.items():
        if path == prefix or path.startswith(prefix + "/"):
            batch = path.endswith(BATCH_SUFFIXES) or prefix == "/v1/imports"
            limit = batch_limit if batch else default_limit
            return Route(service, webhook=prefix == WEBHOOK_PREFIX, body_limit=limit, batch=batch)
    return None
