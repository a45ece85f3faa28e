"""Impact of an improvement: a planted effect is found with the right sign, a placebo is not, and recovery."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cxm_actions.domain.impact import Observation, measure, metric_value, recovered, recovery_rate

from .items import DAY, HOUR, T0

PIVOT = T0 + 30 * DAY
WINDOW = 28 * DAY


def cell(
    prefix: str, n: int, *, treated: bool, after: bool, negative_every: tuple[int, int], value: float | None = None
) -> list[Observation]:
    """n units with one observation each, spread over the period; `negative_every` (k, m): k of every m negative."""
    k, m = negative_every
    base = PIVOT if after else PIVOT - WINDOW
    step = WINDOW / n
    return [
        Observation(f"{prefix}{i:04d}", base + i * step, treated, negative=i % m < k, value=value) for i in range(n)
    ]


def planted(n: int = 200) -> list[Observation]:
    """Treated negativity falls from 40% to 10% after the pivot; the control stays at 25% throughout."""
    obs = (
        cell("tb", n, treated=True, after=False, negative_every=(2, 5))
        + cell("ta", n, treated=True, after=True, negative_every=(1, 10))
        + cell("cb", n, treated=False, after=False, negative_every=(1, 4))
        + cell("ca", n, treated=False, after=True, negative_every=(1, 4))
    )
    random.Random(7).shuffle(obs)
    return obs


def placebo(n: int = 200) -> list[Observation]:
    """Nothing changes: 25% negative in every cell."""
    return (
        cell("tb", n, treated=True, after=False, negative_every=(1, 4))
        + cell("ta", n, treated=True, after=True, negative_every=(1, 4))
        + cell("cb", n, treated=False, after=False, negative_every=(1, 4))
        + cell("ca", n, treated=False, after=True, negative_every=(1, 4))
    )


def test_planted_improvement_is_found_with_the_right_sign() -> None:
    """A 30-point fall in treated negativity against a flat control gives DiD −0.30 with a CI below zero."""
    r = measure(planted(), metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=500, seed=1)
    assert (r.treated_before, r.treated_after) == pytest.approx((0.40, 0.10))
    assert (r.control_before, r.control_after) == pytest.approx((0.25, 0.25))
    assert r.before_after == pytest.approx(-0.30)
    assert r.did == pytest.approx(-0.30)
    assert r.ci_low is not None and r.ci_high is not None
    assert r.ci_low < -0.30 < r.ci_high < 0.0
    assert r.significant and r.reason is None
    assert r.n["treated_before"] == r.n["control_after_units"] == 200


def test_control_change_is_taken_out() -> None:
    """When the control improves as much as the treated units, the improvement gets no credit."""
    obs = planted()
    obs = [
        replace(o, negative=int(o.unit[2:]) % 20 < 1) if o.unit.startswith("ca") else o for o in obs
    ]  # control falls from 25% to 5%
    r = measure(obs, metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=300)
    assert r.before_after == pytest.approx(-0.30)
    assert r.did == pytest.approx(-0.10)


def test_placebo_interval_includes_zero() -> None:
    """With no change anywhere, DiD is zero and the interval straddles it."""
    r = measure(placebo(), metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=500, seed=3)
    assert r.did == pytest.approx(0.0)
    assert r.ci_low is not None and r.ci_high is not None
    assert r.ci_low < 0.0 < r.ci_high
    assert not r.significant


def test_noisy_placebo_interval_includes_zero() -> None:
    """Cells drawn at random from one 25% rate give an interval around zero (seeded, so the outcome is fixed)."""
    rng = random.Random(11)
    obs = [
        Observation(f"u{i}", PIVOT + (rng.random() * 2 - 1) * WINDOW, rng.random() < 0.5, negative=rng.random() < 0.25)
        for i in range(800)
    ]
    r = measure(obs, metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=400, seed=0)
    assert r.ci_low is not None and r.ci_high is not None
    assert r.ci_low < 0.0 < r.ci_high


def test_same_seed_same_interval() -> None:
    """The bootstrap is deterministic for a seed."""
    a = measure(planted(), metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=200, seed=5)
    b = measure(list(reversed(planted())), metric="negative_share", pivot=PIVOT, window=WINDOW, resamples=200, seed=5)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_too_few_observations_give_no_interval_and_say_why() -> None:
    """Cells under min_per_cell units keep their point estimates but get no CI, and the reason names them."""
    obs = planted()
    obs = [o for o in obs if not o.unit.startswith("cb") or int(o.unit[2:]) < 4]
    r = measure(obs, metric="negative_share", pivot=PIVOT, window=WINDOW, min_per_cell=10)
    assert r.did is not None
    assert (r.ci_low, r.ci_high, r.significant) == (None, None, False)
    assert r.reason is not None
    assert "too few units" in r.reason and "control before 4" in r.reason and "need 10" in r.reason


def test_missing_control_gives_no_did() -> None:
    """Without control observations there is a before/after change but no difference-in-differences."""
    obs = [o for o in planted() if o.treated]
    r = measure(obs, metric="negative_share", pivot=PIVOT, window=WINDOW)
    assert r.before_after == pytest.approx(-0.30)
    assert r.did is None and r.ci_low is None
    assert r.reason == "no observations with the metric in control before, control after"


def test_a_units_observations_are_resampled_together() -> None:
    """Units count once for min_per_cell however many observations they have."""
    obs = [
        Observation(f"{c}{u}", (PIVOT - DAY if c.endswith("b") else PIVOT + DAY) + j * HOUR, c[0] == "t",
                    negative=j == 0)
        for c in ("tb", "ta", "cb", "ca") for u in range(5) for j in range(4)
    ]  # fmt: skip
    r = measure(obs, metric="negative_share", pivot=PIVOT, window=WINDOW, min_per_cell=10)
    assert r.n["treated_before"] == 20 and r.n["treated_before_units"] == 5
    assert r.reason is not None and "treated before 5" in r.reason


def test_observations_are_placed_by_event_time() -> None:
    """Before is [pivot − window, pivot), after is [pivot, pivot + window); anything else is ignored."""
    base = cell("tb", 20, treated=True, after=False, negative_every=(0, 1)) + cell(
        "cb", 20, treated=False, after=False, negative_every=(0, 1)
    )
    base += cell("ca", 20, treated=False, after=True, negative_every=(0, 1))
    edges = [
        Observation("at-pivot", PIVOT, True, negative=True),  # after
        Observation("just-before", PIVOT - HOUR / 3600, True, negative=True),  # before
        Observation("window-start", PIVOT - WINDOW, True, negative=True),  # before
        Observation("window-end", PIVOT + WINDOW, True, negative=True),  # outside
        Observation("too-early", PIVOT - WINDOW - HOUR, True, negative=True),  # outside
    ]
    r = measure(base + edges, metric="negative_share", pivot=PIVOT, window=WINDOW, min_per_cell=2)
    assert r.n["treated_before"] == 22 and r.n["treated_after"] == 1
    assert r.treated_before == pytest.approx(2 / 22)
    assert r.treated_after == 1.0


def test_revenue_at_risk_before_and_after() -> None:
    """Value of distinct treated units with a detractor or negative answer in each window; control never counts."""
    obs = [
        Observation("c1", PIVOT - 5 * DAY, True, nps=2, value=100.0),
        Observation("c1", PIVOT - 4 * DAY, True, nps=3, value=150.0),  # same unit, latest value counts
        Observation("c2", PIVOT - 3 * DAY, True, negative=True, value=50.0),
        Observation("c3", PIVOT - 3 * DAY, True, nps=9, value=1000.0),  # happy: not at risk
        Observation("c4", PIVOT - 2 * DAY, False, nps=0, value=5000.0),  # control: not counted
        Observation("c5", PIVOT - 2 * DAY, True, csat=1, value=25.0),
        Observation("c1", PIVOT + 2 * DAY, True, nps=8, value=150.0),
        Observation("c2", PIVOT + 3 * DAY, True, negative=True, value=60.0),
    ]
    r = measure(obs, metric="detractor_share", pivot=PIVOT, window=WINDOW)
    assert r.revenue_at_risk_before == pytest.approx(150.0 + 50.0 + 25.0)
    assert r.revenue_at_risk_after == pytest.approx(60.0)


def test_revenue_at_risk_is_unknown_without_values() -> None:
    """No values, no revenue figure."""
    r = measure(placebo(20), metric="negative_share", pivot=PIVOT, window=WINDOW)
    assert (r.revenue_at_risk_before, r.revenue_at_risk_after) == (None, None)


def test_metrics_per_observation() -> None:
    """Detractor share and negative share are 0/1; NPS codes ±100/0; CSAT is % satisfied."""
    o = Observation("u", PIVOT, True, nps=6, csat=4, negative=False)
    assert metric_value(o, "detractor_share") == 1.0
    assert metric_value(o, "nps") == -100.0
    assert metric_value(replace(o, nps=7), "nps") == 0.0
    assert metric_value(replace(o, nps=9), "nps") == 100.0
    assert metric_value(o, "csat") == 100.0
    assert metric_value(replace(o, csat=3), "csat") == 0.0
    assert metric_value(o, "negative_share") == 0.0
    assert metric_value(Observation("u", PIVOT, True), "nps") is None


def test_nps_improvement_has_a_positive_did() -> None:
    """On NPS, getting better is a positive DiD."""
    obs = [
        Observation(f"{c}{i}", (PIVOT - DAY if c.endswith("b") else PIVOT + DAY), c[0] == "t",
                    nps=(10 if c == "ta" and i % 2 else 2 if i % 2 else 9))
        for c in ("tb", "ta", "cb", "ca") for i in range(40)
    ]  # fmt: skip
    r = measure(obs, metric="nps", pivot=PIVOT, window=WINDOW, resamples=300)
    assert r.did == pytest.approx(100.0)
    assert r.significant and r.ci_low is not None and r.ci_low > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "ces"}, "unknown metric 'ces'"),
        ({"window": DAY * 0}, "window must be positive"),
        ({"resamples": 0}, "resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"min_per_cell": 1}, "min_per_cell"),
    ],
)
def test_meaningless_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    """Unknown metrics and impossible settings are errors."""
    args: dict[str, object] = {"metric": "nps", "pivot": PIVOT, "window": WINDOW, **kwargs}
    with pytest.raises(ValueError, match=message):
        measure([], **args)  # type: ignore[arg-type]


FOLLOW_UP = T0 + 5 * DAY


def test_promoter_after_follow_up_is_recovered() -> None:
    """The first answer after the follow-up is a promoter (or passive): recovered."""
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, nps=9)]) is True
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, nps=7)]) is True


def test_detractor_after_follow_up_is_not_recovered() -> None:
    """The first answer after the follow-up is a detractor: not recovered, whatever comes later."""
    later = [
        Observation("c", FOLLOW_UP + 2 * DAY, False, nps=10),
        Observation("c", FOLLOW_UP + DAY, False, nps=4),
    ]
    assert recovered(FOLLOW_UP, later) is False


def test_nothing_since_follow_up_is_unknown() -> None:
    """No feedback after the follow-up (earlier or unscored ones don't count): None."""
    assert recovered(FOLLOW_UP, []) is None
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP - DAY, False, nps=10)]) is None
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False)]) is None


def test_csat_and_sentiment_decide_when_there_is_no_nps() -> None:
    """CSAT 4–5 is recovered; unscored feedback counts when it is not negative."""
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, csat=4)]) is True
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, csat=3)]) is False
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, negative=False)]) is True
    assert recovered(FOLLOW_UP, [Observation("c", FOLLOW_UP + DAY, False, negative=True)]) is False


def test_recovery_rate_ignores_unknowns() -> None:
    """The rate is over known outcomes; with none known it is None."""
    assert recovery_rate([True, False, None, True]) == pytest.approx(2 / 3)
    assert recovery_rate([None, None]) is None
    assert recovery_rate([]) is None
