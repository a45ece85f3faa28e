"""Alert rules and the dashboard query metrics the code really exports, with labels it really sets; traces and
NATS are configured as documented."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, K8S, ROOT

RULES = K8S / "monitoring" / "prometheus-rules.yaml"
DASHBOARD = K8S / "monitoring" / "grafana-dashboard.json"
# Modules that register cxm's Prometheus metrics.
METRIC_MODULES = ("cxm_common.observability", "cxm_actions.outbound.deliveries")
# Labels Prometheus adds when it scrapes, and metrics cxm takes from kube-state-metrics.
SCRAPE_LABELS = {"namespace", "pod", "container", "instance", "job", "endpoint", "role"}
EXTERNAL = {
    "kube_deployment_status_replicas_available": {"deployment", "namespace"},
    "kube_deployment_spec_replicas": {"deployment", "namespace"},
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "deriv", "and", "or", "unless",
    "histogram_quantile", "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "bool", "offset",
}  # fmt: skip


def exported_metrics() -> dict[str, set[str]]:
    """Every series name the code can export, with its label names."""
    from prometheus_client import REGISTRY

    for module in METRIC_MODULES:
        importlib.import_module(module)
    series: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # the registry lists no public way to reach label names
        name = getattr(collector, "_name", None)
        kind = getattr(collector, "_type", None)
        if not name or not str(name).startswith("cxm_"):
            continue
        labels = set(getattr(collector, "_labelnames", ()))
        suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}[kind]
        for suffix in suffixes:
            series[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups of the PrometheusRule."""
    return yaml.safe_load(RULES.read_text())["spec"]["groups"]  # type: ignore[no-any-return]


def rules() -> list[dict[str, Any]]:
    """Every rule."""
    return [rule for group in rule_groups() for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    """Every query of the dashboard, with its template variables replaced by a value."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [e.replace("$namespace", ".*") for e in exprs]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metric names an expression selects, each with the label names it matches on."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values and strings cannot hide a metric name
    found = []
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", expr):
        name, matchers = match[1], match[2] or ""
        if name in PROMQL_WORDS or name in SCRAPE_LABELS or re.fullmatch(r"\d+[smhdw]?|le|[a-z]", name):
            continue
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*[=!~]", matchers))
        found.append((name, labels))
    return found


def grouping_labels(expr: str) -> set[str]:
    """Label names used in `by (...)` clauses."""
    return {label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")}


def check_expr(expr: str, series: dict[str, set[str]], recorded: set[str]) -> list[str]:
    """What in an expression names a metric or label that nothing exports."""
    problems = []
    names = set()
    for name, labels in selectors(expr):
        if name in recorded:
            continue
        known = series.get(name) or EXTERNAL.get(name)
        if known is None:
            # Grouping labels inside `by (...)` are caught by the regex too; only flag real names.
            if name not in grouping_labels(expr):
                problems.append(f"unknown metric {name}")
            continue
        names.add(name)
        if unknown := labels - known - SCRAPE_LABELS:
            problems.append(f"{name} has no label {sorted(unknown)}")
    allowed = set().union(*(series.get(n) or EXTERNAL.get(n, set()) for n in names)) | SCRAPE_LABELS
    if unknown := grouping_labels(expr) - allowed:
        problems.append(f"grouped by unknown labels {sorted(unknown)}")
    return problems


def test_the_code_exports_the_metrics_the_rules_are_built_on() -> None:
    series = exported_metrics()
    for name in (
        "cxm_http_request_duration_seconds_bucket",
        "cxm_consumer_lag",
        "cxm_outbox_backlog",
        "cxm_dead_letters",
    ):
        assert name in series


def test_alert_and_recording_rules_use_only_exported_metrics_and_labels() -> None:
    series = exported_metrics()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    problems = {
        rule.get("alert") or rule["record"]: p for rule in rules() if (p := check_expr(rule["expr"], series, recorded))
    }
    assert not problems


def test_dashboard_queries_use_only_exported_metrics_and_labels() -> None:
    series = exported_metrics()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    problems = {expr: p for expr in dashboard_exprs() if (p := check_expr(expr, series, recorded))}
    assert not problems


def test_the_alerts_the_issue_asks_for_exist() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    joined = "\n".join(rule["expr"] for rule in alerts.values())
    for metric in ("cxm_consumer_lag", "cxm_outbox_backlog", "cxm_dead_letters", 'status="5xx"'):
        assert metric in joined
    assert any("ErrorBudgetBurn" in name for name in alerts) and any("LatencyBudgetBurn" in name for name in alerts)


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown document's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_severity_and_a_runbook_that_exists() -> None:
    known = anchors((ROOT / "docs" / "operations.md").read_text())
    for rule in rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "docs/operations.md" and anchor in known, rule["alert"]


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed; the metric and label checks still ran")
    plain = tmp_path / "cxm.rules.yml"
    plain.write_text(yaml.safe_dump({"groups": rule_groups()}))
    result = subprocess.run([promtool, "check", "rules", str(plain)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_grafana_json_with_unique_panels_on_a_chosen_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "cxm-overview"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]


def test_nats_chart_values_make_a_three_node_jetstream_cluster_that_fsyncs() -> None:
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = values["config"]["jetstream"]
    assert jetstream["enabled"] and jetstream["fileStore"]["enabled"] and jetstream["fileStore"]["pvc"]["enabled"]
    assert jetstream["memoryStore"]["enabled"] is False
    assert jetstream["merge"]["sync_interval"] == "always"
    assert values["podDisruptionBudget"]["enabled"] is True


def test_dev_nats_fsyncs_every_write_too() -> None:
    assert "sync_interval: always" in (K8S / "overlays" / "dev" / "nats.conf").read_text()


def test_collector_receives_otlp_http_and_exports_traces() -> None:
    for path in (
        K8S / "base" / "otel-collector-config.yaml",
        K8S / "overlays" / "dev" / "otel-collector-config.dev.yaml",
    ):
        config = yaml.safe_load(path.read_text())
        assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
        (exporter,) = config["service"]["pipelines"]["traces"]["exporters"]
        assert exporter in config["exporters"]
