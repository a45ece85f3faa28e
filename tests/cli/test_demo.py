"""`cxm demo`: a deterministic company, loaded through the public API and signed webhooks, with its truths planted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cxm_cli.demo.generator import generate
from cxm_cli.demo.sources import Connection, build, twilio_headers
from tests.console.demo_system import Demo, demo_system
from tests.ingest import signers

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The session's demo-loaded system (shared with the console's browser tests)."""
    return demo_system(request, tmp_path_factory)


def test_the_same_seed_gives_the_same_company() -> None:
    first = generate(customers=120, days=60, seed=5, now=NOW)
    again = generate(customers=120, days=60, seed=5, now=NOW)
    other = generate(customers=120, days=60, seed=6, now=NOW)
    assert first.feedback == again.feedback and first.interactions == again.interactions
    assert first.customers == again.customers
    assert [f.text for f in other.feedback] != [f.text for f in first.feedback]


def test_history_is_back_dated_within_the_period_and_arrives_through_several_sources() -> None:
    company = generate(customers=400, days=90, seed=1, now=NOW)
    times = [f.at for f in company.feedback] + [i.at for i in company.interactions]
    assert min(times) >= company.plan.start and max(times) < NOW
    assert {f.source for f in company.feedback} >= {"api", "typeform", "zendesk", "delighted", "intercom"}
    assert all(c.value > 0 for c in company.customers)
    assert len({f.text for f in company.feedback if f.text}) > len(company.feedback) / 3  # many phrasings


def test_the_planted_spike_and_fix_are_in_the_generated_feedback() -> None:
    company = generate(customers=600, days=120, seed=2, now=NOW)
    plan = company.plan
    spike = [f for f in company.feedback if f.theme == "app_crash" and plan.spike_from <= f.at < plan.spike_to]
    before = [f for f in company.feedback if f.theme == "app_crash" and f.at < plan.spike_from]
    days_before = (plan.spike_from - plan.start).days
    assert len(spike) / 7 > 5 * len(before) / days_before

    def negative_share(items: list) -> float:  # type: ignore[type-arg]
        return sum(f.polarity == "neg" for f in items) / len(items)

    billing = [f for f in company.feedback if f.theme.startswith("billing")]
    assert negative_share([f for f in billing if f.at < plan.fixed_at]) > 0.6
    assert negative_share([f for f in billing if f.at >= plan.fixed_at]) < 0.2


def test_webhooks_are_signed_the_way_each_tool_signs() -> None:
    company = generate(customers=50, days=30, seed=4, now=NOW)
    customer = company.customers[0]
    feedback = company.feedback[0]
    url = "https://cx.example.com/v1/webhooks/typeform/abc"
    typeform = build(Connection("typeform", "abc", url, "s3cret"), feedback, customer, now=NOW)
    assert typeform.headers["typeform-signature"] == signers.typeform_signature("s3cret", typeform.body)
    zendesk = build(Connection("zendesk", "abc", url, "s3cret"), feedback, customer, now=NOW)
    timestamp = zendesk.headers["x-zendesk-webhook-signature-timestamp"]
    expected = signers.zendesk_signature("s3cret", timestamp, zendesk.body)
    assert zendesk.headers["x-zendesk-webhook-signature"] == expected
    intercom = build(Connection("intercom", "abc", url, "s3cret"), feedback, customer, now=NOW)
    assert intercom.headers["x-hub-signature"] == signers.intercom_signature("s3cret", intercom.body)
    twilio = build(Connection("twilio", "abc", url, "tok"), feedback, customer, now=NOW)
    assert twilio.headers == signers.twilio_headers("tok", url, twilio.body.decode())
    assert twilio_headers("tok", url, twilio.body.decode()) == twilio.headers


def test_the_demo_loads_everything_it_generated(demo: Demo) -> None:
    summary = demo.summary
    generated, sent = summary["generated"], summary["sent"]
    assert sent["interactions"] == generated["interactions"]
    assert sum(v for k, v in sent.items() if k != "interactions") == generated["feedback"]
    assert summary["analysed"] == generated["feedback"]
    assert summary["console"] == f"{demo.gateway}/console/"
    for connection in demo.get("/v1/connections")["items"]:
        refused = [d for d in demo.get(f"/v1/connections/{connection['id']}/deliveries")["items"] if d.get("error")]
        assert not refused, (connection["source"], refused[:2])
    print(f"demo loaded in {demo.seconds:.0f}s: {summary['seconds']}")


def test_the_spike_raises_an_alert_and_an_improvement_item(demo: Demo) -> None:
    alerts = demo.get("/v1/insights/alerts", limit=100)["alerts"]
    spike = [a for a in alerts if a["kind"] == "volume_spike" and a["key"] == "technical_issue"]
    assert spike, [(a["kind"], a["key"]) for a in alerts]
    window = datetime.fromisoformat(spike[0]["evidence"]["window"]["from"])
    plan = demo.summary["planted"]["spike"]
    assert datetime.fromisoformat(plan["from"]) <= window < datetime.fromisoformat(plan["to"])
    improvements = demo.all_items(kind="improvement")
    assert any(i["links"].get("alert") == spike[0]["id"] for i in improvements)


def test_onboarding_is_the_top_friction_point(demo: Demo) -> None:
    friction = demo.get("/v1/journeys/friction")["friction"]
    assert friction[0]["key"] == "onboarding", [(f["key"], f["impact"]) for f in friction]
    assert friction[0]["evidence"]["abandoned"] > 0


def test_the_billing_fix_has_a_measured_effect(demo: Demo) -> None:
    fixed = next(i for i in demo.summary["planted"]["improvements"] if i.get("resolved_at"))
    item = demo.get(f"/v1/actions/{fixed['id']}")
    assert item["status"] == "resolved" and item["resolved_at"].startswith(fixed["resolved_at"][:10])
    impact = demo.get(f"/v1/actions/{fixed['id']}/impact")
    assert impact["did"] < 0 and impact["ci_high"] < 0, impact


def test_recent_detractors_get_close_loop_items_and_some_are_followed_up(demo: Demo) -> None:
    items = demo.all_items(kind="close_loop")
    detractor_items = [i for i in items if i.get("rule_id") and "detractor" in i["rule_id"]]
    assert detractor_items
    statuses = {i["status"] for i in items}
    assert {"open", "acknowledged", "in_progress", "resolved"} <= statuses
    assert demo.summary["planted"]["close_loop"]["resolved"] > 0


def test_customers_carry_their_value(demo: Demo) -> None:
    risk = demo.get("/v1/journeys/at-risk", limit=20)
    assert risk["value_at_risk"] > 0
    assert all(c["value"] is not None for c in risk["customers"])
