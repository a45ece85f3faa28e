"""The chaos run's outputs: one Markdown table of the reconciliation figures, the broken promises, and JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.chaos.scenario import Outcome

COLUMNS = (
    "Scenario", "Held", "Sent", "Acked", "Refused (status: n)", "5xx ≠ 503", "Stored", "Lost", "Published",
    "Projected insight / journey / actions", "Dup. sent / leaked", "Dead-lettered", "Ingest p50 / p95 / p99 ms",
    "Lag p50 / p99 ms", "Recovery s", "Max RSS MB",
)  # fmt: skip


def _ms(values: dict[str, float], keys: tuple[str, ...]) -> str:
    return " / ".join(_n(values.get(k)) for k in keys) if values else "–"


def _n(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def row(outcome: Outcome) -> list[str]:
    """One scenario as table cells."""
    f = outcome.figures
    refused = {k: v for k, v in (f.get("statuses") or {}).items() if not k.startswith("2")}
    projected = f.get("projected") or {}
    recovery = ", ".join(f"{k} {_n(v)}" for k, v in outcome.recovery_s.items()) or "–"
    rss = outcome.max_rss_mb
    biggest = ", ".join(f"{k} {v:.0f}" for k, v in sorted(rss.items(), key=lambda kv: -kv[1])[:3]) if rss else "–"
    published = f.get("published") or {}
    held = "✓" if outcome.ok else ("error" if outcome.error else "✗")
    return [
        f"{outcome.id} {outcome.title}",
        held,
        _n(f.get("sent")),
        _n(f.get("acked")),
        (", ".join(f"{k}: {v}" for k, v in refused.items()) or "–")
        + (f" ({f['shed_then_retried']} retried after 503/429)" if f.get("shed_then_retried") else ""),
        _n(f.get("server_errors")),
        _n(f.get("stored")),
        _n(f.get("lost")),
        _n(published.get("ingest")) if published else "–",
        " / ".join(_n(projected.get(s)) for s in ("insight", "journey", "actions")) if projected else "–",
        f"{_n(f.get('duplicates_sent'))} / {_n(f.get('leaked'))}",
        _n(sum((f.get("dead_lettered") or {}).values())) if "dead_lettered" in f else "–",
        _ms(f.get("ingest_ms") or {}, ("p50", "p95", "p99")),
        _ms(f.get("lag_ms") or {}, ("p50", "p99")),
        recovery,
        biggest,
    ]


def markdown(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """The table, the promises each scenario checked that failed, and how the run was made."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row(o)) + " |" for o in outcomes]
    broken = [(o, c) for o in outcomes for c in o.broken()]
    errors = [o for o in outcomes if o.error]
    lines.append("")
    if broken or errors:
        lines.append("Broken promises:")
        lines += [f"- {o.id}: {c.name} — {c.detail}" for o, c in broken]
        lines += [f"- {o.id}: did not finish — {o.error}" for o in errors]
    else:
        checks = sum(len(o.checks) for o in outcomes)
        lines.append(f"Every promise held: {checks} checks over {len(outcomes)} scenarios.")
    targets = [(o, t) for o in outcomes for t in o.targets]
    if targets:
        lines += ["", "Targets (performance goals, reported like the bench's; they do not fail the run):"]
        lines += [f"- {o.id}: {t.name}: {'✓' if t.ok else '✗'} {t.detail}" for o, t in targets]
    overload = next((o for o in outcomes if o.id == "F9" and o.extra.get("phases")), None)
    if overload is not None:
        lines += ["", overload_table(overload)]
    lines += ["", f"Run: {meta.get('command')}, {meta.get('duration_s')} s, {meta.get('cpus')} CPUs, "
              f"{meta.get('platform')}, Python {meta.get('python')}, {meta.get('finished_at')}."]  # fmt: skip
    return "\n".join(lines)


def overload_table(outcome: Outcome) -> str:
    """F9's phases: offered and accepted rates, p99 of accepted requests, share shed, statuses, RSS."""
    head = ["Phase", "Offered /s", "Accepted /s", "p50 / p99 accepted ms", "Shed %", "Statuses",
            "Gateway RSS MB (max)", "Ingest API RSS MB (max)", "Others' CPU %"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for phase in outcome.extra["phases"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in phase["statuses"].items())
        lines.append(
            f"| {phase['name']} | {phase['offered_rate']:.0f} | {phase['accepted_rate']:.0f} | "
            f"{_n(phase['accepted_ms'].get('p50'))} / {_n(phase['accepted_ms'].get('p99'))} | "
            f"{phase['shed_pct']:.1f} | {statuses} | {_n(phase['rss_mb'].get('gateway'))} | "
            f"{_n(phase['rss_mb'].get('ingest-api'))} | {_n(phase.get('others_cpu_pct'))} |"
        )
    return "\n".join(lines)


def write(outcomes: list[Outcome], meta: dict[str, Any], json_path: Path, md_path: Path) -> None:
    """Write the JSON and Markdown reports."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "ok": all(o.ok for o in outcomes),
               "scenarios": [{**asdict(o), "ok": o.ok} for o in outcomes]}  # fmt: skip
    json_path.write_text(json.dumps(payload, indent=2, default=str))
    md_path.write_text(markdown(outcomes, meta) + "\n")
