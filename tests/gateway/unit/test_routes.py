"""Which service owns which path, and body limits."""

import pytest

from cxm_gateway.domain.routes import route_for


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/feedback", "ingest"),
        ("/v1/feedback/0190", "ingest"),
        ("/v1/webhooks/zendesk/abc", "ingest"),
        ("/v1/insights/metrics", "insight"),
        ("/v1/journeys/paths", "journey"),
        ("/v1/actions/rules", "actions"),
        ("/v1/subscriptions", "actions"),
    ],
)
def test_public_paths_go_to_their_owner(path: str, service: str) -> None:
    route = route_for(path, 1, 10)
    assert route is not None and route.service == service


@pytest.mark.parametrize("path", ["/v1/api-keys", "/v1/admin/tenants", "/v1/stream", "/v1/feedbackx", "/healthz"])
def test_the_gateways_own_and_unknown_paths_are_not_proxied(path: str) -> None:
    assert route_for(path, 1, 10) is None


def test_batch_and_import_routes_get_the_larger_limit() -> None:
    assert route_for("/v1/feedback/batch", 1, 10).body_limit == 10  # type: ignore[union-attr]
    assert route_for("/v1/feedback", 1, 10).body_limit == 1  # type: ignore[union-attr]


def test_only_webhook_paths_skip_api_keys() -> None:
    assert route_for("/v1/webhooks/typeform/x", 1, 10).webhook  # type: ignore[union-attr]
    assert not route_for("/v1/feedback", 1, 10).webhook  # type: ignore[union-attr]
