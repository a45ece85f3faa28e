"""Rendering the kustomize overlays and reading what they hold: workloads, pod specs, label selectors."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SERVICES = ("gateway", "ingest", "insight", "journey", "actions")


def kustomize_command() -> list[str] | None:
    """`kubectl kustomize`, else a standalone `kustomize build`, else None."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def require_kustomize() -> list[str]:
    """The renderer; in CI a missing one fails the test, elsewhere it skips with the reason."""
    command = kustomize_command()
    if command is None:
        message = "neither kubectl nor kustomize is installed: cannot render deploy/k8s"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return command


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """Every object `kubectl kustomize deploy/k8s/overlays/<overlay>` renders (cached per test session)."""
    command = require_kustomize()
    result = subprocess.run(
        [*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize failed for {overlay}:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], *kinds: str) -> list[dict[str, Any]]:
    """The objects of the given kinds."""
    return [doc for doc in docs if doc["kind"] in kinds]


def name_of(doc: dict[str, Any]) -> str:
    """`Kind/name`, for messages."""
    return f"{doc['kind']}/{doc['metadata']['name']}"


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a workload."""
    return workload["spec"]["template"]  # type: ignore[no-any-return]


def all_containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, then containers."""
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec.get("containers", [])


def is_cxm(workload: dict[str, Any]) -> bool:
    """Whether a workload runs a cxm service process (not a datastore, the collector or the operator's toolbox)."""
    labels = pod_template(workload)["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/part-of") == "cxm" and labels.get("app.kubernetes.io/component") != "toolbox"


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text())
