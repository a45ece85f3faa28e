"""The insight service's pure decisions: metric definitions, key drivers, alerts, themes, stories, objectives."""
