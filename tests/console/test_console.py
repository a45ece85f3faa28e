"""The console in a real browser against a demo-loaded system: each view shows what the public API answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.console.demo_system import Demo, artifacts


def wait(condition: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    """Poll until the condition is truthy; its value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as exc:  # the page may be between renders
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}: {last!r}")


def by_test(browser: Any, name: str) -> Any:
    """The element marked `data-test=name`."""
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'[data-test="{name}"]')


def all_by_test(browser: Any, name: str) -> list[Any]:
    """Every element marked `data-test=name`."""
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, f'[data-test="{name}"]'))


def number(text: str) -> float:
    """A number as the console prints it (thousands separators, a trailing %)."""
    return float(text.replace(",", "").replace("%", "").strip())


def main_attr(browser: Any, name: str) -> str | None:
    """An attribute of the view's container (its view name, period and readiness)."""
    return browser.execute_script("return document.getElementById('main').dataset[arguments[0]] || null", name)


def sign_in(browser: Any, demo: Demo) -> None:
    """Sign in through the form unless this tab already holds the key."""
    from selenium.webdriver.common.by import By

    browser.get(f"{demo.gateway}/console/")
    if browser.find_elements(By.ID, "api-key"):
        browser.find_element(By.ID, "api-key").send_keys(demo.key)
        browser.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait(lambda: main_attr(browser, "ready") == "true", message="the first view")


def open_view(browser: Any, demo: Demo, view: str) -> dict[str, str]:
    """Show a view and wait until it has rendered; the period it used (from, to)."""
    sign_in(browser, demo)
    browser.get(f"{demo.gateway}/console/#/{view}")
    name = view.split("/")[0]
    wait(lambda: main_attr(browser, "view") == name and main_attr(browser, "ready") == "true", message=view)
    assert not all_by_test(browser, "view-error")
    return {"from": main_attr(browser, "from") or "", "to": main_attr(browser, "to") or ""}


def screenshot(browser: Any, name: str) -> None:
    """Save the whole page as a test artifact."""
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(max(height + 40, 800), 6000))
    browser.save_screenshot(str(artifacts() / f"{name}.png"))
    browser.set_window_size(1400, 1000)


def test_the_console_is_served_without_a_key_while_the_api_still_needs_one(demo: Demo) -> None:
    page = httpx.get(f"{demo.gateway}/console/", timeout=10)
    assert page.status_code == 200 and "cxm console" in page.text
    assert httpx.get(f"{demo.gateway}/console/app.js", timeout=10).status_code == 200
    assert httpx.get(f"{demo.gateway}/console", timeout=10).status_code == 308
    assert httpx.get(f"{demo.gateway}/v1/insights/alerts", timeout=10).status_code == 401
    document = httpx.get(f"{demo.gateway}/openapi.json", timeout=10).json()
    assert not any(path.startswith("/console") for path in document["paths"])


def test_signing_in_keeps_the_key_for_this_tab_only(browser: Any, demo: Demo) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{demo.gateway}/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    field = wait(lambda: browser.find_element(By.ID, "api-key"), message="the sign-in form")
    screenshot(browser, "00-sign-in")
    field.send_keys("cxm_not_a_real_key")
    browser.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait(lambda: "refused" in browser.find_element(By.ID, "signin-error").text, message="the refusal")
    sign_in(browser, demo)
    assert browser.execute_script("return sessionStorage.getItem('cxm.apiKey')") == demo.key
    assert browser.execute_script("return localStorage.length") == 0


def test_the_overview_shows_the_scores_the_api_computes(browser: Any, demo: Demo) -> None:
    period = open_view(browser, demo, "overview")
    screenshot(browser, "01-overview")
    for metric in ("nps", "csat", "ces"):
        answer = demo.get("/v1/insights/metrics", metric=metric, interval="week", **period)["series"][0]
        digits = 2 if metric == "ces" else 1
        assert number(by_test(browser, f"kpi-{metric}-value").text) == pytest.approx(answer["value"], abs=10**-digits)
        assert number(by_test(browser, f"kpi-{metric}-n").text) == answer["n"]
    volume = demo.get("/v1/insights/metrics", metric="volume", interval="week", **period)["series"][0]
    assert number(by_test(browser, "kpi-volume-value").text) == volume["count"]


