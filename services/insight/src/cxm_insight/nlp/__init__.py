"""Local, CPU-only text analytics: sentence encoder, sentiment/emotion/intent/urgency heads, topics, tenant learning."""
