"""Specification of the hashed n-grams the tenant's lexical models count."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.hashing import char_gram_ids, tokens, word_gram_ids


def test_ids_are_distinct_sorted_and_the_same_in_every_process() -> None:
    """Repeated n-grams count once; ids are CRC32 buckets, so a stored model reads the same in any process."""
    ids = word_gram_ids("Late again, late again!")
    assert np.array_equal(ids, np.unique(ids))
    assert len(ids) == len({"late", "again", "!", "late again", "again late", "again !"})
    assert np.array_equal(word_gram_ids("LATE again"), word_gram_ids("late again"))


def test_character_pieces_tolerate_misspellings() -> None:
    """'delayed' and 'delayyed' share most character pieces though they share no word."""
    a, b = char_gram_ids("flight delayed"), char_gram_ids("flight delayyed")
    assert len(np.intersect1d(a, b)) > 0.6 * len(a)
    assert len(np.intersect1d(word_gram_ids("delayed"), word_gram_ids("delayyed"))) == 0


def test_words_of_any_script_are_n_grams() -> None:
    """Accented and non-Latin words count as words; inner apostrophes stay, underscores split."""
    assert tokens("Don't  fly — café 服务很差!! a_b") == ["don't", "fly", "café", "服务很差", "!", "!", "a", "b"]
    assert len(char_gram_ids("服务很差")) > 0
