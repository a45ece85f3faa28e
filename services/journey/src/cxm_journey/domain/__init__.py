"""The journey service's pure decisions: stage map, visits, funnels, repeat contacts, friction, churn risk."""
