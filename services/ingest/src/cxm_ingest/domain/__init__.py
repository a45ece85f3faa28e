"""Ingest's pure domain: canonical records, identity, scores."""
