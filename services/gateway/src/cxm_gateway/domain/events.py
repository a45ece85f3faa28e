"""Facts the gateway records about tenants and keys, as event types and payloads."""

from __future__ import annotations

TENANT_CREATED = "gateway.tenant.created.v1"
KEY_CREATED = "gateway.api_key.created.v1"
KEY_REVOKED = "gateway.api_key.revoked.v1"
