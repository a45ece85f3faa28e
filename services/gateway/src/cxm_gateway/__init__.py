"""cxm gateway: tenants, API keys, routing and the live stream."""
