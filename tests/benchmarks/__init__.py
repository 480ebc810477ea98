"""Benchmarks of the ledger against raw PostgreSQL baselines measured in the same run.

Not part of the test suite: run them with ``python -m tests.benchmarks.run``
(see BENCHMARKS.md).
"""
