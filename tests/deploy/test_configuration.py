"""Every setting the manifests and the compose file pass is one the code reads, under the name it reads."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
import yaml

from cxm_common.settings import SHARED_FALLBACKS
from tests.deploy.manifests import (
    OVERLAYS,
    ROOT,
    SERVICES,
    WORKLOAD_KINDS,
    all_containers,
    of_kind,
    pod_template,
    render,
)

# Read by the `cxm` command (cxm_cli.state and its options), not by a service.
CLI_VARIABLES = {"CXM_GATEWAY_URL", "CXM_API_KEY", "CXM_DATA_DIR"}


def settings_of(service: str) -> type[Any]:
    """A service's Settings class."""
    return importlib.import_module(f"cxm_{service}.config").Settings  # type: ignore[no-any-return]


def read_by_code(name: str) -> bool:
    """Whether a CXM_* environment variable is a setting some service reads."""
    if name in SHARED_FALLBACKS.values() or name in CLI_VARIABLES:
        return True
    match = re.fullmatch(r"CXM_([A-Z]+)_(\w+)", name)
    return (
        bool(match) and match[1].lower() in SERVICES and match[2].lower() in settings_of(match[1].lower()).model_fields
    )


def config_maps(overlay: str) -> dict[str, dict[str, str]]:
    """The ConfigMaps an overlay renders, by name without the generator's hash."""
    return {
        re.sub(r"-[a-z0-9]{10}$", "", c["metadata"]["name"]): c["data"] for c in of_kind(render(overlay), "ConfigMap")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_cxm_variable_in_the_config_map_is_read_by_the_code(overlay: str) -> None:
    config = config_maps(overlay)["cxm-config"]
    unknown = [name for name in config if name.startswith("CXM_") and not read_by_code(name)]
    assert not unknown


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_cxm_variable_set_on_a_container_is_read_by_the_code(overlay: str) -> None:
    for w in of_kind(render(overlay), *WORKLOAD_KINDS):
        for c in all_containers(pod_template(w)["spec"]):
            for env in c.get("env", []):
                assert not env["name"].startswith("CXM_") or read_by_code(env["name"]), env["name"]


@pytest.mark.parametrize(("overlay", "replicas"), [("dev", "1"), ("prod", "3")])
def test_every_stream_gets_its_replicas_under_the_name_each_service_reads(overlay: str, replicas: str) -> None:
    # stream_replicas has no shared fallback: CXM_STREAM_REPLICAS would be ignored by every service.
    config = config_maps(overlay)["cxm-config"]
    assert "CXM_STREAM_REPLICAS" not in config
    assert {s: config.get(f"CXM_{s.upper()}_STREAM_REPLICAS") for s in SERVICES} == dict.fromkeys(SERVICES, replicas)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_finds_every_service_api_by_its_service_name(overlay: str) -> None:
    config = config_maps(overlay)["cxm-config"]
    services = {s["metadata"]["name"]: s for s in of_kind(render(overlay), "Service")}
    for name in ("ingest", "insight", "journey", "actions"):
        assert config[f"CXM_GATEWAY_{name.upper()}_URL"] == f"http://{name}:8000"
        assert services[name]["spec"]["ports"][0]["port"] == 8000
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"


def test_compose_passes_only_settings_the_code_reads() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("CXM_"):
                assert read_by_code(variable), f"{name}: {variable}"
