"""Wait until a service's schema is at the revision its code expects: `python wait_for_migrations.py SERVICE`.

Kubernetes runs it as the init container of every cxm process, so that a new version's consumers never apply
events to a schema that `cxm migrate` has not upgraded yet. It connects with the service's own settings (its
runtime role, `CXM_<SERVICE>_DATABASE_URL`, else `CXM_DATABASE_URL`) and only reads the version table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from importlib.metadata import entry_points
from typing import Any

POLL_S = 3.0


def verdict(applied: str | None, head: str | None) -> str | None:
    """Return why the service must wait, or None when the schema is at the code's head revision."""
    if applied == head:
        return None
    if applied is None:
        return f"schema not migrated yet (code expects {head})"
    return f"schema at {applied}, code expects {head}"


def load_spec(name: str) -> Any:
    """The `ServiceSpec` of one installed service, found through its `cxm.services` entry point."""
    found = entry_points(group="cxm.services", name=name)
    if not found:
        raise SystemExit(f"unknown service {name!r}")
    return next(iter(found)).load()


async def applied_revision(spec: Any) -> str | None:
    """The revision the service's schema is at, read with the service's own database settings."""
    from cxm_common.db import create_engine
    from cxm_common.migrations import applied_revision as read_revision

    url = spec.settings_factory().database_url
    engine = create_engine(url, spec.schema, application_name=f"cxm-{spec.name}-wait", pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await read_revision(conn, spec.schema)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Poll until migrated (exit 0) or until the timeout (exit 1, so that Kubernetes retries the pod)."""
    from cxm_common.migrations import script_head

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds before giving up.")
    args = parser.parse_args(argv)
    spec = load_spec(args.service)
    head = script_head(spec.migrations)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            reason = verdict(asyncio.run(applied_revision(spec)), head)
        except Exception as exc:  # the database may be starting, or the schema not created: both mean wait
            reason = f"database not ready ({type(exc).__name__})"
        if reason is None:
            print(f"{spec.name}: schema at {head}", flush=True)
            return 0
        if time.monotonic() >= deadline:
            print(f"{spec.name}: gave up waiting: {reason}", file=sys.stderr, flush=True)
            return 1
        print(f"{spec.name}: waiting for `cxm migrate`: {reason}", flush=True)
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
