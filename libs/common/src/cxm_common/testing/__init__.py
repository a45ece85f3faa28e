"""Pytest support: real Postgres and real NATS for every test, started from the embedded wheels."""
