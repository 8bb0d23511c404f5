"""``SequenceDataModule``: DNA sequences as one-hot batches for a Lightning model.

Each batch is a dict::

    {"x": float32 (batch, 4, length) one-hot in ACGT order (N: 0.25 each), zero-padded,
     "mask": bool (batch, length), True at real positions,
     "index": int64 row ids, "cell_type": int64 label codes, ...}

so a small CNN trains on it and :class:`~czbench.callbacks.BenchmarkCallback` scores its
embeddings of the validation sequences (task ``sequence_classification``). Splits, seeds,
label codes and ``obs_frame`` are :class:`~czbench.datamodules.AnnDataModule`'s; the sequences
are read and validated in ``setup`` (:func:`czbench.datasets.load`, modality ``sequence``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import torch

from czbench.datamodules.anndata_module import AnnDataModule
from czbench.datasets.dna import one_hot
from czbench.datasets.modalities import modality_of
from czbench.datasets.sequence_files import sequences_of
from czbench.errors import InputError
from czbench.utils.checks import check_int


class SequenceCollate:
    """Row ids -> a batch dict (picklable: the sequences, the padded length and obs codes)."""

    def __init__(self, sequences: list[str], length: int, codes: dict[str, np.ndarray]) -> None:
        self.sequences = sequences
        self.length = length
        self.codes = codes

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(rows, dtype=np.int64)
        x, mask = one_hot([self.sequences[i] for i in index], self.length)
        batch = {"x": torch.from_numpy(x), "mask": torch.from_numpy(mask),
                 "index": torch.from_numpy(index)}
        for key, codes in self.codes.items():
            batch[key] = torch.from_numpy(codes[index])
        return batch


class SequenceDataModule(AnnDataModule):
    """Seeded, stratified train/val/test splits of a sequence dataset as one-hot batches.

    Args:
        data: a registered sequence dataset (``splice_junctions_primate_uci``), a FASTA / CSV /
            TSV / .h5ad file, or an AnnData with the sequences in obs.
        sequence_key: the obs (or table) column of the sequences (default ``sequence``).
        length: every batch's padded length (default: the longest sequence; longer ones are
            cut, their mask stops there).
        label_key, obs_keys, split_fractions, split_key, val_max_cells, seed, batch_size,
        num_workers, **loader_kwargs: as in :class:`AnnDataModule`.
    """

    def __init__(self, data: str | Path | ad.AnnData, *, sequence_key: str | None = None,
                 length: int | None = None, **kwargs: Any) -> None:
        for refused in ("normalize", "genes", "target_sum", "backed"):
            if kwargs.get(refused):
                raise InputError(f"{refused}: does not apply to sequences (one-hot batches)")
        super().__init__(data, **kwargs)
        self.keys = {**self.keys, "sequence_key": sequence_key, "modality": "sequence"}
        self.length = check_int(length, "length", 1, allow_none=True)

    @property
    def n_genes(self) -> int:
        """Columns of X (none for sequences); see :attr:`sequence_length`."""
        return 0

    @property
    def sequence_length(self) -> int:
        """The padded length of every batch's ``x``."""
        self._load()
        assert isinstance(self._collate, SequenceCollate)
        return self._collate.length

    def _load(self) -> None:
        if self._adata is not None:
            return
        super()._load()
        adata = self._adata
        assert adata is not None
        if modality_of(adata).name != "sequence":
            raise InputError(f"data: expected sequence data, got {modality_of(adata).name}")
        sequences = sequences_of(adata)
        length = self.length or max(len(s) for s in sequences)
        self._collate = SequenceCollate(sequences, length, self._codes)  # type: ignore[assignment]
