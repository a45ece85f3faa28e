"""docker-compose.yml is valid against the Compose Specification and runs the system the way the issue asks."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from cxm_common.service import ROLES
from tests.deploy.manifests import DEPLOY, ROOT

CXM_SERVICES = ("ingest", "insight", "journey", "actions", "gateway")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(compose)
    ]
    assert not errors


def test_every_cxm_process_runs_one_service_role_after_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in CXM_SERVICES:
        module, role = services[name]["command"]
        assert module == f"cxm_{name}" and role in ROLES
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["nats"] == {"condition": "service_healthy"}
    assert services["migrate"]["entrypoint"][:2] == ["cxm", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert {services["gateway"]["depends_on"][s]["condition"] for s in CXM_SERVICES[:-1]} == {"service_healthy"}


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        # migrate is a one-shot; the collector's image has no shell or client to probe itself with.
        if name in ("migrate", "otel-collector"):
            continue
        assert service["healthcheck"]["test"], name


def test_cxm_containers_are_read_only_unprivileged_and_drain_on_stop(compose: dict[str, Any]) -> None:
    for name in (*CXM_SERVICES, "migrate"):
        service = compose["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"] and "/tmp" in service["tmpfs"], name
    for name in CXM_SERVICES:
        assert int(compose["services"][name]["stop_grace_period"].rstrip("s")) >= 50, name


def test_no_secret_has_a_default_value(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if any(word in variable for word in ("KEY", "SECRET", "TOKEN", "PASSWORD", "DATABASE_URL")):
                assert ":?" in str(value), f"{name}: {variable} must come from the environment, with no default"


def test_nats_keeps_jetstream_on_disk_and_fsyncs_every_write(compose: dict[str, Any]) -> None:
    conf = (DEPLOY / "compose" / "nats.conf").read_text()
    assert "sync_interval: always" in conf and "store_dir: /data" in conf
    assert any(volume.startswith("nats:/data") for volume in compose["services"]["nats"]["volumes"])


def test_traces_go_to_the_collector(compose: dict[str, Any]) -> None:
    for name in CXM_SERVICES:
        assert compose["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    collector = yaml.safe_load((DEPLOY / "compose" / "otel-collector.yaml").read_text())
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
