"""`cxm import` against the real gateway and ingest on real Postgres and NATS (retries against a small stub)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from click.testing import CliRunner

from cxm_cli import importer
from cxm_cli.importer import ImportFailed, Options, Summary, run_import
from cxm_cli.main import cli
from cxm_common.embedded import free_port
from tests.ingest.integration.conftest import Stack

CXM = str(Path(sys.executable).parent / "cxm")


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXM_DATA_DIR", str(tmp_path / "data"))


async def import_file(path: Path, url: str, key: str, **options: Any) -> Summary:
    """Run the importer in a thread: the gateway and ingest serve from this test's event loop."""
    return await asyncio.to_thread(run_import, path, gateway=url, api_key=key, options=Options(**options))


async def all_feedback(stack: Stack, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (
            await stack.client.get("/v1/feedback", params=params, headers={"Authorization": f"Bearer {key}"})
        ).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def count_feedback(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT count(*) AS n, count(DISTINCT external_id) AS ids FROM ingest.feedback")
        return int(row["n"]), int(row["ids"])
    finally:
        await conn.close()


async def settled_count(database_url: str) -> int:
    previous = -1
    while True:
        count, _ = await count_feedback(database_url)
        if count == previous:
            return count
        previous = count
        await asyncio.sleep(1.0)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def test_a_csv_with_a_mapping_is_stored_and_bad_rows_are_rejected_with_their_lines(
    stack: Stack, tmp_path: Path
) -> None:
    key = (await stack.tenant())["api_key"]
    rows: list[list[Any]] = [
        ["r1", "Checkout failed twice", "3", "crm-1", "ada@example.com", "2026-01-05 09:30:00", "EU", "x"],  # line 2
        ["r2", "Lovely support,\nquick answer", "10", "crm-2", "", "2026-01-05T10:00:00+02:00", "US", "x"],  # 3–4
        ["r3", "", "", "crm-3", "", "", "EU", "x"],  # line 5: neither text nor score
        ["r4", "Too high", "11", "", "", "", "", "x"],  # line 6
        ["r5", "Bad time", "7", "", "", "yesterday", "", "x"],  # line 7
        ["r6", "Bad email", "", "", "not-an-email", "", "", "x"],  # line 8
        ["r7", "", "9", "", "grace@example.com", "", "APAC", "x"],  # line 9: score only, email-only customer
        ["r8", "Formula? =1+1", "0", "crm-1", "", "2026-01-06T00:00:00Z", "EU", "x"],  # line 10
    ]
    header = ["Response ID", "Comment", "NPS Score", "Customer", "E-mail", "When", "Region", "extra"]
    path = write_csv(tmp_path / "survey.csv", header, rows)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"text": "Comment", "scores.nps": "NPS Score", "customer.id": "Customer"}))
    errors = tmp_path / "errors.csv"
    columns = importer.parse_mapping(
        ["external_id=Response ID", "customer.email=E-mail", "occurred_at=When", "metadata.region=Region"], mapping
    )

    summary = await import_file(path, stack.url, key, mapping=columns, tz="Europe/Paris", errors_file=errors)

    assert summary.complete and summary.rows == 8
    assert (summary.accepted, summary.duplicates, summary.rejected) == (4, 0, 4)
    assert summary.ignored_columns == ["extra"]
    reasons = {r.line: r.reason for r in summary.first_rejections}
    assert sorted(reasons) == [5, 6, 7, 8]
    assert "needs text or at least one score" in reasons[5]
    assert "scores.nps 11 is out of range 0–10" in reasons[6]
    assert "occurred_at 'yesterday'" in reasons[7]
    assert "customer.email 'not-an-email'" in reasons[8]
    with errors.open(newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["line", "reason", *header]
    assert [(r[0], r[2]) for r in written[1:]] == [("5", "r3"), ("6", "r4"), ("7", "r5"), ("8", "r6")]

    stored = {i["external_id"]: i for i in await all_feedback(stack, key)}
    assert set(stored) == {"r1", "r2", "r7", "r8"}
    assert stored["r1"]["scores"] == {"nps": 3, "csat": None, "ces": None}
    assert stored["r1"]["occurred_at"].startswith("2026-01-05T08:30:00")  # naive times are in --tz
    assert stored["r2"]["occurred_at"].startswith("2026-01-05T08:00:00")
    assert stored["r2"]["text"] == "Lovely support,\nquick answer"
    assert stored["r1"]["metadata"] == {"region": "EU"} and stored["r1"]["source"] == "import"
    assert stored["r1"]["channel"] == "survey" and stored["r7"]["text"] is None
    h = {"Authorization": f"Bearer {key}"}
    by_email = (await stack.client.get("/v1/feedback", params={"customer_id": "grace@example.com"}, headers=h)).json()
    assert [i["external_id"] for i in by_email["items"]] == ["r7"]
    crm1 = (await stack.client.get("/v1/feedback", params={"customer_id": "crm-1"}, headers=h)).json()
    assert sorted(i["external_id"] for i in crm1["items"]) == ["r1", "r8"]

    again = await import_file(path, stack.url, key, mapping=columns, tz="Europe/Paris")
    assert (again.skipped, again.sent, again.accepted) == (8, 0, 0)
    forced = await import_file(path, stack.url, key, mapping=columns, tz="Europe/Paris", resume=False)
    assert (forced.accepted, forced.duplicates, forced.rejected) == (0, 4, 4)


async def test_default_columns_need_no_mapping_and_rows_without_ids_get_stable_ones(
    stack: Stack, tmp_path: Path
) -> None:
    key = (await stack.tenant())["api_key"]
    header = ["Text", "Channel", "NPS", "CSAT", "CES", "Customer ID", "email", "Touchpoint", "Occurred At"]
    rows = [
        ["Slow app", "chat", "", "2", "", "c-1", "", "mobile", "2026-02-01T12:00:00Z"],
        ["Great", "", "9", "5", "2", "", "", "", ""],
        ["Meh", "carrier-pigeon", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "plain.csv", header, rows)

    summary = await import_file(path, stack.url, key, channel="web", source="legacy-crm")

    assert (summary.accepted, summary.rejected, summary.ignored_columns) == (2, 1, [])
    assert "channel 'carrier-pigeon'" in summary.first_rejections[0].reason
    stored = sorted(await all_feedback(stack, key), key=lambda i: i["text"])
    assert [(i["text"], i["channel"], i["source"]) for i in stored] == [
        ("Great", "web", "legacy-crm"),
        ("Slow app", "chat", "legacy-crm"),
    ]
    assert stored[0]["scores"] == {"nps": 9, "csat": 5, "ces": 2}
    assert stored[1]["touchpoint"] == "mobile"
    digest = importer.file_digest(path)
    assert [i["external_id"] for i in stored] == [f"import:{digest}:3", f"import:{digest}:2"]


async def test_json_lines_and_json_arrays_are_imported(stack: Stack, tmp_path: Path) -> None:
    key = (await stack.tenant())["api_key"]
    lines = [
        {"text": "Nested shape", "customer": {"id": "crm-9", "name": "Lin"}, "scores": {"csat": 4}, "channel": "email"},
        {"text": "Flat shape", "customer_id": "crm-9", "csat": "5", "id": 12, "region": "EU"},
        "not an object",
        None,  # a line that is not JSON at all
        {"text": "Nested NUL", "metadata": {"note": "a\u0000b"}},  # passes here; the server refuses the batch (400)
        {"text": "Last", "occurred_at": "2026-03-01T08:00:00", "metadata": {"plan": "pro"}},
    ]
    jsonl = tmp_path / "feedback.ndjson"
    with jsonl.open("wb") as f:
        for line in lines:
            f.write(b"{not json\n" if line is None else orjson.dumps(line) + b"\n")
            f.write(b"\n")  # blank lines are skipped, line numbers still count them
    mapping = importer.parse_mapping(["metadata.region=region", "metadata.legacy_id=id"])

    summary = await import_file(jsonl, stack.url, key, mapping=mapping, tz="America/New_York")

    assert (summary.rows, summary.accepted, summary.rejected) == (6, 3, 3)
    reasons = {r.line: r.reason for r in summary.first_rejections}
    assert reasons[5] == "not a JSON object" and reasons[7].startswith("not JSON")
    assert reasons[9].startswith("refused by the server (400)")
    stored = {i["text"]: i for i in await all_feedback(stack, key)}
    assert stored["Nested shape"]["scores"]["csat"] == 4 and stored["Nested shape"]["channel"] == "email"
    assert stored["Flat shape"]["metadata"] == {"region": "EU", "legacy_id": 12}
    assert stored["Flat shape"]["customer_id"] == stored["Nested shape"]["customer_id"] is not None
    assert stored["Last"]["occurred_at"].startswith("2026-03-01T13:00:00")

    array = tmp_path / "export.json"
    array.write_bytes(orjson.dumps([{"text": f"item {n}", "nps": n, "external_id": f"e{n}"} for n in range(11)] + [7]))
    summary = await import_file(array, stack.url, key, batch_size=4, source="old-tool")
    assert (summary.rows, summary.accepted, summary.rejected) == (12, 11, 1)
    assert summary.first_rejections[0].line == 12
    stored = {i["external_id"]: i for i in await all_feedback(stack, key) if i["source"] == "old-tool"}
    assert len(stored) == 11 and stored["e10"]["scores"]["nps"] == 10


async def test_items_the_server_still_refuses_are_split_out_by_their_index(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = (await stack.tenant())["api_key"]
    monkeypatch.setitem(importer.SCORE_RANGES, "nps", (0, 99))  # let bad scores through to the server
    path = write_csv(tmp_path / "scores.csv", ["text", "nps"], [[f"row {n}", n * 3] for n in range(10)])

    summary = await import_file(path, stack.url, key)

    assert (summary.accepted, summary.rejected) == (4, 6)
    assert [r.line for r in summary.first_rejections] == [6, 7, 8, 9, 10, 11]
    assert all(r.reason.startswith("refused by the server: scores.nps:") for r in summary.first_rejections)
    assert sorted(i["scores"]["nps"] for i in await all_feedback(stack, key)) == [0, 3, 6, 9]


async def test_the_command_prints_json_and_fails_clearly_on_a_bad_key(stack: Stack, tmp_path: Path) -> None:
    key = (await stack.tenant())["api_key"]
    path = write_csv(tmp_path / "one.csv", ["text", "csat"], [["fine", "4"], ["odd", "9"]])
    runner = CliRunner()
    env = {"CXM_GATEWAY_URL": stack.url, "CXM_API_KEY": key}

    ok = await asyncio.to_thread(runner.invoke, cli, ["import", str(path), "--json", "--quiet"], env=env)
    assert ok.exit_code == 0, ok.output
    printed = json.loads(ok.stdout)
    assert (printed["accepted"], printed["rejected"], printed["complete"]) == (1, 1, True)
    assert printed["first_rejections"] == [{"line": 3, "reason": "scores.csat 9 is out of range 1–5"}]

    refused = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(path), "--no-resume", "--api-key", "cxm_wrong"], env=env
    )
    assert refused.exit_code == 1
    assert "the gateway refused the API key (401)" in refused.stderr

    unknown = await asyncio.to_thread(runner.invoke, cli, ["import", str(path), "--map", "score=csat"], env=env)
    assert unknown.exit_code == 2 and "unknown field 'score'" in unknown.stderr


async def test_an_import_killed_half_way_resumes_and_stores_each_row_exactly_once(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    key = (await stack.tenant())["api_key"]
    total = 50_000
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_id", "text", "nps", "occurred_at", "touchpoint"])
        for n in range(total):
            writer.writerow(
                [f"cust-{n % 2000}", f"Feedback number {n}: delivery was late", n % 11, "2026-01-01T00:00:00Z", "web"]
            )
    checkpoint = tmp_path / "big.checkpoint.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXM_")}
    env.update({"CXM_GATEWAY_URL": stack.url, "CXM_API_KEY": key, "CXM_DATA_DIR": str(tmp_path / "data")})
    command = [CXM, "import", str(path), "--checkpoint", str(checkpoint), "--json"]

    first = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    confirmed = 0
    async with asyncio.timeout(120):
        while first.returncode is None and confirmed <= 20_000:
            await asyncio.sleep(0.02)
            try:
                confirmed = json.loads(checkpoint.read_text())["rows"]
            except (OSError, ValueError, KeyError):
                pass
        assert first.returncode is None, "the import ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
    confirmed = json.loads(checkpoint.read_text())["rows"]
    assert 20_000 < confirmed < total
    stored = await settled_count(database_url)  # batches in flight at the kill may still commit
    assert confirmed <= stored < total

    started = time.monotonic()
    second = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await second.communicate()
    elapsed = time.monotonic() - started
    assert second.returncode == 0
    summary = json.loads(out)
    assert summary["complete"] and summary["rows"] == total and summary["skipped"] == confirmed
    assert summary["accepted"] + summary["duplicates"] == total - confirmed
    assert summary["duplicates"] <= 2 * 1000  # at most the batches in flight when the first run was killed
    assert summary["rejected"] == 0
    assert await count_feedback(database_url) == (total, total)
    print(f"\nresumed import: {total - confirmed} rows in {elapsed:.1f} s, {summary['rows_per_s']:.0f} rows/s")


