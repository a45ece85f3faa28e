"""`cxm demo`: a generated company (customers, journeys, feedback with planted truths) and its loader."""
