"""The sentence encoder loads offline from the package and gives deterministic unit vectors."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.encoder import Encoder


def test_encoder_loads_from_package_and_names_its_version() -> None:
    encoder = Encoder.load()
    assert encoder.version == "minilm-l6-int8-1"
    assert encoder.max_tokens == 256


def test_embeddings_are_384_dimensional_unit_vectors() -> None:
    vectors = Encoder.load().encode(["My parcel never arrived", "Great service, thanks!", ""])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)


def test_encoding_is_deterministic_and_independent_of_batch_and_order() -> None:
    encoder = Encoder.load()
    texts = ["short", "a much longer sentence about a refund that never came", "medium length text here"]
    once = encoder.encode(texts, batch_size=1)
    again = encoder.encode(list(reversed(texts)), batch_size=3)[::-1]
    assert np.allclose(once, again, atol=1e-5)
    assert np.array_equal(encoder.encode(texts), encoder.encode(texts))


def test_similar_complaints_are_closer_than_unrelated_texts() -> None:
    a, b, c = Encoder.load().encode(["my luggage was lost", "they lost my suitcase", "I love the new menu"])
    assert float(a @ b) > float(a @ c) + 0.2


def test_long_texts_are_truncated_not_refused() -> None:
    vector = Encoder.load(max_tokens=32).encode(["refund " * 500])
    assert vector.shape == (1, 384)
