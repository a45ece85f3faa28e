"""Every route in the merged `/openapi.json`, walked with two tenants' keys: no route leaks across tenants.

The walk reads the document at run time, so it covers each service's routes as soon as they exist.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxm_common.auth import SCOPES
from tests.e2e.conftest import System
from tests.ingest import signers

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


class PatientTransport(httpx.HTTPTransport):
    """Waits out a 429 as a well-behaved client does: the walk sends faster than one key's rate limit allows."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """The response, once it is not a 429 (at most five waits of `Retry-After` seconds)."""
        for _ in range(5):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            time.sleep(float(response.headers.get("retry-after", "1")))
        return super().handle_request(request)


@pytest.fixture(scope="module")
def walk(system: System) -> Iterator[Walk]:
    with httpx.Client(base_url=system.gateway, timeout=15, transport=PatientTransport()) as client:
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


def chunks(body: bytes, size: int = 65_536) -> Iterator[bytes]:
    """The body as a stream, so the request carries no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_an_oversized_body_without_content_length_is_413(walk: Walk) -> None:
    oversized = b"a" * (11 * 1024 * 1024)
    for op in operations(walk.doc):
        if op.has_body:
            url = op.url({p: str(uuid.uuid4()) for p in op.params})
            headers = {**bearer(walk.a["api_key"]), "content-type": "application/json"}
            response = walk.client.request(op.method, url, content=chunks(oversized), headers=headers)
            assert response.status_code == 413, (op, response.status_code)


UNICODE_TEXTS = [
    "\u202eright-to-left override\u202c and \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "zero\u200bwidth\u200c\u200djoiners\ufeff and \U0001f469\u200d\U0001f469\u200d\U0001f467",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0364\u0349\u0324 and \u1100\u1161\u11a8",
]
INJECTIONS = [
    "' OR 1=1 --",
    '<script>alert("x")</script>',
    "{{7*7}} ${7*7}",
    "${jndi:ldap://127.0.0.1:9/a}",
    '=HYPERLINK("https://example.invalid","click")',
    "+1+2",
    "-3+4",
    "@SUM(1,1)",
]


def test_unicode_and_injection_text_is_stored_verbatim_and_escaped_in_csv(walk: Walk) -> None:
    headers = bearer(walk.a["api_key"])
    sent = {}
    for text in UNICODE_TEXTS + INJECTIONS:
        made = walk.client.post("/v1/feedback", json={"channel": "chat", "text": text}, headers=headers)
        assert made.status_code == 202, (text, made.text)
        sent[made.json()["id"]] = text
    for feedback_id, text in sent.items():
        read = walk.client.get(f"/v1/feedback/{feedback_id}", headers=headers)
        assert read.headers["content-type"].startswith("application/json")
        assert read.json()["text"] == text
    export = walk.client.get("/v1/feedback/export", params={"format": "csv"}, headers=headers)
    rows = {row["id"]: row["text"] for row in csv.DictReader(io.StringIO(export.text))}
    for feedback_id, text in sent.items():
        # A spreadsheet runs a cell that starts with = + - @ as a formula: the export quotes it with a leading '.
        expected = "'" + text if text.startswith(("=", "+", "-", "@")) else text
        assert rows[feedback_id] == expected, (text, rows[feedback_id])


def test_a_tenant_id_in_the_body_or_in_spoofed_headers_changes_nothing(walk: Walk) -> None:
    mine, theirs = walk.a, walk.b
    spoofed = {
        **bearer(mine["api_key"]),
        "X-Tenant-Id": theirs["tenant_id"],
        "X-Tenant": theirs["tenant_id"],
        "X-Forwarded-For": "10.0.0.1",
        "X-Forwarded-Host": "internal.invalid",
        "X-Forwarded-Proto": "https",
        "X-Cxm-Tenant": theirs["tenant_id"],
        "X-Real-IP": "10.0.0.1",
        "Forwarded": "for=10.0.0.1;host=internal.invalid",
    }
    body = {"channel": "chat", "text": "whose is this?", "tenant_id": theirs["tenant_id"]}
    made = walk.client.post("/v1/feedback", json=body, headers=spoofed)
    assert made.status_code in (202, 422), made.text  # ignored, or refused as an unknown field: never stored as B's
    made = walk.client.post("/v1/feedback", json={"channel": "chat", "text": "whose is this?"}, headers=spoofed)
    assert made.status_code == 202, made.text
    feedback_id = made.json()["id"]
    assert walk.client.get(f"/v1/feedback/{feedback_id}", headers=bearer(mine["api_key"])).status_code == 200
    assert walk.client.get(f"/v1/feedback/{feedback_id}", headers=bearer(theirs["api_key"])).status_code == 404
    listed = walk.client.get("/v1/feedback", headers=spoofed).json()["items"]
    assert all(item["tenant_id"] == mine["tenant_id"] for item in listed if "tenant_id" in item)
    assert feedback_id in {item["id"] for item in listed}


def cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


SOME_ID = "01a20777-e993-7429-8e93-9dbf9bda5d14"
TAMPERED_CURSORS = [
    cursor({"at": 1, "id": 2}),
    cursor({"at": "yesterday", "id": SOME_ID}),
    cursor({"at": "2026-01-01T00:00:00+00:00", "id": "not-a-uuid"}),
    cursor({"at": "2026-01-01T00:00:00+00:00"}),
    cursor({}),
    cursor([]),
    cursor({"at": None, "id": None}),
    cursor({"at": {"$gt": ""}, "id": [SOME_ID]}),
    "!!!",
]
# Times Python reads but Postgres cannot hold once they are moved to UTC (year 0 and year 10000).
OUT_OF_RANGE_CURSORS = [
    cursor({"at": "0001-01-01T00:00:00+14:00", "id": SOME_ID}),
    cursor({"at": "9999-12-31T23:59:59-14:00", "id": SOME_ID}),
]
CURSOR_ROUTES: dict[str, str | None] = {
    "/v1/api-keys": None,
    "/v1/actions": None,
    "/v1/feedback": None,
    # No subscription can be made on loopback (its URL must resolve to a public address): an unknown one is a 404.
    "/v1/subscriptions/{subscription_id}/deliveries": None,
}


def test_the_tampered_cursor_corpus_covers_every_route_with_a_cursor(walk: Walk) -> None:
    with_cursor = {
        op.path
        for op in operations(walk.doc)
        if any(p.get("name") == "cursor" for p in op.spec.get("parameters", []) if p.get("in") == "query")
    }
    assert with_cursor == set(CURSOR_ROUTES)


def cursor_statuses(walk: Walk, path: str, cursors: list[str]) -> list[tuple[str, int, str]]:
    url = PARAM_RE.sub(lambda m: str(uuid.uuid4()), path)
    expected = {400, 404} if "{" in path else {400}
    answers = [(c, walk.client.get(url, params={"cursor": c}, headers=bearer(walk.a["api_key"]))) for c in cursors]
    return [(c, r.status_code, r.text) for c, r in answers if r.status_code not in expected]


@pytest.mark.parametrize("path", sorted(CURSOR_ROUTES))
def test_a_tampered_cursor_is_a_400(walk: Walk, path: str) -> None:
    assert not cursor_statuses(walk, path, TAMPERED_CURSORS)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [])
        for path, bug in sorted(CURSOR_ROUTES.items())
    ],
)
def test_a_cursor_naming_a_time_postgres_cannot_hold_is_a_400(walk: Walk, path: str) -> None:
    assert not cursor_statuses(walk, path, OUT_OF_RANGE_CURSORS)


# --- Webhooks: every source, on a real connection, signed as the source signs -------------------------------------

WEBHOOK_FIXTURES = Path(__file__).parents[1] / "ingest" / "fixtures" / "webhooks"
SALESFORCE_ORG = "00D5g000004ExAm"  # the fixture's 18-character org id, in its 15-character form
GENERIC_EVENT = b'{"type": "feedback", "data": {"channel": "chat", "customer": {"id": "hook-1"}, "text": "hello"}}'
XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]><lolz>&lol9;</lolz>"
)
XML_BAD_BODIES = [
    XML_BOMB,
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><x/>',
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envel',
    b"<a>" * 10_000 + b"</a>" * 10_000,
    b"<x>\xff\xfe</x>",
    b"<x>\x00</x>",
    b"",
    b"{}",
]
FORM_BAD_BODIES = [
    b"Body=%FF%FE&From=%2B1",
    b"Body=a%00b&From=%2B1&MessageSid=SMx",
    b"&".join([b"a=1"] * 100_000),
    b"=",
]
SIGNS_TIME = {"zendesk", "hubspot", "generic"}


@dataclass
class Hook:
    """A real connection of one source, and how that source would sign a request to it."""

    source: str
    connection: dict[str, Any]
    valid: bytes
    content_type: str
    secret: str

    @property
    def public_url(self) -> str:
        """The URL the source is told to call, which some sources sign."""
        return str(self.connection["webhook_url"])

    @property
    def path(self) -> str:
        return "/" + self.public_url.split("/", 3)[3]

    def signed(self, body: bytes, *, content_type: str | None = None, at: int = 0) -> tuple[str, dict[str, str]]:
        """The path (with any signed query) and headers of an authentic request carrying `body`, signed `at` s off."""
        content_type = content_type or self.content_type
        now = int(time.time()) + at
        s, path, headers = self.secret, self.path, {"content-type": content_type}
        if self.source == "zendesk":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            headers |= signers.zendesk_headers(s, body, stamp)
        elif self.source == "hubspot":
            if at:
                headers |= signers.hubspot_headers(s, self.public_url, body, str(now * 1000))
            else:  # v1 signs the raw bytes, so it can sign anything a test sends
                signature = hashlib.sha256(s.encode() + body).hexdigest()
                headers |= {"x-hubspot-signature-version": "v1", "x-hubspot-signature": signature}
        elif self.source == "intercom":
            headers |= signers.intercom_headers(s, body)
        elif self.source == "typeform":
            headers |= signers.typeform_headers(s, body)
        elif self.source == "surveymonkey":
            api_key, api_secret = s.split("&")
            headers |= signers.surveymonkey_headers(api_key, api_secret, body)
        elif self.source == "freshdesk":
            headers |= signers.freshdesk_headers(self.connection["config"]["username"], s)
        elif self.source == "twilio":
            if content_type.startswith("application/x-www-form-urlencoded"):
                headers |= signers.twilio_headers(s, self.public_url, body.decode("utf-8", "replace"))
            else:
                url, signed = signers.twilio_json_request(s, self.public_url, body)
                headers |= signed
                path += url[len(self.public_url) :]
        elif self.source == "generic":
            headers |= signers.standard_webhooks_headers(s, f"msg_{hashlib.sha256(body).hexdigest()}", str(now), body)
        headers["content-type"] = content_type
        return path, headers

    def forgeries(self) -> Iterator[tuple[str, str, dict[str, str], bytes]]:
        """Requests with the valid body that no holder of the secret sent: (what, path, headers, body)."""
        path, headers = self.signed(self.valid)
        signature = next((k for k in SIGNATURE_HEADERS if k in headers), None)
        if signature:
            value = headers[signature]
            yield "missing signature", path, {k: v for k, v in headers.items() if k != signature}, self.valid
            yield "empty signature", path, {**headers, signature: ""}, self.valid
            yield "truncated signature", path, {**headers, signature: value[: len(value) // 2]}, self.valid
            yield "wrong scheme", path, {**headers, signature: "sha512=" + value.split("=", 1)[-1]}, self.valid
            wrong = Hook(self.source, self.connection, self.valid, self.content_type, _wrong_secret(self))
            yield "wrong secret", *wrong.signed(self.valid), self.valid
            if self.content_type == "application/json" and signature != "authorization":  # Basic auth signs no body
                reserialised = json.dumps(json.loads(self.valid), separators=(",", ":")).encode()
                yield "signed, then re-serialised", path, headers, reserialised
        else:  # the URL token is the secret
            base, token = path.rsplit("/", 1)
            yield "missing URL token", base, headers, self.valid
            yield "wrong URL token", f"{base}/{token[::-1]}", headers, self.valid
            yield "truncated URL token", f"{base}/{token[: len(token) // 2]}", headers, self.valid
        if self.source in SIGNS_TIME:
            for offset in (-301, 301):
                yield f"signed {offset:+d} s away", *self.signed(self.valid, at=offset), self.valid

    def bad_bodies(self) -> list[tuple[bytes, str]]:
        """The corpus for this source, in its own content type where the source has one."""
        if self.source == "salesforce":
            return [(body, "text/xml; charset=utf-8") for body in XML_BAD_BODIES]
        own = [(body, self.content_type) for body, _ in BAD_BODIES]
        if self.source == "twilio":
            own += [(body, self.content_type) for body in FORM_BAD_BODIES]
        return own


SIGNATURE_HEADERS = (
    "x-zendesk-webhook-signature",
    "x-hubspot-signature",
    "x-hub-signature",
    "typeform-signature",
    "sm-signature",
    "authorization",
    "x-twilio-signature",
    "webhook-signature",
)


def _wrong_secret(hook: Hook) -> str:
    if hook.source == "generic":
        return "whsec_" + base64.b64encode(b"not the connection's secret").decode()
    return "a&b" if hook.source == "surveymonkey" else "not-the-secret"


def _fixture(name: str) -> bytes:
    return (WEBHOOK_FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Source:
    """How to connect one source: its config, where its secret is, a body it sends and that body's content type."""

    config: dict[str, str]
    secret: Callable[[dict[str, Any]], str]
    valid: bytes
    content_type: str = "application/json"


