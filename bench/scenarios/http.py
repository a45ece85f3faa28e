"""HTTP through the whole system (`cxm up` on the bench's servers): single feedback through the gateway and
straight to ingest (the gateway's cost), batch ingest, and the raw FastAPI + uvicorn limit, all driven by wrk."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.harness import Context, Measurement, Scenario, Target
from bench.scenarios.common import nats_client
from bench.stack import bench_port
from cxm_common.auth import Principal, issue_token
from cxm_common.jetstream import stream_name

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 16
SYSTEM_PREFIX = "sys"
BATCH = 1000
LUA = """
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"channel":"survey","customer":{"id":"c-%d"},"text":"Checkout failed twice, %d","scores":{"nps":%d}}',
    math.random(1, 20000), counter, counter % 11)
  return wrk.format("POST", "__PATH__", {["Content-Type"]="application/json", __HEADERS__}, body)
end
"""


@dataclass
class System:
    """A `cxm up` on the bench's Postgres and NATS, with a tenant key and a direct token for ingest."""

    process: subprocess.Popen[bytes]
    gateway: str
    ingest: str
    api_key: str
    internal_token: str
    folder: Path


def wrk(url: str, path: str, headers: dict[str, str], seconds: float, connections: int = CONNECTIONS) -> Measurement:
    """Run wrk with a POST of a feedback body; parse throughput, errors and latency percentiles."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    header_lua = ", ".join(f'["{k}"]="{v}"' for k, v in headers.items())
    script = Path(os.environ.get("TMPDIR", "/tmp")) / f"cxm-bench-{os.getpid()}.lua"
    script.write_text(LUA.replace("__PATH__", path).replace("__HEADERS__", header_lua))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency", "-s", str(script), url],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    percentiles = {}
    for label, key in (("50%", "p50"), ("90%", "p95"), ("99%", "p99")):
        match = re.search(rf"\s{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            percentiles[key] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    # wrk prints 50/75/90/99; the 90th stands in for the 95th and is labelled as such in `extra`.
    return Measurement(
        items=total,
        seconds=total / rate if rate else seconds,
        percentiles_ms=percentiles,
        extra={"non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(0) if errors else None,
               "connections": connections, "p95_is_wrk_p90": True},
    )  # fmt: skip


async def _start_system(ctx: Context) -> System:
    """Start the whole system on the bench's own servers and make a tenant."""
    folder = ctx.stack.root / "system"
    folder.mkdir(exist_ok=True)
    conn = await asyncpg.connect(ctx.stack.admin_url)
    try:
        await conn.execute("DROP DATABASE IF EXISTS system WITH (FORCE)")
        await conn.execute("CREATE DATABASE system")
    finally:
        await conn.close()
    gateway_port = bench_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXM_")}
    env.update(
        {
            "CXM_DATA_DIR": str(folder),
            "CXM_GATEWAY_PORT": str(gateway_port),
            "CXM_DATABASE_URL": ctx.stack.url("system"),
            "CXM_NATS_URL": ctx.stack.nats_url,
            "CXM_NATS_PREFIX": SYSTEM_PREFIX,
            "CXM_GATEWAY_RATE_LIMIT_PER_S": "1000000",
            "CXM_GATEWAY_RATE_LIMIT_BURST": "1000000",
            "CXM_LOG_LEVEL": "WARNING",
        }
    )
    cxm = str(Path(sys.executable).parent / "cxm")
    process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited here
        [cxm, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(process.stdout.readline)
        if line.startswith(b"cxm is up") or (not line and process.poll() is not None):
            break
    state = json.loads((folder / "state.json").read_text())
    admin = (folder / "admin-token").read_text().strip()
    secret = (folder / "internal-token-secret").read_text().strip()
    async with httpx.AsyncClient(base_url=state["gateway_url"], timeout=10) as client:
        created = await client.post("/v1/admin/tenants", json={"name": "bench"},
                                    headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        created.raise_for_status()
        tenant = created.json()
    principal = Principal(tenant_id=uuid.UUID(tenant["tenant_id"]), scopes=frozenset({"ingest:write"}))
    token = issue_token(secret, principal, ttl_s=3600)
    return System(process, state["gateway_url"], state["services"]["ingest"], tenant["api_key"], token, folder)


async def system(ctx: Context) -> System:
    """The system, started once per bench run and stopped when the run ends."""
    found: System = await ctx.shared("http-system", lambda: _start_system(ctx))
    ctx.on_close("http-system", lambda: _stop(found))
    return found


def _stop(found: System) -> None:
    if found.process.poll() is None:
        found.process.send_signal(signal.SIGINT)
        try:
            found.process.wait(60)
        except subprocess.TimeoutExpired:
            found.process.kill()


async def raw_fastapi(ctx: Context) -> Measurement:
    """wrk against the smallest FastAPI app that answers POST with 202 (one uvicorn worker)."""
    port = bench_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.rawapp", str(port)], cwd=ROOT)  # noqa: ASYNC220
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.post(f"http://127.0.0.1:{port}/v1/feedback", json={})
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        return await asyncio.to_thread(wrk, f"http://127.0.0.1:{port}", "/v1/feedback", {}, ctx.budget.seconds * 2)
    finally:
        server.terminate()
        server.wait(10)


async def feedback_direct(ctx: Context) -> Measurement:
    """Single feedback straight to ingest (with the internal token the gateway would add)."""
    found = await system(ctx)
    headers = {"x-cxm-internal-token": found.internal_token}
    m = await asyncio.to_thread(wrk, found.ingest, "/v1/feedback", headers, ctx.budget.seconds * 2)
    ctx.remember("ingest.feedback_direct", m)
    return m


async def feedback_gateway(ctx: Context) -> Measurement:
    """Single feedback through the gateway, with an API key; then how long the analysis took to catch up."""
    found = await system(ctx)
    headers = {"Authorization": f"Bearer {found.api_key}"}
    m = await asyncio.to_thread(wrk, found.gateway, "/v1/feedback", headers, ctx.budget.seconds * 2)
    ctx.remember("ingest.feedback_gateway", m)
    caught_up = await _analysis_caught_up(ctx)
    m.extra["analysis_caught_up_after_s"] = caught_up
    behind = f"{caught_up:.0f} s" if caught_up is not None else "more than 300 s"
    m.figure = f"POST /v1/feedback through the gateway (insight analysed them all {behind} after the last)"
    return m


async def _analysis_caught_up(ctx: Context, timeout_s: float = 300) -> float | None:
    """Seconds until insight's consumer has no feedback left to analyse (None if not within `timeout_s`)."""
    started = time.monotonic()
    async with nats_client(ctx) as nc:
        js = nc.jetstream()
        while time.monotonic() - started < timeout_s:
            info = await js.consumer_info(stream_name("ingest", SYSTEM_PREFIX), "insight_feedback")
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(0.5)
    return None


async def gateway_cost(ctx: Context) -> Measurement:
    """Throughput through the gateway as a share of direct (the headline), and the p99 ratio, from the two runs."""
    direct = ctx.recalled("ingest.feedback_direct")
    through = ctx.recalled("ingest.feedback_gateway")
    ratio = through.rate / direct.rate if direct.rate else 0.0
    p99 = (through.percentiles_ms or {}).get("p99", 0.0) / max((direct.percentiles_ms or {}).get("p99", 1.0), 1e-9)
    return Measurement(
        items=through.items, seconds=through.seconds, value=ratio,
        figure=f"gateway ÷ direct throughput (p99 ratio {p99:.2f}×, target ≤ 1.5×)",
        extra={"throughput_ratio": round(ratio, 3), "p99_ratio": round(p99, 3)},
    )  # fmt: skip


async def batch_ingest(ctx: Context) -> Measurement:
    """Batches of 1,000 feedback records through the gateway, 4 at a time."""
    found = await system(ctx)
    headers = {"Authorization": f"Bearer {found.api_key}"}
    sent = 0
    latencies: list[float] = []

    async def worker(w: int, client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal sent
        n = 0
        while time.monotonic() < deadline:
            items = [{"channel": "survey", "customer": {"id": f"b{w}-{(n * BATCH + i) % 5000}"},
                      "text": f"import row {n}-{i}", "scores": {"csat": 1 + i % 5}} for i in range(BATCH)]  # fmt: skip
            began = time.perf_counter()
            response = await client.post("/v1/feedback/batch", json={"items": items}, headers=headers)
            response.raise_for_status()
            latencies.append(time.perf_counter() - began)
            sent += BATCH
            n += 1

    async with httpx.AsyncClient(base_url=found.gateway, timeout=60) as client:
        started = time.perf_counter()
        deadline = time.monotonic() + ctx.budget.seconds * 2
        await asyncio.gather(*(worker(w, client, deadline) for w in range(4)))
        seconds = time.perf_counter() - started
    return Measurement(items=sent, seconds=seconds, latencies_s=latencies)


SCENARIOS = [
    Scenario(
        "raw.http_fastapi_202", "FastAPI + uvicorn POST → 202 (wrk, 16 conns)", "req/s", raw_fastapi,
        latency_of="per request",
    ),
    Scenario(
        "ingest.feedback_direct", "POST /v1/feedback straight to ingest", "req/s", feedback_direct,
        raw="raw.http_fastapi_202", latency_of="per request",
    ),
    Scenario(
        "ingest.feedback_gateway", "POST /v1/feedback through the gateway", "req/s", feedback_gateway,
        raw="raw.http_fastapi_202", target=Target(minimum=1_000), latency_of="per request",
    ),
    Scenario("gateway.cost", "gateway ÷ direct throughput", "×", gateway_cost, target=Target(minimum=0.6)),
    Scenario(
        "ingest.batch", "POST /v1/feedback/batch (1,000 per request, 4 clients)", "records/s", batch_ingest,
        raw="raw.pg_executemany_1000", target=Target(minimum=20_000), latency_of="per batch",
    ),
]  # fmt: skip
