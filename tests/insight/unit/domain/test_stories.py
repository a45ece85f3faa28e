"""A theme's story: its central sentences without repeats, its volume trend, and the value it puts at risk."""

import numpy as np
import pytest

from cxm_insight.domain.stories import Sentence, build_story, representative, sentences_of, split_sentences, trend

DIM = 16


def direction(rng: np.random.Generator, near: np.ndarray | None = None, spread: float = 1.0) -> np.ndarray:
    vector = rng.normal(size=DIM) * spread + (near if near is not None else 0.0)
    return np.asarray(vector / np.linalg.norm(vector))


def test_sentences_split_at_ends_and_line_breaks_and_short_ones_go() -> None:
    text = (
        "The parking is impossible. I drove around for 20 minutes!\nWhy? Staff were kind, e.g. Mr. Smith helped me out."
    )

    assert split_sentences(text) == [
        "The parking is impossible.",
        "I drove around for 20 minutes!",
        "Staff were kind, e.g. Mr. Smith helped me out.",
    ]
    assert sentences_of("fb-1", "Too slow. Far too slow to load.", "c-1") == [
        Sentence("Far too slow to load.", "fb-1", "c-1")
    ]


def test_the_most_central_sentence_comes_first() -> None:
    rng = np.random.default_rng(0)
    centre = direction(rng)
    embeddings = np.array([direction(rng, centre * s, 1.0) for s in (0.5, 4.0, 1.0, 2.0)])

    picks = representative(embeddings, k=1, centroid=centre)

    assert picks == [1]


def test_near_duplicates_are_not_picked_twice() -> None:
    rng = np.random.default_rng(1)
    centre = direction(rng)
    central = direction(rng, centre * 6.0)
    twin = direction(rng, central * 40.0)
    others = [direction(rng, centre * 1.5) for _ in range(5)]
    embeddings = np.array([central, twin, *others])

    picks = representative(embeddings, k=3, centroid=centre)

    assert picks[0] in (0, 1)
    assert not {0, 1} <= set(picks)
    assert len(picks) == 3


def test_diversity_trades_centrality_for_coverage() -> None:
    centre = np.array([1.0, 0.0, 0.0])
    embeddings = np.array([[1.0, 0.1, 0.0], [1.0, 0.12, 0.0], [0.8, 0.0, 0.6]])

    assert representative(embeddings, k=2, centroid=centre, diversity=0.0, duplicate_similarity=1.01) == [0, 1]
    assert representative(embeddings, k=2, centroid=centre, diversity=0.5, duplicate_similarity=1.01) == [0, 2]


def test_a_story_counts_feedback_customers_and_known_value() -> None:
    rng = np.random.default_rng(2)
    centre = direction(rng)
    sentences = [
        Sentence("Parking is impossible at the store.", "fb-1", "c-1"),
        Sentence("Parking is impossible at the store.", "fb-2", "c-2"),
        Sentence("No spaces left in the car park.", "fb-2", "c-2"),
        Sentence("I gave up and drove home.", "fb-3", "c-3"),
        Sentence("The lot was full again today.", "fb-4", None),
    ]
    embeddings = np.array([direction(rng, centre * 3.0) for _ in sentences])

    story = build_story(
        sentences, embeddings, previous_count=2, customer_values={"c-1": 1200.0, "c-2": None, "c-9": 99.0}
    )

    assert story.feedback_count == 4
    assert story.customer_count == 3
    assert story.sentence_count == 5
    assert story.value_affected == pytest.approx(1200.0)
    assert story.customers_with_value == 1
    assert len(story.sentences) == 3
    assert story.sentences.count("Parking is impossible at the store.") <= 1
    assert story.trend.current == 4 and story.trend.previous == 2


def test_a_story_without_known_values_has_none() -> None:
    story = build_story([Sentence("Parking is impossible here.", "fb-1")], np.ones((1, DIM)), previous_count=0)

    assert story.value_affected is None
    assert story.sentences == ["Parking is impossible here."]


def test_trends_are_called_only_when_the_change_is_significant() -> None:
    assert trend(40, 10).direction == "rising"
    assert trend(10, 40).direction == "falling"
    assert trend(12, 10).direction == "steady"
    assert trend(40, 10, current_exposure=4.0).direction == "steady"
    assert trend(5, 0).ratio is None
    assert trend(20, 10).ratio == pytest.approx(2.0)
    assert 0.0 < trend(40, 10).p_value < 0.001


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="embedding rows"):
        build_story([Sentence("one two three", "fb")], np.ones((2, DIM)), previous_count=0)
    with pytest.raises(ValueError):
        trend(-1, 3)
