"""DNA sequence models: a plain callable ``list[str] -> array`` or an MLflow pyfunc that reads
sequences, run on a ``sequence`` dataset's ``obs["sequence"]``, checked and cached like any
:class:`~czbench.models.Model` (:func:`czbench.models.embed_cached`).

* :class:`SequenceModel` wraps ``fn(list_of_sequences) -> (n, dims)``; its identity is the
  ``name`` you give and, when given, a ``version`` (the cache key's part: change it when the
  weights change).
* :class:`MLflowSequenceModel` calls ``predict`` on a DataFrame with a ``sequence`` column
  (``input="sequence"``) or an ``input_uri`` column naming a FASTA file czbench writes
  (``input="fasta"``).
* :func:`revcomp_consistency_of` embeds the reverse complements too and reports
  :func:`czbench.metrics.revcomp_consistency`: a metric of the model, not of a fixed array.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from czbench.datasets.dna import reverse_complement
from czbench.datasets.sequence_files import sequences_of
from czbench.errors import InputError
from czbench.metrics.strand import revcomp_consistency
from czbench.models.base import Model, check_output
from czbench.models.mlflow_model import MLflowModel
from czbench.utils.hashing import sha256_parts

SEQUENCE_INPUTS = ("sequence", "fasta")


class SequenceModel(Model):
    """A callable ``fn(sequences: list[str]) -> (n, dims) array`` as a czbench model.

    ``model_name`` (default: the callable's qualified name) and ``version`` identify it in
    results files and the cache; without a ``version`` the identity also holds a fingerprint of
    the callable (its bytecode and constants, or a torch module's weights), so two different
    functions never share cache entries. ``batch_size`` sequences are passed per call (None:
    all at once). Not seeded.
    """

    name: ClassVar[str] = "sequence"
    description: ClassVar[str] = "a callable list[str] -> (n, dims) embedding of DNA sequences"
    seeded: ClassVar[bool] = False

    def __init__(self, fn: Callable[[list[str]], Any], *, model_name: str | None = None,
                 version: str = "", batch_size: int | None = None) -> None:
        if not callable(fn):
            raise InputError(f"model sequence: expected a callable list[str] -> array, got "
                             f"{type(fn).__name__}")
        if model_name is None:
            model_name = getattr(fn, "__qualname__", type(fn).__qualname__).replace(
                "<", "").replace(">", "").replace(":", "_")
        if not isinstance(model_name, str) or not model_name or ":" in model_name:
            raise InputError(f"model_name: expected a name without ':', got {model_name!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise InputError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.fn = fn
        self.model_name = model_name
        self.version = str(version)
        self.batch_size = batch_size

    def params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "version": self.version,
                "batch_size": self.batch_size}

    def weights_sha256(self) -> str:
        return sha256_parts(self.model_name, self.version,
                            "" if self.version else _fingerprint(self.fn))

    def embed_sequences(self, sequences: list[str]) -> np.ndarray:
        """The checked embedding of ``sequences`` (in batches of ``batch_size``)."""
        size = self.batch_size or max(len(sequences), 1)
        parts = [np.asarray(_to_array(self.fn(sequences[i:i + size])), dtype=np.float32)
                 for i in range(0, len(sequences), size)]
        return check_output(self.model_name, np.concatenate(parts, axis=0),
                            len(sequences))

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        return self.embed_sequences(sequences_of(adata))


class MLflowSequenceModel(MLflowModel):
    """An MLflow pyfunc package whose ``predict`` reads DNA sequences: a DataFrame with a
    ``sequence`` column (``input="sequence"``), or with an ``input_uri`` column naming a FASTA
    file (``input="fasta"``; czbench writes ``>ROW_NAME`` records and deletes the file)."""

    name: ClassVar[str] = "mlflow_sequence"
    description: ClassVar[str] = ("an MLflow pyfunc package: DataFrame of sequences (or a "
                                  "FASTA input_uri) -> (n, dims) embedding")

    def __init__(self, uri: str, input: str = "sequence") -> None:  # noqa: A002
        if input not in SEQUENCE_INPUTS:
            raise InputError(f"input: expected one of {', '.join(SEQUENCE_INPUTS)}, got "
                             f"{input!r}")
        super().__init__(uri)
        self.input = input

    def embed_sequences(self, sequences: list[str], names: list[str] | None = None
                        ) -> np.ndarray:
        import pandas as pd

        pyfunc = self.load()
        if self.input == "sequence":
            out = pyfunc.predict(pd.DataFrame({"sequence": sequences}))
        else:
            handle, path = tempfile.mkstemp(suffix=".fasta", prefix="czbench-seq-")
            os.close(handle)
            try:
                ids = names or [f"seq{i}" for i in range(len(sequences))]
                Path(path).write_text("".join(f">{n}\n{s}\n" for n, s in
                                              zip(ids, sequences, strict=True)))
                out = pyfunc.predict(pd.DataFrame({"input_uri": [path]}))
            finally:
                Path(path).unlink(missing_ok=True)
        return check_output(self.name, _to_array(out), len(sequences))

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        return self.embed_sequences(sequences_of(adata), [str(n) for n in adata.obs_names])


def _fingerprint(fn: Any) -> str:
    """What distinguishes one callable from another of the same name: a torch module's
    weights, else the bytecode and constants of the function (or of ``__call__``)."""
    if hasattr(fn, "state_dict"):
        from czbench.utils.hashing import sha256_array

        return sha256_parts([f"{k}:{sha256_array(v.detach().cpu().numpy())}"
                             for k, v in fn.state_dict().items()])
    code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
    if code is None:
        return ""
    return sha256_parts(code.co_code.hex(), repr(code.co_consts), repr(code.co_names))


def _to_array(values: Any) -> Any:
    if isinstance(values, list | tuple) and len(values) == 1 and np.ndim(values[0]) == 2:
        values = values[0]  # one array per input file
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return values


def revcomp_consistency_of(model: Any, sequences: list[str], *, seed: int,
                           embedding: np.ndarray | None = None) -> dict[str, float]:
    """:func:`czbench.metrics.revcomp_consistency` of ``model`` (anything with
    ``embed_sequences``, or a callable ``list[str] -> array``) on ``sequences``; pass
    ``embedding`` when the forward strand is already embedded."""
    embed = model.embed_sequences if hasattr(model, "embed_sequences") else \
        SequenceModel(model).embed_sequences
    forward = embed(sequences) if embedding is None else np.asarray(embedding)
    backward = embed([reverse_complement(s) for s in sequences])
    return revcomp_consistency(forward, backward, seed=seed)


__all__ = ["MLflowSequenceModel", "SequenceModel", "revcomp_consistency_of"]
