"""Every route in the merged `/openapi.json`, walked with two tenants' keys: no route leaks across tenants.

The walk reads the document at run time, so it covers each service's routes as soon as they exist.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cxm_common.auth import SCOPES
from tests.e2e.conftest import System

SKIPPED_PREFIXES = ("/v1/webhooks/", "/v1/admin/")  # signed by their source / the operator: tested on their own
STREAMING = {"/v1/stream"}
PARAM_RE = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Operation:
    """One method on one path of the API document."""

    method: str
    path: str
    spec: dict[str, Any]

    @property
    def scope(self) -> str | None:
        return self.spec.get("x-cxm-scope")

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    @property
    def params(self) -> list[str]:
        return PARAM_RE.findall(self.path)

    @property
    def ids_are_ours(self) -> bool:
        """Whether every path parameter is one of the system's UUIDs (a tenant's own key is any string)."""
        declared = {p["name"]: p.get("schema", {}) for p in self.spec.get("parameters", []) if p.get("in") == "path"}
        return all(declared.get(name, {}).get("format") == "uuid" for name in self.params)

    def url(self, values: dict[str, str]) -> str:
        return PARAM_RE.sub(lambda m: values[m.group(1)], self.path)


def operations(doc: dict[str, Any]) -> Iterator[Operation]:
    for path, item in sorted(doc["paths"].items()):
        if not path.startswith("/v1/") or path.startswith(SKIPPED_PREFIXES) or path in STREAMING:
            continue
        for method, spec in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield Operation(method.upper(), path, spec)


@dataclass
class Walk:
    """Two tenants and what the walk learned about them."""

    client: httpx.Client
    doc: dict[str, Any]
    a: dict[str, str]
    b: dict[str, str]

    def key(self, tenant: dict[str, str], scopes: list[str]) -> str:
        response = self.client.post(
            "/v1/api-keys", json={"name": "walk", "scopes": scopes}, headers=bearer(tenant["api_key"])
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def harvested_ids(self, tenant: dict[str, str]) -> set[str]:
        """Every `id` that the tenant's list routes return."""
        ids = {tenant["key_id"]}
        for op in operations(self.doc):
            if op.method == "GET" and not op.params:
                response = self.client.get(op.path, headers=bearer(tenant["api_key"]))
                if response.status_code == 200 and response.headers["content-type"].startswith("application/json"):
                    ids |= set(find_ids(response.json()))
        return ids


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _is_uuid(value: str) -> bool:
    """Records are named by UUIDs; other `id`s (a taxonomy's topic ids) are shared vocabulary, not a tenant's."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def find_ids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("id", "tenant_id") and isinstance(v, str) and _is_uuid(v):
                yield v
            yield from find_ids(v)
    elif isinstance(node, list):
        for v in node:
            yield from find_ids(v)


@pytest.fixture(scope="module")
def walk(system: System) -> Iterator[Walk]:
    with httpx.Client(base_url=system.gateway, timeout=15) as client:
        doc = client.get("/openapi.json").json()
        a, b = system.new_tenant("walk-a"), system.new_tenant("walk-b")
        yield Walk(client, doc, a, b)


def test_the_document_lists_the_gateways_routes_with_their_scopes(walk: Walk) -> None:
    ops = {(op.method, op.path): op for op in operations(walk.doc)}
    assert ops[("GET", "/v1/api-keys")].scope == "admin"
    assert all(op.scope in SCOPES for op in ops.values() if op.scope), "unknown scope in the document"


def test_without_a_key_every_route_is_401(walk: Walk) -> None:
    for op in operations(walk.doc):
        response = walk.client.request(op.method, op.url({p: str(uuid.uuid4()) for p in op.params}), json={})
        assert response.status_code == 401, (op, response.text)


def test_a_key_without_the_routes_scope_is_403(walk: Walk) -> None:
    for op in operations(walk.doc):
        if not op.scope:
            continue
        key = walk.key(walk.a, [s for s in SCOPES if s != op.scope])
        response = walk.client.request(
            op.method, op.url({p: str(uuid.uuid4()) for p in op.params}), json={}, headers=bearer(key)
        )
        assert response.status_code == 403, (op, response.text)


def test_a_revoked_key_is_401_everywhere(walk: Walk) -> None:
    key = walk.key(walk.a, list(SCOPES))
    key_id = next(k["id"] for k in all_keys(walk) if key.startswith(k["prefix"]))
    assert walk.client.delete(f"/v1/api-keys/{key_id}", headers=bearer(walk.a["api_key"])).status_code == 204
    for op in operations(walk.doc):
        response = walk.client.request(
            op.method, op.url({p: str(uuid.uuid4()) for p in op.params}), json={}, headers=bearer(key)
        )
        assert response.status_code == 401, (op, response.text)


def all_keys(walk: Walk) -> Iterator[dict[str, Any]]:
    """Every key of tenant a, page by page (the walk creates many)."""
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = walk.client.get("/v1/api-keys", params=params, headers=bearer(walk.a["api_key"])).json()
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


@pytest.mark.parametrize(("me", "other"), [("a", "b"), ("b", "a")])
def test_another_tenants_ids_are_404_and_lists_never_show_its_rows(walk: Walk, me: str, other: str) -> None:
    mine, theirs = getattr(walk, me), getattr(walk, other)
    their_ids = walk.harvested_ids(theirs) | {theirs["tenant_id"]}
    for op in operations(walk.doc):
        if op.params:
            for their_id in sorted(their_ids):
                response = walk.client.request(
                    op.method,
                    op.url(dict.fromkeys(op.params, their_id)),
                    headers=bearer(mine["api_key"]),
                    **({"json": {}} if op.has_body else {}),
                )
                if op.ids_are_ours:
                    expected = {404} if not op.has_body else {404, 422}
                    assert response.status_code in expected, (op, their_id, response.status_code, response.text)
                else:
                    # A tenant's own key names *my* customer of that key, never theirs: no other id of theirs shows.
                    assert response.status_code < 500, (op, their_id, response.text)
                    leaked = {i for i in their_ids - {their_id} if i in response.text}
                    assert not leaked, (op, leaked)
        elif op.method == "GET":
            response = walk.client.get(op.path, headers=bearer(mine["api_key"]))
            assert response.status_code < 500, (op, response.text)
            leaked = {i for i in their_ids if i in response.text} if response.status_code == 200 else set()
            assert not leaked, (op, leaked)


BAD_BODIES = [
    (b"{", "application/json"),
    (b'{"a": 1,}', "application/json"),
    (b'{"a": NaN}', "application/json"),
    (b'{"a": Infinity}', "application/json"),
    (b"\xef\xbb\xbf{}", "application/json"),
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'{"a": "\xff\xfe"}', "application/json"),
    (rb'{"a": "\ud800"}', "application/json"),
    (rb'{"a": "x\u0000y"}', "application/json"),
    (b'{"a": 1e309}', "application/json"),
    (b'{"a": ' + b"9" * 10_000 + b"}", "application/json"),
    (b"[" * 10_000 + b"]" * 10_000, "application/json"),
    (json.dumps({"items": list(range(100_000))}).encode(), "application/json"),
    (b"a=1", "application/x-www-form-urlencoded"),
    (b"<x/>", "application/xml"),
]
BAD_QUERIES = [
    "limit=1000000000",
    "limit=-1",
    "limit=abc",
    "cursor=%%%",
    "cursor=eyJ4Ijp9",
    "from=yesterday",
    "offset=-5",
]


def test_the_bad_input_corpus_gets_clear_4xx_never_5xx(walk: Walk) -> None:
    key = walk.a["api_key"]
    for op in operations(walk.doc):
        url = op.url({p: str(uuid.uuid4()) for p in op.params})
        if op.has_body:
            for body, content_type in BAD_BODIES:
                response = walk.client.request(
                    op.method, url, content=body, headers={**bearer(key), "content-type": content_type}
                )
                assert 400 <= response.status_code < 500, (op, body[:40], response.status_code, response.text)
                assert response.headers["content-type"] == "application/problem+json", (op, body[:40])
        declared = [p["name"] for p in op.spec.get("parameters", []) if p.get("in") == "query"]
        for query in [*BAD_QUERIES, *(f"{name}=%00" for name in declared), *(f"{name}=%FF" for name in declared)]:
            response = walk.client.request(op.method, f"{url}?{query}", headers=bearer(key))
            assert response.status_code < 500, (op, query, response.text)
        for bad_id in ("not-a-uuid", "1", "' OR 1=1 --", "%00"):
            if op.params:
                response = walk.client.request(op.method, op.url(dict.fromkeys(op.params, bad_id)), headers=bearer(key))
                assert response.status_code in (404, 422), (op, bad_id, response.status_code)
        if not op.has_body:
            continue
        oversize = walk.client.request(
            op.method,
            url,
            content=b"a" * (11 * 1024 * 1024),
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert oversize.status_code == 413, (op, oversize.status_code)
    huge_header = walk.client.get("/v1/api-keys", headers={**bearer(key), "X-Huge": "a" * 70_000})
    assert huge_header.status_code in (400, 431)
    unknown_method = walk.client.request("PROPFIND", "/v1/api-keys", headers=bearer(key))
    assert unknown_method.status_code == 405 and unknown_method.headers.get("allow")
