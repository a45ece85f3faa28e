"""Benchmarks of the cxm kit against this machine's raw Postgres and JetStream limits (`python bench/run.py`)."""
