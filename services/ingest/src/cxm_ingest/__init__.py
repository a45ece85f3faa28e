"""cxm ingest: webhooks, feedback and interactions, customers and erasure."""
