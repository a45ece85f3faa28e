"""One API document: the gateway's own routes and every service's public routes, merged."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cxm_gateway.domain.routes import route_for

Fetch = Callable[[str], Awaitable[dict[str, Any] | None]]
_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["title", "status"],
}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in renames:
                return {**node, "$ref": f"#/components/schemas/{renames[name]}"}
        return {k: _rename_refs(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def merge(own: dict[str, Any], services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge service documents into the gateway's: only the paths each service owns, schemas renamed on clashes."""
    doc = copy.deepcopy(own)
    doc["info"] = {
        "title": "cxm API",
        "version": "1.0.0",
        "description": "Customer experience management: collect, analyze, find root causes, act, measure.",
    }
    paths: dict[str, Any] = doc.setdefault("paths", {})
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for service, spec in sorted(services.items()):
        incoming = spec.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.capitalize()}{name}"
            for name, schema in incoming.items()
            if name in schemas and schemas[name] != schema
        }
        for name, schema in incoming.items():
            schemas[renames.get(name, name)] = _rename_refs(schema, renames)
        for path, item in spec.get("paths", {}).items():
            route = route_for(path, 0, 0)
            if route is not None and route.service == service:
                paths[path] = _rename_refs(item, renames)
    schemas["Problem"] = _PROBLEM
    doc["components"]["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer cxm_…`."}
    }
    for path, item in paths.items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            if path.startswith("/v1/") and not path.startswith(("/v1/webhooks/", "/v1/admin/")):
                operation.setdefault("security", [{"apiKey": []}])
            if path.startswith("/v1/") and not path.startswith("/v1/webhooks/"):
                _document_problems(operation, method, has_params="{" in path)
    return doc


# Every error is `application/problem+json`; these are the statuses any API operation may answer, whatever its route:
# the gateway's authentication, scopes, limits and content checks, and the services' validation and state checks.
_ERRORS = {
    "400": "The request cannot be read (e.g. a cursor this API did not return).",
    "401": "No API key, or not a valid one.",
    "403": "The key lacks the scope this operation needs.",
    "413": "The request is too large.",
    "422": "The request is well-formed but invalid; `errors` says where.",
    "429": "Too many requests for this key: wait `Retry-After` seconds.",
    "503": "Temporarily unavailable (the database or a service): retry after `Retry-After` seconds.",
}


def _document_problems(operation: dict[str, Any], method: str, *, has_params: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    codes = dict(_ERRORS)
    if has_params:
        codes["404"] = "Nothing by that id for this tenant (another tenant's id is the same as none)."
    if has_params or method in ("post", "put", "patch", "delete"):
        codes["409"] = "The operation does not apply to the record's current state; `detail` says why."
    if method in ("post", "put", "patch", "delete"):
        codes["415"] = "Send `application/json`."
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for code, description in codes.items():
        responses[code] = {"description": description, "content": problem}


class MergedDocument:
    """The merged document, refreshed from the services at most every `ttl_s` seconds."""

    def __init__(self, own: Callable[[], dict[str, Any]], upstreams: dict[str, str], fetch: Fetch, ttl_s: float = 30):
        self.own = own
        self.upstreams = upstreams
        self.fetch = fetch
        self.ttl_s = ttl_s
        self._cached: tuple[bytes, float] | None = None

    async def render(self) -> bytes:
        """The merged document as JSON bytes."""
        now = time.monotonic()
        if self._cached and now - self._cached[1] < self.ttl_s:
            return self._cached[0]
        services = {}
        for service, url in self.upstreams.items():
            spec = await self.fetch(f"{url}/openapi.json")
            if spec:
                services[service] = spec
        body = json.dumps(merge(self.own(), services)).encode()
        # A document missing a service that is down is served but not kept, so it fills in once the service is up.
        if len(services) == len(self.upstreams):
            self._cached = (body, now)
        return body
