"""The init container's wait: it holds a pod back until `cxm migrate` has brought the service's schema to the
revision its code expects, then lets it start."""

from __future__ import annotations

import asyncio
import importlib.util
from types import ModuleType

import pytest

from tests.deploy.manifests import DEPLOY


def load_script() -> ModuleType:
    """deploy/docker/wait_for_migrations.py, as the image runs it."""
    spec = importlib.util.spec_from_file_location("wait_for_migrations", DEPLOY / "docker" / "wait_for_migrations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wait = load_script()


def test_a_schema_at_the_head_revision_needs_no_wait() -> None:
    assert wait.verdict("0003", "0003") is None


def test_an_unmigrated_or_older_schema_must_wait() -> None:
    assert "not migrated" in wait.verdict(None, "0003")
    assert wait.verdict("0002", "0003") == "schema at 0002, code expects 0003"


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(SystemExit):
        wait.load_spec("billing")


def test_waits_until_migrated_then_lets_the_service_start(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cxm_common.migrations import upgrade

    monkeypatch.setenv("CXM_JOURNEY_DATABASE_URL", database_url)
    monkeypatch.setattr(wait, "POLL_S", 0.05)
    assert wait.main(["journey", "--timeout", "0.2"]) == 1
    assert "gave up waiting" in capsys.readouterr().err

    spec = wait.load_spec("journey")
    asyncio.run(upgrade(database_url, spec.schema, spec.migrations))
    assert wait.main(["journey", "--timeout", "5"]) == 0