HOOKS = {
    "zendesk": Source({"signing_secret": "zd"}, lambda c: "zd", _fixture("zendesk_ticket_created.json")),
    "hubspot": Source({"client_secret": "hs"}, lambda c: "hs", _fixture("hubspot_batch.json")),
    "intercom": Source({"client_secret": "ic"}, lambda c: "ic", _fixture("intercom_conversation_rating.json")),
    "typeform": Source({"secret": "tf"}, lambda c: "tf", _fixture("typeform_form_response.json")),
    "surveymonkey": Source(
        {"api_key": "sm-key", "api_secret": "sm"},
        lambda c: "sm-key&sm",
        _fixture("surveymonkey_response_completed.json"),
    ),
    "freshdesk": Source({}, lambda c: c["config"]["password"], _fixture("freshdesk_ticket.json")),
    "salesforce": Source(
        {"organization_id": SALESFORCE_ORG},
        lambda c: c["config"]["token"],
        _fixture("salesforce_outbound_message.xml"),
        "text/xml; charset=utf-8",
    ),
    "delighted": Source({}, lambda c: c["config"]["token"], _fixture("delighted_survey_response.json")),
    "twilio": Source(
        {"auth_token": "tw"}, lambda c: "tw", _fixture("twilio_sms.form"), "application/x-www-form-urlencoded"
    ),
    "generic": Source({}, lambda c: c["config"]["secret"], GENERIC_EVENT),
}


