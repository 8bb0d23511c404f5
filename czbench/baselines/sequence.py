"""Baselines of the ``sequence`` modality: what the sequence's composition alone predicts.

A DNA model must beat these to show it reads more than composition
(docs/modalities.md#dna-sequences):

* ``kmer`` -- the normalised k-mer spectrum (``k=4`` by default: 256 frequencies);
* ``gc`` -- GC content alone (one column);
* ``onehot`` -- position-wise one-hot (4 x length, flattened; zero-padded for variable
  lengths): strong when the sequences are aligned on a site, as splice junctions are;
* ``kmer_dinucleotide_shuffled`` -- a control: the k-mer spectrum of each sequence after a
  seeded dinucleotide-preserving shuffle (same composition and dinucleotides, no order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from czbench.baselines.base import Baseline
from czbench.datasets.dna import dinucleotide_shuffle, gc_content, kmer_spectrum, one_hot
from czbench.datasets.sequence_files import sequences_of

#: k of the k-mer baselines unless the task says otherwise (its ``kmer_k`` option)
DEFAULT_K = 4


def kmer_baseline(adata: Any, seed: int = 0, *, kmer_k: int = DEFAULT_K) -> np.ndarray:
    """``n x 4**k`` normalised k-mer spectrum of ``obs["sequence"]``."""
    return kmer_spectrum(sequences_of(adata), kmer_k)


def gc_baseline(adata: Any, seed: int = 0) -> np.ndarray:
    """``n x 1`` GC content of ``obs["sequence"]``."""
    return gc_content(sequences_of(adata)).astype(np.float32)[:, None]


def onehot_baseline(adata: Any, seed: int = 0) -> np.ndarray:
    """``n x (4 * L)`` position-wise one-hot (position-major: 4 values per position)."""
    values, _ = one_hot(sequences_of(adata))
    return values.transpose(0, 2, 1).reshape(len(values), -1)


def shuffled_kmer_baseline(adata: Any, seed: int = 0, *, kmer_k: int = DEFAULT_K) -> np.ndarray:
    """The k-mer spectrum of every sequence dinucleotide-shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    return kmer_spectrum([dinucleotide_shuffle(s, rng) for s in sequences_of(adata)], kmer_k)


KMER = Baseline("kmer", kmer_baseline, description="normalised k-mer spectrum of the sequence "
                "(k = task option kmer_k, default 4)", options=("kmer_k",))
GC = Baseline("gc", gc_baseline, description="GC content of the sequence (one column)")
ONEHOT = Baseline("onehot", onehot_baseline, description="position-wise one-hot of the "
                  "sequence (4 x length, zero-padded)")
KMER_SHUFFLED = Baseline(
    "kmer_dinucleotide_shuffled", shuffled_kmer_baseline, options=("kmer_k",),
    description="control: k-mer spectrum of the sequence after a seeded dinucleotide-"
                "preserving shuffle (same composition, no order)")
SEQUENCE_BASELINES = (KMER, GC, ONEHOT, KMER_SHUFFLED)