def test_themes_and_alerts_show_the_open_alerts_and_the_planted_spike(browser: Any, demo: Demo) -> None:
    open_view(browser, demo, "themes")
    screenshot(browser, "02-themes-and-alerts")
    alerts = demo.get("/v1/insights/alerts", limit=100)["alerts"]
    open_alerts = [a for a in alerts if a["status"] == "open"]
    assert number(by_test(browser, "alert-count").text) == len(open_alerts)
    shown = {(e.get_attribute("data-kind"), e.get_attribute("data-key")) for e in all_by_test(browser, "alert")}
    assert ("volume_spike", "technical_issue") in shown
    detail = by_test(browser, "theme-detail")
    assert detail.get_attribute("data-topic") == "technical_issue"  # the view opens on the spiking theme
    assert number(by_test(browser, "alert-badge").text) == len(open_alerts)


def test_drivers_list_the_topics_the_api_ranks(browser: Any, demo: Demo) -> None:
    period = open_view(browser, demo, "drivers")
    screenshot(browser, "03-drivers")
    answer = demo.get("/v1/insights/drivers", outcome="nps", **period)
    rows = [r.get_attribute("data-topic") for r in all_by_test(browser, "driver-row")]
    assert rows == [d["topic"] for d in answer["drivers"]]
    assert rows[0] == "technical_issue"


def test_the_journey_shows_the_paths_and_ranks_the_planted_friction_first(browser: Any, demo: Demo) -> None:
    period = open_view(browser, demo, "journey")
    screenshot(browser, "04-journey")
    friction = demo.get("/v1/journeys/friction", **period)["friction"]
    assert by_test(browser, "friction-top").text == friction[0]["key"] == "onboarding"
    assert by_test(browser, "sankey").tag_name == "svg"
    stages = [r.get_attribute("data-stage") for r in all_by_test(browser, "stage-row")]
    assert stages == [s["stage"] for s in demo.get("/v1/journeys/stages", **period)["stages"]]


def test_the_action_board_counts_what_the_api_lists_and_shows_the_measured_fix(browser: Any, demo: Demo) -> None:
    def counts_agree() -> bool:
        open_view(browser, demo, "actions")
        items = demo.all_items()
        for status in ("open", "acknowledged", "in_progress", "resolved"):
            if number(by_test(browser, f"count-{status}").text) != sum(1 for i in items if i["status"] == status):
                return False
        return True

    # The automation opens items in the background: wait until the board and the API agree.
    wait(counts_agree, timeout=60, message="the board's counts to match the API")
    screenshot(browser, "05-actions")
    impacts = all_by_test(browser, "impact")
    assert impacts, "a resolved improvement shows its measured impact"
    fixed = next(i for i in demo.summary["planted"]["improvements"] if i.get("resolved_at"))
    measured = demo.get(f"/v1/actions/{fixed['id']}/impact")
    assert measured["did"] < 0 and measured["ci_high"] < 0
    shown = [float(e.get_attribute("data-did")) for e in impacts]
    assert measured["did"] == pytest.approx(min(shown))


def test_a_customer_from_the_at_risk_list_opens_on_their_timeline(browser: Any, demo: Demo) -> None:
    open_view(browser, demo, "journey")
    link = all_by_test(browser, "risk-customer")[0]
    link.click()
    wait(lambda: main_attr(browser, "view") == "customer" and main_attr(browser, "ready") == "true", message="timeline")
    customer_id = browser.current_url.rsplit("/", 1)[-1]
    screenshot(browser, "06-customer")
    timeline = demo.get(f"/v1/journeys/customers/{customer_id}")
    assert by_test(browser, "customer-stage").text == timeline["current_stage"].replace("_", " ")
    shown = all_by_test(browser, "timeline")[0].find_elements("css selector", "li")
    assert len(shown) == min(80, len(timeline["steps"]))


def test_new_items_appear_live_without_a_reload(browser: Any, demo: Demo) -> None:
    open_view(browser, demo, "actions/improvement")
    wait(lambda: by_test(browser, "live").get_attribute("data-state") == "on", message="the live stream")
    before = number(by_test(browser, "count-open").text)
    browser.execute_script("window.__sameDocument = true")
    demo.post("/v1/actions", {"kind": "improvement", "title": "Check the crash hotfix rollout", "priority": "low"})
    wait(lambda: number(by_test(browser, "count-open").text) > before, timeout=30, message="the new item on the board")
    assert browser.execute_script("return window.__sameDocument === true"), "the page was not reloaded"
    screenshot(browser, "07-live-update")