@pytest.fixture(scope="module")
def hooks_tenant(system: System) -> dict[str, str]:
    """A tenant of its own, so that what the webhooks store never widens the tenancy walk."""
    return system.new_tenant("webhooks")


def connect(walk: Walk, tenant: dict[str, str], source: str) -> Hook:
    """A new connection of this source, so each test reads only its own delivery log."""
    spec = HOOKS[source]
    response = walk.client.post(
        "/v1/connections",
        json={"source": source, "name": source, "config": spec.config},
        headers=bearer(tenant["api_key"]),
    )
    assert response.status_code == 201, response.text
    connection = response.json()
    return Hook(source, connection, spec.valid, spec.content_type, spec.secret(connection))


def outcomes(walk: Walk, tenant: dict[str, str], hook: Hook) -> list[str]:
    response = walk.client.get(
        f"/v1/connections/{hook.connection['id']}/deliveries", params={"limit": 500}, headers=bearer(tenant["api_key"])
    )
    return [d["outcome"] for d in response.json()["items"]]


@pytest.mark.parametrize("source", sorted(HOOKS))
def test_a_webhook_delivery_is_stored_once_and_its_replay_is_a_2xx_no_op(
    walk: Walk, hooks_tenant: dict[str, str], source: str
) -> None:
    hook = connect(walk, hooks_tenant, source)
    path, headers = hook.signed(hook.valid)
    first = walk.client.post(path, content=hook.valid, headers=headers)
    replay = walk.client.post(path, content=hook.valid, headers=headers)
    assert 200 <= first.status_code < 300 and 200 <= replay.status_code < 300, (first.text, replay.text)
    assert sorted(outcomes(walk, hooks_tenant, hook)) == ["accepted", "duplicate"]


