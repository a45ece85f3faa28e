"""The closing summary of `cxm demo`: where to look, how to get in, and what was planted."""

from __future__ import annotations

from typing import Any

from cxm_cli.demo.generator import Company
from cxm_cli.demo.loader import Report


def as_dict(report: Report, company: Company) -> dict[str, Any]:
    """The summary as JSON-ready data."""
    plan = company.plan
    return {
        "tenant_id": report.tenant_id,
        "api_key": report.api_key,
        "console": f"{report.gateway}/console/",
        "generated": company.counts,
        "sent": report.sent,
        "analysed": report.analysed,
        "planted": {
            "friction_stage": plan.friction_stage,
            "spike": {"topic": plan.spike_topic, "from": plan.spike_from.isoformat(), "to": plan.spike_to.isoformat()},
            "fixed": {"topic": plan.fixed_topic, "resolved_at": plan.fixed_at.isoformat()},
            "improvements": [
                {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in i.items()} for i in report.improvements
            ],
            "close_loop": report.close_loop,
        },
        "seconds": {k: round(v, 1) for k, v in report.seconds.items()},
    }


def format_summary(report: Report, company: Company) -> str:
    """A few lines for people."""
    plan = company.plan
    day = "%d %b"
    sent = ", ".join(f"{k} {v}" for k, v in sorted(report.sent.items()))
    lines = [
        "",
        f"Demo company loaded: {company.counts['customers']} customers, {company.counts['interactions']} interactions, "
        f"{company.counts['feedback']} feedback ({report.analysed} analysed).",
        f"  sent:      {sent}",
        f"  tenant:    {report.tenant_id or '(the key’s own)'}",
        f"  API key:   {report.api_key}",
        f"  console:   {report.gateway}/console/  (sign in with the API key)",
        "Planted:",
        f"  friction   {plan.friction_stage}: about a third of new customers stall there and rate it badly",
        f'  spike      "app crashes after the update" ({plan.spike_topic}) from {plan.spike_from:{day}} to '
        f"{plan.spike_to:{day}}: an alert and an improvement item",
        f"  fix        duplicate charges ({plan.fixed_topic}) resolved on {plan.fixed_at:{day}}: complaints drop after",
        "  detractors close-loop items from the last 30 days: "
        + ", ".join(f"{k} {v}" for k, v in report.close_loop.items()),
        "  customers  carry a segment, plan, region, team and a yearly value",
        "Timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in report.seconds.items()),
    ]
    return "\n".join(lines)
