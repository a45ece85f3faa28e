"""One system of the chaos harness's own (Postgres, NATS, every service as separate processes) for these tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.chaos.system import ChaosSystem


@pytest.fixture(scope="session")
def chaos_system() -> Iterator[ChaosSystem]:
    """Started once; every scenario leaves it running (whatever it killed is restarted)."""
    with ChaosSystem() as system:
        yield system