@pytest.mark.parametrize("source", sorted(HOOKS))
def test_forged_webhooks_are_refused_and_store_nothing(walk: Walk, hooks_tenant: dict[str, str], source: str) -> None:
    hook = connect(walk, hooks_tenant, source)
    for what, path, headers, body in hook.forgeries():
        response = walk.client.post(path, content=body, headers=headers)
        # Never 404/410: Typeform disables a hook that answers them, and a forger learns nothing from the status.
        assert 400 <= response.status_code < 500 and response.status_code not in (404, 410), (
            what,
            response.status_code,
            response.text,
        )
    assert "accepted" not in outcomes(walk, hooks_tenant, hook)


@pytest.mark.parametrize("source", sorted(SIGNS_TIME))
def test_signed_timestamps_299_seconds_away_are_accepted(walk: Walk, hooks_tenant: dict[str, str], source: str) -> None:
    hook = connect(walk, hooks_tenant, source)
    for offset in (-299, 299):
        path, headers = hook.signed(hook.valid, at=offset)
        response = walk.client.post(path, content=hook.valid, headers=headers)
        assert 200 <= response.status_code < 300, (offset, response.status_code, response.text)


@pytest.mark.parametrize("source", sorted(HOOKS))
def test_authentic_webhooks_with_bad_bodies_get_a_4xx_or_an_ack_and_store_nothing(
    walk: Walk, hooks_tenant: dict[str, str], source: str
) -> None:
    hook = connect(walk, hooks_tenant, source)
    for body, content_type in hook.bad_bodies():
        path, headers = hook.signed(body, content_type=content_type)
        started = time.monotonic()
        response = walk.client.post(path, content=body, headers=headers)
        # A source retries what is not 2xx, so an authentic body with nothing usable in it may be acknowledged.
        assert response.status_code < 500 and response.status_code not in (404, 410), (
            body[:60],
            response.status_code,
            response.text,
        )
        assert time.monotonic() - started < 5, ("slow to refuse", body[:60])
    assert "accepted" not in outcomes(walk, hooks_tenant, hook)


