"""Quality and speed evaluation of the insight service's local NLP models (`python -m bench.eval`)."""
