"""Every scenario of the bench, raw limits first so that the kit's rows can be compared with them."""

from __future__ import annotations

from bench.harness import Scenario
from bench.scenarios import consumer, eventsourcing_peer, http, insight, journey, raw, relay, store

ALL: list[Scenario] = [
    *raw.SCENARIOS,
    *store.SCENARIOS,
    *relay.SCENARIOS,
    *consumer.SCENARIOS,
    *eventsourcing_peer.SCENARIOS,
    *insight.SCENARIOS,
    *journey.SCENARIOS,
    *http.SCENARIOS,
]