@pytest.mark.parametrize("source", sorted(HOOKS))
def test_oversized_and_mistyped_webhooks_are_refused(walk: Walk, hooks_tenant: dict[str, str], source: str) -> None:
    hook = connect(walk, hooks_tenant, source)
    oversized = b"a" * (11 * 1024 * 1024)
    path, headers = hook.signed(oversized)
    with_length = walk.client.post(path, content=oversized, headers=headers)
    chunked = walk.client.post(
        path, content=iter([oversized[i : i + 65536] for i in range(0, len(oversized), 65536)]), headers=headers
    )
    assert with_length.status_code == chunked.status_code == 413, (with_length.text, chunked.text)
    other = "application/json" if hook.content_type != "application/json" else "text/xml; charset=utf-8"
    path, headers = hook.signed(hook.valid, content_type=other)
    response = walk.client.post(path, content=hook.valid, headers=headers)
    assert response.status_code < 500, response.text
    path, headers = hook.signed(hook.valid, content_type="text/plain")
    response = walk.client.post(path, content=hook.valid, headers=headers)
    # Authentic, but not what this source sends: 415, except to HubSpot, which retries every status but 400–405.
    assert response.status_code == (400 if source == "hubspot" else 415), response.text
    assert "accepted" not in outcomes(walk, hooks_tenant, hook)
