"""Local, CPU-only text analytics: sentence encoder, default heads, taxonomy topics and per-tenant learning."""
