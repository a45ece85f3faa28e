"""`cxm`: run the whole system and operate it (migrate, status, replay, republish, dead letters)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime
from typing import Any

import click
import httpx

from cxm_cli.registry import service, services
from cxm_cli.state import admin_database_url, admin_token, data_dir, gateway_url, load_state

# The database and service modules are imported inside the commands that use them, so that `cxm --help`,
# `cxm tenant create` and `cxm import` start in a fraction of a second.


@click.group()
def cli() -> None:
    """cxm: customer experience management, event-sourced."""


@cli.command()
def up() -> None:
    """Start Postgres, NATS, every service and the gateway; stop them all on Ctrl-C or SIGTERM."""
    from cxm_cli.stack import Stack

    stack = Stack(data_dir(), echo=click.echo)

    def request_stop(signum: int, _frame: Any) -> None:
        stack.stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        state = stack.start()
        click.echo(f"\ncxm is up: {state.gateway_url}  (Ctrl-C to stop)")
        stack.supervise()
    finally:
        click.echo("stopping…")
        stack.stop()
        click.echo("stopped")


@cli.command()
@click.option("--create-roles/--no-create-roles", default=True, help="Create each service's runtime role if allowed.")
def migrate(create_roles: bool) -> None:
    """Create each service's schema (and role) and apply its migrations."""
    from cxm_cli.stack import migrate_all

    roles = asyncio.run(migrate_all(admin_database_url(), services(), create_roles=create_roles))
    for name, has_role in roles.items():
        click.echo(f"{name:<9} migrated" + (f" (runtime role cxm_{name})" if has_role else ""))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Show each service's readiness, outbox backlog and dead letters."""
    from cxm_cli.stack import pid_alive

    state = load_state()
    if state is None or not pid_alive(state.pid):
        click.echo("cxm is not running here (no live `cxm up` under " + str(data_dir()) + ")")
        sys.exit(1)
    report: dict[str, Any] = {"gateway": state.gateway_url, "services": {}}
    counts = asyncio.run(_counts(state.database_url, list(state.services)))
    with httpx.Client(timeout=2.0) as client:
        for name, url in state.services.items():
            try:
                ready = client.get(f"{url}/readyz").json()
            except (httpx.HTTPError, ValueError) as exc:
                ready = {"ready": False, "checks": {"http": type(exc).__name__}}
            report["services"][name] = {"url": url, **ready, **counts.get(name, {})}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"gateway: {state.gateway_url}")
    click.echo(f"{'service':<9} {'ready':<6} {'outbox':>7} {'dead':>5}  url / checks")
    for name, info in report["services"].items():
        checks = ", ".join(f"{k}={v}" for k, v in info.get("checks", {}).items())
        click.echo(
            f"{name:<9} {('yes' if info.get('ready') else 'NO'):<6} {info.get('outbox', '?'):>7} "
            f"{info.get('dead_letters', '?'):>5}  {info['url']}  {checks}"
        )


async def _counts(url: str, names: list[str]) -> dict[str, dict[str, int]]:
    from sqlalchemy import text

    from cxm_common.db import create_engine

    result: dict[str, dict[str, int]] = {}
    for name in names:
        engine = create_engine(url, name, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                outbox = await conn.scalar(text("SELECT count(*) FROM outbox"))
                dead = await conn.scalar(text("SELECT count(*) FROM dead_letters WHERE status = 'dead'"))
                result[name] = {"outbox": int(outbox or 0), "dead_letters": int(dead or 0)}
        except Exception:
            result[name] = {}
        finally:
            await engine.dispose()
    return result


@cli.command()
@click.argument("service_name", metavar="SERVICE")
def replay(service_name: str) -> None:
    """Rebuild SERVICE's read models from its own event store."""
    from cxm_common.db import create_engine
    from cxm_common.projections import replay as replay_projections

    spec = _spec(service_name)

    async def run() -> int:
        engine = create_engine(admin_database_url(), spec.schema)
        try:
            return await replay_projections(engine, spec.projections(), progress=_progress("replayed"))
        finally:
            await engine.dispose()

    count = asyncio.run(run())
    click.echo(f"\n{service_name}: replayed {count} events into {len(spec.projections())} projections")


@cli.command()
@click.argument("service_name", metavar="SERVICE")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]))
@click.option("--tenant", "tenant_id", type=click.UUID, help="Only this tenant (default: every tenant).")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Records per second, per job.")
def reanalyze(service_name: str, since: datetime | None, tenant_id: Any, rate: float) -> None:
    """Apply SERVICE's current models and definitions to history as new events (throttled, resumable)."""
    from cxm_common.db import create_engine

    spec = _spec(service_name)
    if spec.reanalyze is None:
        raise SystemExit(f"{service_name} has nothing to re-analyse")
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)

    def progress(done: int, total: int) -> None:
        click.echo(f"\r{service_name}: re-analysed {done}/{total}", nl=False)

    async def run() -> int:
        engine = create_engine(admin_database_url(), spec.schema)
        try:
            assert spec.reanalyze is not None
            return await spec.reanalyze(engine, since=since, tenant=tenant_id, rate=rate, progress=progress)
        finally:
            await engine.dispose()

    jobs = asyncio.run(run())
    click.echo(f"\n{service_name}: {jobs} re-analysis job(s) finished")


