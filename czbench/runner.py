"""Moved to :mod:`czbench.run`; these names stay importable from here."""

from czbench.run import BenchmarkResult, benchmark, benchmark_grid

__all__ = ["BenchmarkResult", "benchmark", "benchmark_grid"]
