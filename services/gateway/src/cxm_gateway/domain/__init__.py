"""The gateway's pure domain: API keys, scopes, rate limits, routes."""