@cli.command()
@click.argument("service_name", metavar="SERVICE")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]))
@click.option("--after-position", type=int, default=0, help="Only events after this store position.")
def republish(service_name: str, since: datetime | None, after_position: int) -> None:
    """Publish SERVICE's stored events to JetStream again (rebuilds a lost stream; duplicates are absorbed)."""
    from cxm_common.db import create_engine
    from cxm_common.relay import requeue

    spec = _spec(service_name)
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)

    async def run() -> int:
        engine = create_engine(admin_database_url(), spec.schema)
        try:
            return await requeue(engine, since=since, after_position=after_position)
        finally:
            await engine.dispose()

    click.echo(f"{service_name}: {asyncio.run(run())} events queued; the running publisher sends them")


@cli.group()
def tenant() -> None:
    """Tenants (operator)."""


@tenant.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tenant_create(name: str, as_json: bool) -> None:
    """Create a tenant and print its first API key (shown once)."""
    response = httpx.post(
        f"{gateway_url()}/v1/admin/tenants",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    if response.status_code != 201:
        raise click.ClickException(f"{response.status_code}: {response.text}")
    created = response.json()
    if as_json:
        click.echo(json.dumps(created, indent=2))
        return
    click.echo(f"tenant_id: {created['tenant_id']}")
    click.echo(f"api_key:   {created['api_key']}   (shown once; scopes: {', '.join(created['scopes'])})")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "format_", type=click.Choice(["csv", "jsonl", "json"]), help="Default: by extension.")
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN", help='e.g. --map scores.nps="NPS score".')
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="A JSON object of field → column.")
@click.option("--channel", default="survey", show_default=True, help="For rows that name no channel.")
@click.option("--source", default="import", show_default=True, help="For rows that name no source.")
@click.option("--tz", default="UTC", show_default=True, help="The time zone of times written without one.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True, help="Batches in flight.")
@click.option("--gateway", envvar="CXM_GATEWAY_URL", help="Default: CXM_GATEWAY_URL, else the running `cxm up`.")
@click.option("--api-key", envvar="CXM_API_KEY", help="Default: CXM_API_KEY.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Default: <data dir>/imports/<file digest>.json.")
@click.option("--no-resume", is_flag=True, help="Ignore the checkpoint (the server still drops duplicates).")
@click.option("--errors-file", type=click.Path(dir_okay=False), help="Write every rejected row here as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def import_(
    file: str,
    format_: str | None,
    maps: tuple[str, ...],
    mapping: str | None,
    channel: str,
    source: str,
    tz: str,
    batch_size: int,
    concurrency: int,
    gateway: str | None,
    api_key: str | None,
    checkpoint: str | None,
    no_resume: bool,
    errors_file: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Import feedback from a CSV, JSON Lines or JSON file through the gateway; safe to rerun."""
    from pathlib import Path

    from cxm_cli import importer

    if not api_key:
        raise click.UsageError("an API key is needed: --api-key or CXM_API_KEY (see `cxm tenant create`)")
    try:
        columns = importer.parse_mapping(maps, Path(mapping) if mapping else None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    options = importer.Options(
        format=format_, mapping=columns, channel=channel, source=source, tz=tz, batch_size=batch_size,
        concurrency=concurrency, checkpoint=Path(checkpoint) if checkpoint else None, resume=not no_resume,
        errors_file=Path(errors_file) if errors_file else None,
    )  # fmt: skip
    progress = None if quiet else importer.Progress()
    try:
        summary = importer.run_import(
            Path(file), gateway=gateway or gateway_url(), api_key=api_key, options=options, progress=progress
        )
    except importer.ImportFailed as exc:
        if exc.summary is not None and as_json:
            click.echo(json.dumps(exc.summary.to_dict(), indent=2))
        elif exc.summary is not None:
            click.echo(importer.format_summary(exc.summary), err=True)
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary.to_dict(), indent=2) if as_json else importer.format_summary(summary))


@cli.command()
@click.option("--url", envvar="CXM_GATEWAY_URL", help="Default: CXM_GATEWAY_URL, else the running `cxm up`.")
@click.option("--key", envvar="CXM_API_KEY", help="An API key with every scope. Default: a new tenant.")
@click.option("--tenant-name", default="Demo company", show_default=True, help="The new tenant's name (without --key).")
@click.option("--customers", type=click.IntRange(10, 200_000), default=2000, show_default=True)
@click.option("--days", type=click.IntRange(30, 730), default=120, show_default=True, help="Days of history.")
@click.option("--seed", type=int, default=7, show_default=True, help="The same seed gives the same company.")
@click.option("--concurrency", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests in flight.")
@click.option("--wait", "wait_s", type=float, default=1800, show_default=True, help="Seconds to wait for analysis.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def demo(
    url: str | None,
    key: str | None,
    tenant_name: str,
    customers: int,
    days: int,
    seed: int,
    concurrency: int,
    wait_s: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Load a generated company (customers, journeys, feedback from several tools) to explore in the console."""
    from cxm_cli.demo import summary
    from cxm_cli.demo.generator import generate
    from cxm_cli.demo.loader import Api, DemoFailed, Loader, Report, StderrProgress, create_tenant

    gateway = (url or gateway_url()).rstrip("/")
    company = generate(customers=customers, days=days, seed=seed)
    tenant_id = None
    try:
        if not key:
            tenant_id, key = create_tenant(gateway, admin_token(), tenant_name)
        api = Api(gateway, key)
        try:
            progress = (lambda *_: None) if quiet else StderrProgress()
            report = Loader(api, company, progress=progress, concurrency=concurrency).run(
                Report(gateway=gateway, tenant_id=tenant_id, api_key=key), wait_timeout=wait_s
            )
        finally:
            api.close()
    except (DemoFailed, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(summary.as_dict(report, company), indent=2))
    else:
        click.echo(summary.format_summary(report, company))


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """Inspect and redrive messages that consumers gave up on."""


@dead_letters_group.command("list")
@click.option("--service", "service_name", help="Only this service's consumers.")
@click.option("--status", default="dead", type=click.Choice(["dead", "redrive_requested", "redriven", "all"]))
@click.option("--json", "as_json", is_flag=True)
def dead_letters_list(service_name: str | None, status: str, as_json: bool) -> None:
    """List dead letters, newest first."""
    from cxm_common import deadletters
    from cxm_common.db import create_engine

    rows: list[dict[str, Any]] = []

    async def run() -> None:
        for name in [service_name] if service_name else list(services()):
            engine = create_engine(admin_database_url(), _spec(name).schema)
            try:
                found = await deadletters.list_dead_letters(engine, status=None if status == "all" else status)
                rows.extend({"service": name, **d.to_dict()} for d in found)
            finally:
                await engine.dispose()

    asyncio.run(run())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no dead letters")
    for r in rows:
        click.echo(
            f"{r['id']}  {r['service']:<8} {r['consumer']:<24} {r['status']:<17} x{r['deliveries']}  {r['error']}"
        )


@dead_letters_group.command("redrive")
@click.option("--service", "service_name", required=True, help="The service whose consumer should re-apply them.")
@click.option("--consumer", help="Only this durable consumer (e.g. insight_feedback).")
@click.option("--id", "ids", multiple=True, help="Only these dead letters.")
def dead_letters_redrive(service_name: str, consumer: str | None, ids: tuple[str, ...]) -> None:
    """Ask SERVICE's running consumers to apply dead letters again."""
    import uuid

    from cxm_common import deadletters
    from cxm_common.db import create_engine

    async def run() -> int:
        engine = create_engine(admin_database_url(), _spec(service_name).schema)
        try:
            return await deadletters.request_redrive(engine, ids=[uuid.UUID(i) for i in ids] or None, consumer=consumer)
        finally:
            await engine.dispose()

    click.echo(f"{asyncio.run(run())} dead letters queued for redrive")


def _spec(name: str) -> Any:
    try:
        return service(name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from exc


def _progress(label: str) -> Any:
    def report(count: int) -> None:
        click.echo(f"\r{label} {count} events", nl=False)

    return report
