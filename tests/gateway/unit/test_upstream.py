"""The pool of connections to the services."""

from __future__ import annotations

from cxm_common.service import KEEP_ALIVE_S
from cxm_gateway.config import Settings


def test_services_keep_idle_connections_longer_than_the_gateway_reuses_them() -> None:
    # Otherwise a service may close a connection just as the gateway sends a request on it.
    assert Settings().upstream_keepalive_s < KEEP_ALIVE_S
