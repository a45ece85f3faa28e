"""Specification of text clean-up and clause splitting."""

from __future__ import annotations

from cxm_insight.nlp.text import clean_text, has_words, split_clauses


def test_mentions_and_links_are_dropped_and_hashtags_keep_their_word() -> None:
    """Social handles and URLs carry no opinion; a hashtag's word does."""
    text = "@united my bag is lost again http://t.co/abc #fail &amp; nobody cares"
    assert clean_text(text) == "my bag is lost again fail & nobody cares"


def test_empty_or_symbol_only_text_has_no_words() -> None:
    """Score-only feedback arrives with None, empty or punctuation-only text."""
    assert clean_text(None) == ""
    assert not has_words("")
    assert not has_words(" ?! ... ")
    assert has_words("ok")


def test_clauses_split_at_sentence_ends_and_contrasts() -> None:
    """Several topics in one text are scored clause by clause."""
    assert split_clauses("The crew was lovely, but the food was cold. Never again!") == [
        "The crew was lovely",
        "the food was cold.",
        "Never again!",
    ]
    assert split_clauses("one clause only") == ["one clause only"]
