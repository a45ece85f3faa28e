"""Specification of the sentence encoder: offline, deterministic, unit-length 384-d vectors."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from cxm_insight.nlp.encoder import DIMENSIONS, Encoder


def test_loads_offline_from_the_shipped_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket is opened: the weights and tokenizer ship with the package."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        """Fail any attempt to use the network."""
        raise AssertionError("the encoder tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    encoder = Encoder.load(threads=1)
    assert encoder.version == "minilm-l6-int8-1"
    assert encoder.encode(["hello"]).shape == (1, DIMENSIONS)


def test_embeddings_are_float32_unit_length_and_in_input_order() -> None:
    """Rows are L2-normalised, in input order, and a text's vector does not depend on the texts beside it."""
    encoder = Encoder.load(threads=1)
    texts = ["a much longer sentence about a parcel that never arrived at my door", "refund", "hi there"]
    vectors = encoder.encode(texts, batch_size=2)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[1], encoder.encode([texts[1]])[0])


def test_encoding_is_deterministic() -> None:
    """The same texts give the same vectors, call after call."""
    encoder = Encoder.load(threads=1)
    texts = ["The app crashes when I log in", "Thanks for the quick help!"]
    assert np.array_equal(encoder.encode(texts), encoder.encode(texts))


def test_similar_complaints_are_closer_than_unrelated_texts() -> None:
    """The embedding carries meaning: two late-delivery complaints are nearer than a delivery and a login text."""
    encoder = Encoder.load(threads=1)
    late, later, login = encoder.encode(
        ["My parcel is a week late", "The delivery still has not arrived", "I cannot log in to my account"]
    )
    assert float(late @ later) > float(late @ login)


def test_long_texts_are_capped_at_max_tokens() -> None:
    """Texts beyond the cap are truncated, not refused."""
    encoder = Encoder.load(threads=1, max_tokens=16)
    assert encoder.encode(["word " * 500]).shape == (1, DIMENSIONS)


def test_no_texts_give_an_empty_matrix() -> None:
    """An empty batch is not an error."""
    assert Encoder.load(threads=1).encode([]).shape == (0, DIMENSIONS)
