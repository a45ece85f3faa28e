"""Shared fixtures: the shipped analyzer, loaded once per test session."""

from __future__ import annotations

import pytest

from cxm_insight.nlp.analyzer import Analyzer


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    """The analyzer with the shipped encoder and heads, on one thread."""
    return Analyzer.load(threads=1)
