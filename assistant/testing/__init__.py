"""Helpers shared by the tests and the benchmarks: synthetic speech and scoring."""
