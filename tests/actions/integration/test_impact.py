"""Did it work? A planted improvement is measured with the right sign and a confidence interval excluding zero;
a placebo gets an interval that includes zero. Windows are in event time, so imported history counts."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cxm_common.db import driver, set_tenant
from tests.actions.integration.conftest import Stack, Tenant, eventually

PIVOT = (datetime.now(UTC) - timedelta(days=15)).replace(microsecond=0)
BILLING = "Question about the invoice and billing for my account"
DELIVERY = "About the courier delivery of my parcel"


def answers(rng: random.Random, text: str, start: datetime, count: int, detractor_share: float) -> list[dict[str, Any]]:
    detractors = round(count * detractor_share)
    out = []
    for i in range(count):
        nps = rng.choice([1, 2, 3]) if i < detractors else rng.choice([8, 9, 10])
        at = start + timedelta(hours=i * 300 / count)
        key = f"c-{rng.randrange(10**9)}"
        out.append(
            {
                "channel": "survey",
                "customer": {"id": key},
                "text": text,
                "scores": {"nps": nps},
                "occurred_at": at.isoformat(),
            }
        )
    return out


async def load(t: Tenant) -> int:
    rng = random.Random(13)
    items: list[dict[str, Any]] = []
    for offset in (-44, -30, -14):  # billing 40 % detractors for a month and a half
        items += answers(rng, BILLING, PIVOT + timedelta(days=offset), 30, 0.4)
    items += answers(rng, BILLING, PIVOT, 30, 0.1)  # … then 10 % after the fix
    for offset in (-44, -30, -14, 0):  # everything else flat at 25 %
        items += answers(rng, DELIVERY, PIVOT + timedelta(days=offset), 30, 0.25)
    await t.ok("POST", "/v1/feedback/batch", status=202, json={"items": items})
    return len(items)


async def resolved_improvement(t: Tenant, topic: str, at: datetime) -> str:
    item = await t.ok(
        "POST",
        "/v1/actions",
        status=201,
        json={"kind": "improvement", "title": f"Fix {topic}", "links": {"topic": topic}},
    )
    await t.ok("POST", f"/v1/actions/{item['id']}/transitions", json={"to": "resolved", "at": at.isoformat()})
    return str(item["id"])


async def test_a_planted_improvement_is_measured_and_a_placebo_is_not(stack: Stack) -> None:
    t = await stack.tenant()
    sent = await load(t)

    async def all_facts() -> bool:
        import uuid

        async with stack.actions.runtime.engine.begin() as conn:
            await set_tenant(conn, uuid.UUID(t.id))
            n = await (await driver(conn)).fetchval(
                "SELECT count(*) FROM feedback_facts WHERE tenant_id = $1", uuid.UUID(t.id)
            )
        return bool(n >= sent)

    await eventually(all_facts, timeout=120, what="every analysis reaching actions")
    fixed = await resolved_improvement(t, "billing", PIVOT)
    impact = await t.ok("GET", f"/v1/actions/{fixed}/impact", params={"metric": "detractor_share", "window_days": 14})
    assert impact["did"] is not None and -0.45 < impact["did"] < -0.15
    assert impact["ci_high"] < 0 and impact["significant"] is True
    assert impact["treated_before"] > impact["treated_after"]
    placebo = await resolved_improvement(t, "billing", PIVOT - timedelta(days=30))
    flat = await t.ok("GET", f"/v1/actions/{placebo}/impact", params={"metric": "detractor_share", "window_days": 14})
    assert flat["ci_low"] <= 0 <= flat["ci_high"] and flat["significant"] is False
    assert await stack.actions.impact.measure(uuid.UUID(t.id), uuid.UUID(fixed)) == 1
    recorded = await t.ok("GET", f"/v1/actions/{fixed}")
    assert recorded["impact"] and recorded["history"][-1]["type"] == "actions.impact.measured.v1"
