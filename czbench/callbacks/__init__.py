"""Lightning callbacks: czbench tasks inside the training loop."""

from czbench.callbacks.benchmark import BenchmarkCallback
from czbench.callbacks.collector import EmbeddingCollector

__all__ = ["BenchmarkCallback", "EmbeddingCollector"]
