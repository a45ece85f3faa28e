"""The bench's outputs: one Markdown table, a JSON file of every figure, and a PNG chart of throughput."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """One scenario's outcome as reported, with the raw limit it is compared with."""

    name: str
    figure: str
    unit: str
    value: float | None
    items: int = 0
    seconds: float = 0.0
    latency_ms: dict[str, float] | None = None
    latency_of: str | None = None
    raw: str | None = None
    raw_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    target_met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def is_rate(self) -> bool:
        """Say whether the value is a throughput (per second)."""
        return self.unit.endswith("/s")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit.endswith("/s") or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) < 0.1:
        return f"{value:.3f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: list[Result]) -> str:
    """Return the results as one Markdown table."""
    header = (
        "| Scenario | Figure | Value | Unit | p50 ms | p95 ms | p99 ms | Latency of | Raw limit (same run) "
        "| Raw value | Value / raw | Target | Client CPU ms/item | Others' CPU % | Steal % |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for r in results:
        latency = r.latency_ms or {}
        value = "error" if r.error else _number(r.value, r.unit)
        target = ""
        if r.target:
            target = r.target + ("" if r.target_met is None else (" ✓" if r.target_met else " ✗"))
        cells = [
            f"`{r.name}`",
            r.figure,
            value,
            r.unit,
            _number(latency.get("p50")),
            _number(latency.get("p95")),
            _number(latency.get("p99")),
            r.latency_of or "",
            f"`{r.raw}`" if r.raw else "",
            _number(r.raw_value, r.unit) if r.raw else "",
            f"{r.ratio:.2f}×" if r.ratio is not None else "",
            target,
            _number(r.extra.get("client_cpu_ms_per_item")) if r.extra.get("client_cpu_ms_per_item") else "",
            _number(r.extra.get("others_cpu_pct")) if "others_cpu_pct" in r.extra else "",
            _number(r.extra.get("steal_cpu_pct")) if "steal_cpu_pct" in r.extra else "",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_json(results: list[Result], meta: dict[str, Any], path: Path) -> None:
    """Write the run's metadata and every result to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


_GROUP_COLOURS = {"raw": "#9e9e9e", "store": "#1f77b4", "relay": "#2ca02c", "consumer": "#ff7f0e", "peer": "#d62728"}


def write_chart(results: list[Result], path: Path) -> None:
    """Draw throughput per scenario (log scale) with its raw limit as a marker; needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.is_rate and r.value is not None and not r.error]
    if not rows:
        return
    names = [r.name for r in rows][::-1]
    values = [r.value or 0.0 for r in rows][::-1]
    colours = [_GROUP_COLOURS.get(r.name.split(".", 1)[0], "#17becf") for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    ax.barh(names, values, color=colours)
    for y, r in enumerate(rows[::-1]):
        ax.text(r.value or 0.0, y, f" {r.value:,.0f} {r.unit}", va="center", fontsize=8)
        if r.raw_value:
            ax.plot(r.raw_value, y, marker="|", markersize=14, color="black")
    ax.set_xscale("log")
    ax.set_xlabel("per second (log scale); black tick = raw limit measured in the same run")
    ax.set_title("cxm bench: throughput per scenario")
    ax.margins(x=0.25)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
