"""Theme discovery finds a planted group among unrelated feedback, names it, and leaves noise alone."""

import time

import numpy as np
import pytest

from cxm_insight.domain.themes import average_linkage, class_tfidf, discover_themes, theme_key, tokens

DIM = 384


def unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def planted(rng: np.random.Generator, size: int, spread: float = 0.8) -> np.ndarray:
    """Vectors around one random direction, pairwise cosine about 1 / (1 + spread²)."""
    centre = unit(rng.normal(size=(1, DIM)))
    return unit(centre + spread * unit(rng.normal(size=(size, DIM))))


PARKING = [
    "The parking at the store is impossible",
    "parking lot always full, had to drive around for ages",
    "No parking spaces near the store entrance",
    "impossible to find parking on saturdays",
]


def mixed(seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = np.vstack([planted(rng, 200), unit(rng.normal(size=(600, DIM)))])
    is_planted = np.r_[np.ones(200, bool), np.zeros(600, bool)]
    texts = [PARKING[i % 4] if i < 200 else f"complaint number {i} about order {i % 7} refund" for i in range(800)]
    order = rng.permutation(800)
    return vectors[order], [texts[i] for i in order], is_planted[order]


def test_a_planted_cluster_among_noise_is_found_exactly_once() -> None:
    vectors, texts, is_planted = mixed()

    themes = discover_themes(vectors, texts, [f"fb-{i}" for i in range(800)])

    assert len(themes) == 1
    theme = themes[0]
    members = np.array(theme.member_indices)
    assert is_planted[members].mean() >= 0.8
    assert is_planted[members].sum() >= 0.8 * 200
    assert theme.size == len(members)
    assert "parking" in theme.top_terms
    assert all(example in PARKING for example in theme.examples)
    assert len(set(theme.examples)) == len(theme.examples) == 3
    assert theme.cohesion == pytest.approx(1 / (1 + 0.8**2), abs=0.1)
    assert np.linalg.norm(theme.centroid) == pytest.approx(1.0, abs=1e-5)


def test_noise_alone_gives_no_theme() -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng.normal(size=(800, DIM)))

    themes = discover_themes(vectors, [f"text {i}" for i in range(800)])

    assert all(theme.size < 20 for theme in themes)


def test_clusters_below_the_minimum_size_are_dropped() -> None:
    rng = np.random.default_rng(2)
    vectors = np.vstack([planted(rng, 8), planted(rng, 30), unit(rng.normal(size=(100, DIM)))])

    themes = discover_themes(vectors, ["x"] * 138, min_size=10)

    assert [theme.size for theme in themes] == [30]


def test_two_planted_themes_are_kept_apart() -> None:
    rng = np.random.default_rng(3)
    vectors = np.vstack([planted(rng, 100), planted(rng, 60), unit(rng.normal(size=(300, DIM)))])

    themes = discover_themes(vectors, ["x"] * 460)

    assert [theme.size for theme in themes] == [100, 60]
    assert sorted(themes[0].member_indices) == list(range(100))


def test_the_key_is_a_stable_hash_of_the_member_ids() -> None:
    vectors, texts, _ = mixed()
    ids = [f"fb-{i}" for i in range(800)]

    first = discover_themes(vectors, texts, ids)[0]
    reversed_order = discover_themes(vectors[::-1], texts[::-1], ids[::-1])[0]

    assert first.key == reversed_order.key == theme_key([ids[i] for i in first.member_indices])
    assert theme_key(["a", "b"]) == theme_key(["b", "a"]) != theme_key(["a", "c"])


def test_five_thousand_embeddings_cluster_in_seconds() -> None:
    rng = np.random.default_rng(4)
    vectors = np.vstack([planted(rng, 300, spread=0.9) for _ in range(10)] + [unit(rng.normal(size=(2000, DIM)))])

    started = time.perf_counter()
    groups = average_linkage(vectors, 0.5)
    elapsed = time.perf_counter() - started

    assert [len(g) for g in groups[:10]] == [300] * 10
    assert elapsed < 8.0


def test_terms_drop_stop_words_and_keep_adjacent_pairs() -> None:
    assert tokens("The parking lot is FULL, again!") == ["parking", "lot", "full", "parking lot"]


def test_class_tfidf_names_a_class_by_what_sets_it_apart() -> None:
    parking = ["parking lot full", "no parking near store", "parking lot too small store"]
    refunds = ["refund never arrived store", "waiting on my refund", "refund refused store"]

    names = class_tfidf([parking, refunds], top=2)

    assert names[0][0] == "parking"
    assert names[1][0] == "refund"
    assert "store" not in names[0][:1] + names[1][:1]


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        discover_themes(np.zeros((3, DIM)), ["a", "b"])
    with pytest.raises(ValueError, match="ids"):
        discover_themes(np.zeros((2, DIM)), ["a", "b"], ["1"])
    assert discover_themes(np.zeros((0, DIM)), []) == []
