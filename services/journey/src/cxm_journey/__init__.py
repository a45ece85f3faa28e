"""cxm journey: customer journeys, funnels, friction and churn risk."""
