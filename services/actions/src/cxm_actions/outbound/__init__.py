"""Outbound webhooks: tenants subscribe URLs to event types; events are delivered signed, retried and logged."""
