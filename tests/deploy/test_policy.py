"""The operating policy every rendered workload follows: probes, resources, a locked-down security context,
graceful termination, a PodDisruptionBudget, an HPA for APIs and consumers, and default-deny networking."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cxm_common.service import ROLES
from tests.deploy.manifests import (
    OVERLAYS,
    SERVICES,
    WORKLOAD_KINDS,
    all_containers,
    is_cxm,
    matches,
    name_of,
    of_kind,
    pod_template,
    render,
)

# uvicorn finishes requests for up to 25 s, then consumers finish their batch (up to 20 s) and NATS drains (5 s).
CXM_DRAIN_S = 50


def workloads(overlay: str) -> list[dict[str, Any]]:
    """Every workload an overlay renders."""
    return of_kind(render(overlay), *WORKLOAD_KINDS)


def long_running(overlay: str) -> list[dict[str, Any]]:
    """Deployments and StatefulSets (Jobs end by themselves)."""
    return of_kind(render(overlay), "Deployment", "StatefulSet")


def cxm_deployments(overlay: str) -> list[dict[str, Any]]:
    """The Deployments that run a cxm process."""
    return [d for d in of_kind(render(overlay), "Deployment") if is_cxm(d)]


def labels_of(workload: dict[str, Any]) -> dict[str, str]:
    """The labels of a workload's pods."""
    return pod_template(workload)["metadata"].get("labels", {})  # type: ignore[no-any-return]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_cpu_and_memory_requests_and_limits(overlay: str) -> None:
    missing = [
        f"{name_of(w)}:{c['name']}"
        for w in workloads(overlay)
        for c in all_containers(pod_template(w)["spec"])
        if not all(
            c.get("resources", {}).get(kind, {}).get(r) for kind in ("requests", "limits") for r in ("cpu", "memory")
        )
    ]
    assert not missing


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_locked_down(overlay: str) -> None:
    loose = []
    for w in workloads(overlay):
        pod = pod_template(w)["spec"]
        pod_security = pod.get("securityContext", {})
        for c in all_containers(pod):
            security = {**pod_security, **c.get("securityContext", {})}
            if not (
                security.get("runAsNonRoot") is True
                and security.get("allowPrivilegeEscalation") is False
                and security.get("readOnlyRootFilesystem") is True
                and "ALL" in security.get("capabilities", {}).get("drop", [])
                and security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
            ):
                loose.append(f"{name_of(w)}:{c['name']}")
    assert not loose


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_readiness_and_liveness_probes(overlay: str) -> None:
    missing = [
        f"{name_of(w)}:{c['name']}"
        for w in long_running(overlay)
        for c in pod_template(w)["spec"]["containers"]
        if not (c.get("readinessProbe") and c.get("livenessProbe"))
    ]
    assert not missing


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cxm_processes_are_ready_on_readyz_and_alive_on_healthz(overlay: str) -> None:
    for d in cxm_deployments(overlay):
        (container,) = pod_template(d)["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name_of(d)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name_of(d)
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name_of(d)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cxm_processes_have_a_writable_tmp_and_nothing_else(overlay: str) -> None:
    for d in cxm_deployments(overlay):
        pod = pod_template(d)["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in all_containers(pod):
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert mounts == {"/tmp": "tmp"}, name_of(d)
        assert "emptyDir" in volumes["tmp"], name_of(d)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_drain(overlay: str) -> None:
    for w in long_running(overlay):
        grace = pod_template(w)["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace >= (CXM_DRAIN_S if is_cxm(w) else 30), name_of(w)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cxm_processes_run_a_real_service_role_and_wait_for_migrations(overlay: str) -> None:
    seen = set()
    for d in cxm_deployments(overlay):
        pod = pod_template(d)["spec"]
        (container,) = pod["containers"]
        module, role = container["args"]
        service = labels_of(d)["app.kubernetes.io/name"]
        assert module == f"cxm_{service}" and role in ROLES, name_of(d)
        assert labels_of(d)["app.kubernetes.io/component"] == role, name_of(d)
        (wait,) = pod["initContainers"]
        assert wait["command"] == ["python", "/opt/cxm/wait_for_migrations.py"] and wait["args"] == [service]
        assert wait["image"] == container["image"], name_of(d)
        database_env = f"CXM_{service.upper()}_DATABASE_URL"
        assert {e["name"] for e in wait["env"]} == {database_env}, name_of(d)
        assert database_env in {e["name"] for e in container["env"]}, name_of(d)
        seen.add((service, role))
    expected = (
        {(s, "all") for s in SERVICES}
        if overlay == "dev"
        else {
            *((s, r) for s in SERVICES if s != "gateway" for r in ("api", "consume", "publish", "schedule")),
            ("gateway", "api"),
            ("gateway", "publish"),
        }
    )
    assert seen == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_workload_has_a_disruption_budget(overlay: str) -> None:
    budgets = of_kind(render(overlay), "PodDisruptionBudget")
    for w in long_running(overlay):
        covering = [b for b in budgets if matches(b["spec"]["selector"], labels_of(w))]
        assert len(covering) == 1, name_of(w)
        assert covering[0]["spec"].get("maxUnavailable") == 1 or covering[0]["spec"].get("minAvailable"), name_of(w)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_and_consumers_scale_on_cpu(overlay: str) -> None:
    scalers = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(render(overlay), "HorizontalPodAutoscaler")}
    for d in cxm_deployments(overlay):
        role = labels_of(d)["app.kubernetes.io/component"]
        if role not in ("api", "consume", "all"):
            assert d["metadata"]["name"] not in scalers and d["spec"]["replicas"] >= 2, name_of(d)
            continue
        hpa = scalers[d["metadata"]["name"]]
        assert "replicas" not in d["spec"], f"{name_of(d)}: the HPA owns the replica count"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert overlay == "dev" or hpa["spec"]["minReplicas"] >= 2, name_of(d)
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_tagged_and_never_latest(overlay: str) -> None:
    for w in workloads(overlay):
        for c in all_containers(pod_template(w)["spec"]):
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name_of(w)}: {image}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_only_referenced_never_written_into_env(overlay: str) -> None:
    for w in workloads(overlay):
        for c in all_containers(pod_template(w)["spec"]):
            for env in c.get("env", []):
                sensitive = any(word in env["name"] for word in ("KEY", "SECRET", "TOKEN", "PASSWORD", "DATABASE_URL"))
                assert not (sensitive and "value" in env), f"{name_of(w)}:{c['name']} sets {env['name']} inline"


def test_prod_ships_no_secret_objects() -> None:
    assert not of_kind(render("prod"), "Secret")


def test_dev_secrets_are_loud_placeholders() -> None:
    for secret in of_kind(render("dev"), "Secret"):
        for value in secret["data"].values():
            plain = base64.b64decode(value)
            # The dev master key is itself base64 of a dev-only phrase.
            assert b"dev-only" in plain or base64.b64decode(plain).startswith(b"dev-only"), secret["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_traffic_is_denied_by_default(overlay: str) -> None:
    policies = of_kind(render(overlay), "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny


def ingress_peers(policies: list[dict[str, Any]], labels: dict[str, str], port: int) -> list[dict[str, Any]]:
    """The `from` peers allowed to reach a pod with these labels on this port (an empty dict means anyone)."""
    peers: list[dict[str, Any]] = []
    for policy in policies:
        if "Ingress" not in policy["spec"]["policyTypes"] or not matches(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            peers.extend(rule.get("from", [{}]))
    return peers


def is_gateway_peer(peer: dict[str, Any]) -> bool:
    """A peer that selects only gateway pods of this namespace."""
    selector = peer.get("podSelector", {})
    return (
        "namespaceSelector" not in peer and selector.get("matchLabels", {}).get("app.kubernetes.io/name") == "gateway"
    )


def is_monitoring_peer(peer: dict[str, Any]) -> bool:
    """A peer that selects the monitoring namespace."""
    labels = peer.get("namespaceSelector", {}).get("matchLabels", {})
    return labels == {"kubernetes.io/metadata.name": "monitoring"} and "podSelector" not in peer


def is_cxm_peer(peer: dict[str, Any]) -> bool:
    """A peer that selects only cxm pods of this namespace."""
    selector = peer.get("podSelector", {})
    return "namespaceSelector" not in peer and selector.get("matchLabels", {}).get("app.kubernetes.io/part-of") == "cxm"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_service_apis(overlay: str) -> None:
    policies = of_kind(render(overlay), "NetworkPolicy")
    apis = [d for d in cxm_deployments(overlay) if labels_of(d)["app.kubernetes.io/component"] in ("api", "all")]
    for d in apis:
        peers = ingress_peers(policies, labels_of(d), 8000)
        if labels_of(d)["app.kubernetes.io/name"] == "gateway":
            assert {} in peers, "the gateway is the public edge"
            continue
        assert peers and all(is_gateway_peer(p) or is_monitoring_peer(p) for p in peers), (name_of(d), peers)
        assert any(is_gateway_peer(p) for p in peers)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_cxm_pods_reach_postgres_and_nats(overlay: str) -> None:
    policies = of_kind(render(overlay), "NetworkPolicy")
    if overlay == "dev":
        targets = {
            "postgres": ({"app.kubernetes.io/name": "postgres"}, 5432),
            "nats": ({"app.kubernetes.io/name": "nats"}, 4222),
        }
    else:
        nats = {
            "app.kubernetes.io/name": "nats",
            "app.kubernetes.io/instance": "nats",
            "app.kubernetes.io/component": "nats",
        }
        targets = {"postgres": ({"cnpg.io/cluster": "cxm-db"}, 5432), "nats": (nats, 4222)}
    for name, (labels, port) in targets.items():
        peers = ingress_peers(policies, labels, port)
        assert peers and {} not in peers, name
        strangers = [
            p
            for p in peers
            if not is_cxm_peer(p)
            and p.get("podSelector", {}).get("matchLabels", {}).get("cnpg.io/cluster") != "cxm-db"
            and p.get("namespaceSelector", {}).get("matchLabels") != {"kubernetes.io/metadata.name": "cnpg-system"}
            and p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "nats-box"
        ]
        assert not strangers, (name, strangers)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_may_scrape_every_cxm_process(overlay: str) -> None:
    policies = of_kind(render(overlay), "NetworkPolicy")
    for d in cxm_deployments(overlay):
        assert any(is_monitoring_peer(p) for p in ingress_peers(policies, labels_of(d), 8000)), name_of(d)
        annotations = pod_template(d)["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
