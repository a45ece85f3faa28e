"""cxm insight: text analytics, CX metrics, key drivers and alerts."""