class Script(BaseHTTPRequestHandler):
    """Answers POSTs from a script of (status, headers, body), then 202s; counts requests."""

    answers: list[tuple[int, dict[str, str], dict[str, Any]]] = []
    received: list[int] = []

    def do_POST(self) -> None:
        items = len(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["items"])
        type(self).received.append(items)
        status, headers, body = self.answers.pop(0) if self.answers else (202, {}, {})
        if status == 202 and not body:
            body = {"accepted": items, "duplicates": 0, "ids": []}
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[Script]]]:
    handler = type("Handler", (Script,), {"answers": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def small_csv(tmp_path: Path, rows: int = 5) -> Path:
    return write_csv(tmp_path / "small.csv", ["text"], [[f"row {n}"] for n in range(rows)])


def test_rate_limits_and_outages_are_retried_honouring_retry_after(
    stub: tuple[str, type[Script]], tmp_path: Path
) -> None:
    url, handler = stub
    problem = {"type": "about:blank", "status": 503, "detail": "retry shortly"}
    handler.answers = [(429, {"Retry-After": "3"}, {}), (503, {"Retry-After": "1"}, problem), (502, {}, {})]
    slept: list[float] = []

    summary = run_import(small_csv(tmp_path), gateway=url, api_key="k", options=Options(), sleep=slept.append)

    assert (summary.accepted, summary.rejected, summary.complete) == (5, 0, True)
    assert handler.received == [5, 5, 5, 5]
    assert slept[:2] == [3.0, 1.0] and 0.5 <= slept[2] <= 2.0  # no Retry-After: backoff


def test_retries_are_bounded_and_a_refused_key_stops_at_once(stub: tuple[str, type[Script]], tmp_path: Path) -> None:
    url, handler = stub
    handler.answers = [(503, {"Retry-After": "0"}, {})] * 8
    checkpoint = tmp_path / "checkpoint.json"
    with pytest.raises(ImportFailed, match="still answered 503 after 8 tries"):
        run_import(small_csv(tmp_path), gateway=url, api_key="k", options=Options(checkpoint=checkpoint))
    assert len(handler.received) == 8 and not checkpoint.exists()

    handler.received.clear()
    handler.answers = [(401, {}, {"detail": "Send a valid API key."})]
    with pytest.raises(ImportFailed, match=r"refused the API key \(401\): Send a valid API key"):
        run_import(small_csv(tmp_path), gateway=url, api_key="k", options=Options(checkpoint=checkpoint))
    assert handler.received == [5]

    nobody = f"http://127.0.0.1:{free_port()}"
    slept: list[float] = []
    with pytest.raises(ImportFailed, match="cannot reach the gateway"):
        run_import(small_csv(tmp_path), gateway=nobody, api_key="k", options=Options(max_tries=3), sleep=slept.append)
    assert len(slept) == 2


def test_a_body_too_large_is_halved_until_it_fits(stub: tuple[str, type[Script]], tmp_path: Path) -> None:
    url, handler = stub
    too_large: tuple[int, dict[str, str], dict[str, Any]] = (413, {}, {"detail": "The body exceeds 10 bytes."})
    handler.answers = [too_large, too_large, too_large]  # 8 → 4 → 2 (the first of each half); then all pass

    summary = run_import(small_csv(tmp_path, 8), gateway=url, api_key="k", options=Options())

    assert handler.received == [8, 4, 2, 1, 1, 2, 4]
    assert (summary.accepted, summary.rejected) == (8, 0)
