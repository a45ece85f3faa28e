"""Shared fixtures: the analyzer is loaded once for the whole package of tests."""

from __future__ import annotations

import pytest

from cxm_insight.nlp.analyzer import Analyzer


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    """The default analyzer on one thread."""
    return Analyzer.load(threads=1)
