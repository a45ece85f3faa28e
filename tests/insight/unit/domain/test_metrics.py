"""Metric definitions (version 1) and the additive tally buckets store."""

import pytest

from cxm_insight.domain.metrics import DEFINITION_VERSION, METRICS, Tally, total


def feedback(*answers: dict[str, object]) -> Tally:
    return total(Tally.from_feedback(**answer) for answer in answers)  # type: ignore[arg-type]


def test_the_definitions_are_version_1() -> None:
    assert DEFINITION_VERSION == 1
    assert {"nps", "csat", "ces", "sentiment", "volume", "negative_share"} <= set(METRICS)


def test_nps_is_promoters_minus_detractors_in_percent() -> None:
    tally = feedback({"nps": 10}, {"nps": 9}, {"nps": 8}, {"nps": 7}, {"nps": 6}, {"nps": 0}, {"nps": 9}, {"nps": 3})

    assert tally.value("nps") == pytest.approx(100 * (3 - 3) / 8)
    assert feedback({"nps": 10}, {"nps": 10}, {"nps": 5}, {"nps": 8}).value("nps") == pytest.approx(25.0)


def test_csat_is_the_share_of_4_and_5() -> None:
    assert feedback({"csat": 5}, {"csat": 4}, {"csat": 3}, {"csat": 1}).value("csat") == pytest.approx(50.0)


def test_ces_has_a_mean_and_an_easy_share() -> None:
    tally = feedback({"ces": 7}, {"ces": 5}, {"ces": 3}, {"ces": 1})

    assert tally.value("ces") == pytest.approx(4.0)
    assert tally.value("ces_easy") == pytest.approx(50.0)


def test_sentiment_has_a_mean_and_a_negative_share() -> None:
    tally = feedback(
        {"sentiment_score": -0.8, "sentiment_label": "negative"},
        {"sentiment_score": 0.6, "sentiment_label": "positive"},
        {"sentiment_score": -0.5},
        {"sentiment_score": 0.1},
    )

    assert tally.value("sentiment") == pytest.approx(-0.15)
    assert tally.value("negative_share") == pytest.approx(50.0)
    assert tally.value("positive_share") == pytest.approx(25.0)


def test_volume_counts_every_feedback_and_metrics_without_answers_are_none() -> None:
    tally = feedback({}, {"nps": 10}, {})

    assert tally.value("volume") == 3.0
    assert tally.value("csat") is None
    assert tally.value("sentiment") is None
    assert Tally().value("nps") is None


def test_tallies_add_up_to_the_tally_of_everything() -> None:
    first = feedback({"nps": 10, "csat": 5}, {"nps": 2})
    second = feedback({"nps": 9, "ces": 6, "sentiment_score": -0.9})

    both = first.add(second)

    assert both == feedback({"nps": 10, "csat": 5}, {"nps": 2}, {"nps": 9, "ces": 6, "sentiment_score": -0.9})
    assert both.minus(second) == first
    assert both.value("nps") == pytest.approx(100 * (2 - 1) / 3)


def test_a_tally_round_trips_through_its_stored_columns() -> None:
    tally = feedback({"nps": 10, "ces": 6, "sentiment_score": 0.4})

    assert Tally.from_mapping(tally.as_dict()) == tally
    assert Tally.from_mapping({"count": 2}) == Tally(count=2)
    with pytest.raises(ValueError, match="unknown tally fields: bogus"):
        Tally.from_mapping({"bogus": 1})


@pytest.mark.parametrize(
    "answer", [{"nps": 11}, {"nps": -1}, {"csat": 0}, {"ces": 8}, {"sentiment_score": 1.5}, {"nps": 7.5}]
)
def test_scores_off_their_scale_are_refused(answer: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Tally.from_feedback(**answer)  # type: ignore[arg-type]


def test_nps_moments_use_the_plus_100_0_minus_100_coding() -> None:
    tally = feedback({"nps": 10}, {"nps": 0}, {"nps": 7}, {"nps": 9})

    n, mean, variance = tally.moments("nps") or (0, 0.0, 0.0)

    codes = [100, -100, 0, 100]
    assert n == 4
    assert mean == pytest.approx(25.0)
    assert variance == pytest.approx(sum((c - 25.0) ** 2 for c in codes) / 3)


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        Tally().value("happiness")
