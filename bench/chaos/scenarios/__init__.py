"""The fault scenarios F1–F11 of the reliability design, in the order a run takes them."""

from __future__ import annotations

from bench.chaos.scenario import Scenario
from bench.chaos.scenarios import crashes, delivery, overload, privacy, servers

ALL = [
    Scenario("F1", "NATS killed mid-ingest, restarted later",
             "ingest keeps answering 2xx; lost = 0; every event projected once after the backlog drains",
             servers.nats_killed, quick=True),
    Scenario("F3", "the same delivery ×5 in sequence and ×20 at once",
             "stored once, projected once", delivery.duplicates, quick=True),
    Scenario("F4", "events of one aggregate delivered out of order",
             "projection equals the in-order result", delivery.out_of_order, quick=True),
    Scenario("F5", "poison message (the handler fails every time)",
             "after max_deliver with backoff: dead-lettered, counted, visible; others keep flowing; redrive works",
             delivery.poison, quick=True),
    Scenario("F2", "Postgres stopped (immediate) under load, restarted",
             "503 + Retry-After while down, never 500, never 2xx for an uncommitted event; readiness false then true",
             servers.postgres_stopped),
    Scenario("F6", "consumers killed before commit / after commit before ack",
             "applied exactly once", crashes.consumers_killed),
    Scenario("F7", "publisher killed between publish and mark",
             "republished with the same msg id, absorbed", crashes.publisher_killed),
    Scenario("F8", "8 concurrent writers, one transaction held open 2 s",
             "the publisher never skips the late row", crashes.late_commit),
    Scenario("F9", "the gateway at 1×, 2×, 5× capacity (measured in the same run)",
             "excess answered 429/503 with Retry-After; memory bounded; p99 of accepted requests within target",
             overload.overload),
    Scenario("F10", "10 tenants interleaved", "0 cross-tenant rows in any response", privacy.tenants_interleaved),
    Scenario("F11", "a customer erased mid-run", "their PII unreadable everywhere; other customers unaffected",
             privacy.erased_mid_run),
]  # fmt: skip
