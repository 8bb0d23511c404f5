"""czbench: reproducible benchmarks for single-cell embedding models."""

__version__ = "0.1.0"
