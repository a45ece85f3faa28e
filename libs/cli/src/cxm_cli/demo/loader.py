"""Loading a generated company into a running system through the gateway's public API and webhook URLs only."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cxm_cli.demo import sources
from cxm_cli.demo.generator import Company, Customer, Feedback, Interaction

RETRY_STATUSES = (429, 502, 503, 504)
MAX_BATCH = 1000
ROOT_CAUSES = (
    "Agent followed up by phone; the account was misconfigured during setup.",
    "Known issue with the app update; customer moved to the fixed build.",
    "Duplicate charge refunded and the customer informed.",
    "Slow first response: the queue was understaffed that week.",
)


class DemoFailed(Exception):
    """The demo could not be loaded; the message says where it stopped."""


@dataclass
class Report:
    """What the loader did and what it planted, for the closing summary."""

    gateway: str
    tenant_id: str | None
    api_key: str
    sent: dict[str, int] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)
    analysed: int = 0
    improvements: list[dict[str, Any]] = field(default_factory=list)
    close_loop: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class Api:
    """A small client for the gateway: the API key on every call, retries on back-pressure, problems as errors."""

    def __init__(self, gateway: str, api_key: str, *, timeout: float = 60.0) -> None:
        self.gateway = gateway.rstrip("/")
        self.http = httpx.Client(
            base_url=self.gateway,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def call(self, method: str, path: str, *, ok: Iterable[int] = (200, 201, 202), **kwargs: Any) -> Any:
        """One request; retried while the system says to wait; the decoded JSON answer (or None)."""
        response = self.send(method, path, **kwargs)
        if response.status_code not in tuple(ok):
            raise DemoFailed(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request with retries on 429/5xx and transport errors; the last response."""
        delay = 0.5
        for attempt in range(8):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == 7:
                    raise DemoFailed(f"{method} {url}: {exc!r}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt == 7:
                    return response
                retry_after = response.headers.get("retry-after", "")
                delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else delay
            time.sleep(min(delay, 10.0))
            delay *= 2
        raise AssertionError("unreachable")


def create_tenant(gateway: str, admin_token: str, name: str) -> tuple[str, str]:
    """A new tenant through the operator route: (tenant id, API key with every scope)."""
    response = httpx.post(
        f"{gateway.rstrip('/')}/v1/admin/tenants",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise DemoFailed(f"creating the tenant: {response.status_code} {response.text[:300]}")
    created = response.json()
    return str(created["tenant_id"]), str(created["api_key"])


Progress = Callable[[str, int, int], None]


class Loader:
    """Sends a company to the system in time order, waits for the analysis, then plants the actions."""

    def __init__(self, api: Api, company: Company, *, progress: Progress, concurrency: int = 4) -> None:
        self.api = api
        self.company = company
        self.progress = progress
        self.concurrency = concurrency
        self.customers = {c.key: c for c in company.customers}
        self.connections: dict[str, sources.Connection] = {}

    def run(self, report: Report, *, wait_timeout: float = 1800.0) -> Report:
        """Everything, in order; timings land in the report."""
        started = time.monotonic()
        self.connect()
        report.connections = {s: c.webhook_url.split("/v1/")[0] + "/v1/…" for s, c in self.connections.items()}
        self.send_customers()
        report.seconds["customers"] = time.monotonic() - started
        mark = time.monotonic()
        report.sent = self.send_history()
        report.seconds["history"] = time.monotonic() - mark
        mark = time.monotonic()
        report.analysed = self.wait_for_analysis(timeout=wait_timeout)
        report.seconds["analysis"] = time.monotonic() - mark
        mark = time.monotonic()
        report.improvements = self.plant_improvements()
        report.close_loop = self.follow_up_detractors()
        report.seconds["actions"] = time.monotonic() - mark
        return report

    # --- setup ------------------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """One connection per tool that sends webhooks, reusing the demo's own if they already exist."""
        existing = self.api.call("GET", "/v1/connections", params={"limit": 100}).get("items", [])
        for source, secret_field in sources.SECRET_FIELDS.items():
            name = sources.CONNECTION_NAMES[source]
            for found in existing:
                if found.get("source") == source and found.get("name") == name:
                    self.api.call("DELETE", f"/v1/connections/{found['id']}", ok=(200, 204, 404))
            config = {secret_field: secrets.token_hex(24)} if secret_field else {}
            created = self.api.call("POST", "/v1/connections", json={"source": source, "name": name, "config": config})
            self.connections[source] = sources.Connection(
                source, str(created["id"]), str(created["webhook_url"]), config.get(secret_field or "")
            )

    def send_customers(self) -> None:
        """Each customer's attributes and contact details (which become the keys webhooks are matched by)."""
        total = len(self.company.customers)
        done = 0

        def put(customer: Customer) -> None:
            self.api.call("PUT", f"/v1/customers/{customer.key}", json=customer.attributes())

        with ThreadPoolExecutor(self.concurrency) as pool:
            for _ in pool.map(put, self.company.customers):
                done += 1
                if done % 50 == 0 or done == total:
                    self.progress("customers", done, total)

    # --- history ----------------------------------------------------------------------------------------------------

    def send_history(self) -> dict[str, int]:
        """Interactions and feedback day by day in time order, so the detectors judge each day against its past."""
        sent: dict[str, int] = {"interactions": 0}
        total = len(self.company.interactions) + len(self.company.feedback)
        done = 0
        day: list[Interaction | Feedback] = []
        current = None
        with ThreadPoolExecutor(self.concurrency) as pool:
            for at, event in self.company.timeline():
                if current is not None and at.date() != current:
                    done += self._send_day(pool, day, sent)
                    self.progress("history", done, total)
                    day = []
                current = at.date()
                day.append(event)
            if day:
                done += self._send_day(pool, day, sent)
                self.progress("history", done, total)
        return sent

    def _send_day(self, pool: ThreadPoolExecutor, events: list[Interaction | Feedback], sent: dict[str, int]) -> int:
        interactions = [e for e in events if isinstance(e, Interaction)]
        feedback = [e for e in events if isinstance(e, Feedback)]
        api_feedback = [f for f in feedback if f.source == "api"]
        hooks = [f for f in feedback if f.source != "api"]
        for chunk in _chunks(interactions, MAX_BATCH):
            self.api.call("POST", "/v1/interactions/batch", json={"items": [i.body() for i in chunk]})
        for chunk in _chunks(api_feedback, MAX_BATCH):
            self.api.call("POST", "/v1/feedback/batch", json={"items": [f.body() for f in chunk]})
        sent["interactions"] += len(interactions)
        sent["api"] = sent.get("api", 0) + len(api_feedback)
        for source in pool.map(self._webhook, hooks):
            sent[source] = sent.get(source, 0) + 1
        return len(events)

    def _webhook(self, feedback: Feedback) -> str:
        connection = self.connections[feedback.source]
        request = sources.build(connection, feedback, self.customers[feedback.customer], now=datetime.now(UTC))
        # The URL-signing tools sign the public URL; the request itself goes to the gateway we were given.
        path = "/v1/" + request.url.split("/v1/", 1)[1]
        response = self.api.send("POST", path, headers=request.headers, content=request.body)
        if response.status_code >= 300:
            raise DemoFailed(f"{feedback.source} webhook refused: {response.status_code} {response.text[:300]}")
        return feedback.source

    # --- waiting ----------------------------------------------------------------------------------------------------

    def analysed(self) -> int:
        """How many of the tenant's feedback the insight service has analysed (its volume over the whole period)."""
        plan = self.company.plan
        answer = self.api.call(
            "GET",
            "/v1/insights/metrics",
            params={
                "metric": "volume",
                "interval": "week",
                "from": (plan.start - timedelta(days=1)).isoformat(),
                "to": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
        )
        return sum(int(s.get("count") or 0) for s in answer.get("series", []))

    def wait_for_analysis(self, *, timeout: float) -> int:
        """Until every feedback is analysed (or the count stops moving for a minute, or the timeout)."""
        expected = len(self.company.feedback)
        deadline = time.monotonic() + timeout
        last, still_since = -1, time.monotonic()
        while True:
            count = self.analysed()
            self.progress("analysis", min(count, expected), expected)
            if count >= expected:
                return count
            now = time.monotonic()
            if count != last:
                last, still_since = count, now
            elif now - still_since > 60:
                return count
            if now > deadline:
                return count
            time.sleep(2)

    # --- actions ----------------------------------------------------------------------------------------------------

    def plant_improvements(self) -> list[dict[str, Any]]:
        """The fix that worked (billing, resolved on a past date), and the spike's item taken in hand."""
        plan = self.company.plan
        title = "Stop duplicate charges on plan renewal"
        improvements = self._all_items(kind="improvement")
        item = next((i for i in improvements if i.get("title") == title), None)
        if item is None:
            item = self.api.call(
                "POST",
                "/v1/actions",
                json={
                    "kind": "improvement", "title": title, "priority": "high", "owner": "billing-team",
                    "description": "Renewals charged some cards twice: the payment retry did not check for a charge "
                    "already captured.",
                    "links": {"topic": plan.fixed_topic},
                },
            )  # fmt: skip
        if item.get("status") != "resolved":
            steps = (
                ("acknowledged", plan.fixed_at - timedelta(days=20), {}),
                ("in_progress", plan.fixed_at - timedelta(days=14), {}),
                ("resolved", plan.fixed_at, {"root_cause": "The payment retry re-captured charges after a gateway "
                                             "timeout; retries are now idempotent."}),
            )  # fmt: skip
            for to, at, extra in steps:
                body = {"to": to, "at": at.isoformat(), "note": f"{to.replace('_', ' ')}", **extra}
                self.api.call("POST", f"/v1/actions/{item['id']}/transitions", json=body, ok=(200, 201, 409))
        planted = [{"id": item["id"], "title": title, "topic": plan.fixed_topic, "resolved_at": plan.fixed_at}]
        for spike in improvements:
            if spike.get("links", {}).get("alert") and plan.spike_topic in spike.get("title", "").replace(" ", "_"):
                if spike.get("status") == "open":
                    for to in ("acknowledged", "in_progress"):
                        body = {"to": to, "note": "Crash reports traced to the latest app update; hotfix in review."}
                        self.api.call("POST", f"/v1/actions/{spike['id']}/transitions", json=body, ok=(200, 201, 409))
                planted.append({"id": spike["id"], "title": spike["title"], "topic": plan.spike_topic})
        return planted

    def follow_up_detractors(self, *, wait_s: float = 30.0) -> dict[str, int]:
        """Work on the close-loop items the automation opened: some acknowledged, some in progress, some resolved."""
        items = self._close_loop_items(wait_s)
        counts = {"opened": len(items), "acknowledged": 0, "in_progress": 0, "resolved": 0}
        items.sort(key=lambda i: (i.get("created_at") or "", i["id"]))
        for n, item in enumerate(items):
            if item.get("status") != "open":
                continue
            slot = n % 10
            moves: list[tuple[str, str | None]] = []
            if slot < 3:
                moves = [("acknowledged", None), ("in_progress", None), ("resolved", ROOT_CAUSES[n % len(ROOT_CAUSES)])]
            elif slot < 5:
                moves = [("acknowledged", None), ("in_progress", None)]
            elif slot < 7:
                moves = [("acknowledged", None)]
            for to, cause in moves:
                body: dict[str, Any] = {"to": to, "note": "demo follow-up"}
                if cause:
                    body.update(root_cause=cause, suggestion_used=n % 2 == 0)
                self.api.call("POST", f"/v1/actions/{item['id']}/transitions", json=body, ok=(200, 201, 409))
            if moves:
                counts[moves[-1][0]] += 1
        return counts

    def _close_loop_items(self, wait_s: float) -> list[dict[str, Any]]:
        """The open close-loop items, once their number stops growing (the automation works asynchronously)."""
        deadline = time.monotonic() + wait_s
        seen = -1
        items: list[dict[str, Any]] = []
        while True:
            items = self._all_items(kind="close_loop")
            if len(items) == seen or time.monotonic() > deadline:
                return items
            seen = len(items)
            time.sleep(3)

    def _all_items(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.api.call("GET", "/v1/actions", params=query)
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StderrProgress:
    """Progress bars on stderr: redrawn in place on a terminal, a line per tenth otherwise (logs, CI)."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.tenths: dict[str, int] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        filled = int(self.width * done / total) if total else self.width
        line = f"{label:<10} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line + ("\n" if done >= total else ""))
        else:
            tenth = 10 * done // total if total else 10
            if tenth == self.tenths.get(label):
                return
            self.tenths[label] = tenth
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
