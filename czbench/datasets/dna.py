"""DNA sequences: validation and the composition encodings every sequence baseline reads.

Pure functions over ``list[str]`` (no AnnData): :func:`check_sequences` (the alphabet, case,
empty rows), :func:`reverse_complement`, :func:`one_hot` (position-wise, padded, with a mask),
:func:`kmer_spectrum`, :func:`gc_content` and :func:`dinucleotide_shuffle` (Altschul-Erickson,
by a seeded random Eulerian walk). Definitions: docs/spec.md#task-sequence_classification and
docs/modalities.md#dna-sequences.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from czbench.errors import CZBenchWarning, InputError

BASES = "ACGT"
#: IUPAC codes: the bases each stands for (an ambiguity code spreads its one-hot weight evenly)
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "N": "ACGT", "R": "AG", "Y": "CT", "S": "CG",
         "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG"}
COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHV", "TGCANYRSWMKVHDB")
#: one-hot of every sequence at once is refused above this many cells (n x 4 x max length)
MAX_ONE_HOT_CELLS = 200_000_000
_CODE = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate(BASES):
    _CODE[ord(_b)] = _i
_WEIGHTS = np.zeros((256, 4), dtype=np.float32)
for _c, _bases in IUPAC.items():
    for _b in _bases:
        _WEIGHTS[ord(_c), BASES.index(_b)] = 1.0 / len(_bases)


def check_sequences(sequences: Any, field: str = "sequence",
                    names: Sequence[str] | None = None) -> list[str]:
    """The sequences, upper-cased and stripped, or a one-line error naming the first bad row.

    Accepted: the IUPAC DNA alphabet (``ACGT`` and the ambiguity codes ``NRYSWKMBDHV``), any
    case (lower case, e.g. soft-masked repeats, is upper-cased with a warning). Refused: an
    empty or missing sequence, ``U`` (RNA: write T), gaps and other characters.
    """
    values = list(sequences)
    if not values:
        raise InputError(f"{field}: no sequences")
    label = (lambda i: repr(str(names[i]))) if names is not None else (lambda i: f"#{i}")
    out: list[str] = []
    lowered = 0
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InputError(f"{field}: row {label(i)} is not a string ({value!r}); expected "
                             f"a DNA sequence")
        text = value.strip()
        if not text:
            raise InputError(f"{field}: row {label(i)} is an empty sequence")
        upper = text.upper()
        lowered += upper != text
        bad = set(upper) - IUPAC.keys()
        if bad:
            if "U" in bad:
                raise InputError(f"{field}: row {label(i)} contains U (RNA); czbench scores DNA"
                                 f" sequences: write T for U (seq.replace('U', 'T'))")
            shown = "".join(sorted(bad))[:10]
            raise InputError(f"{field}: row {label(i)} contains {shown!r}; expected the DNA "
                             f"alphabet ACGT (and IUPAC codes {''.join(list(IUPAC)[4:])})")
        out.append(upper)
    if lowered:
        warnings.warn(f"{field}: {lowered} sequences had lower-case letters (e.g. soft-masked "
                      f"repeats); read as upper case", CZBenchWarning, stacklevel=2)
    return out


def lengths_summary(sequences: Sequence[str]) -> dict[str, int]:
    """Shortest, median and longest length (reported with a dataset)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64)
    return {"min": int(lengths.min()), "median": int(np.median(lengths)),
            "max": int(lengths.max())}


def reverse_complement(sequence: str) -> str:
    """The reverse complement (IUPAC codes complemented too: R <-> Y, ...)."""
    return sequence.translate(COMPLEMENT)[::-1]


def _bytes(sequence: str) -> np.ndarray:
    return np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)


def one_hot(sequences: Sequence[str], length: int | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(``n x 4 x L`` float32 one-hot in ACGT order, ``n x L`` bool mask of real positions).

    Sequences are left-aligned and zero-padded to ``length`` (default: the longest; longer
    ones are cut). An ambiguity code spreads 1 over its bases (N: 0.25 each, R: 0.5 A/G).
    """
    width = max(len(s) for s in sequences) if length is None else int(length)
    if len(sequences) * 4 * width > MAX_ONE_HOT_CELLS:
        raise InputError(f"sequence: a position-wise one-hot of {len(sequences)} sequences of "
                         f"up to {width} nt has {len(sequences) * 4 * width:,} values (limit "
                         f"{MAX_ONE_HOT_CELLS:,}); use baseline:kmer for long sequences")
    out = np.zeros((len(sequences), 4, width), dtype=np.float32)
    mask = np.zeros((len(sequences), width), dtype=bool)
    for i, seq in enumerate(sequences):
        codes = _bytes(seq[:width])
        out[i, :, :len(codes)] = _WEIGHTS[codes].T
        mask[i, :len(codes)] = True
    return out, mask


def kmer_spectrum(sequences: Sequence[str], k: int = 4) -> np.ndarray:
    """``n x 4**k`` k-mer frequencies (lexicographic ACGT order), each row summing to 1 over
    the k-mers without an ambiguity code (a row with none is all zeros)."""
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or not 1 <= k <= 8:
        raise InputError(f"k: expected an integer from 1 to 8, got {k!r}")
    out = np.zeros((len(sequences), 4 ** k), dtype=np.float32)
    powers = 4 ** np.arange(k - 1, -1, -1)
    for i, seq in enumerate(sequences):
        codes = _CODE[_bytes(seq)]
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        valid = (windows >= 0).all(axis=1)
        if valid.any():
            counts = np.bincount(windows[valid] @ powers, minlength=4 ** k)
            out[i] = counts / counts.sum()
    return out


def gc_content(sequences: Sequence[str]) -> np.ndarray:
    """(G + C) / (A + C + G + T) per sequence, ambiguity codes ignored; 0.5 (with a warning)
    for a sequence without any A, C, G or T."""
    out = np.empty(len(sequences), dtype=np.float64)
    empty = 0
    for i, seq in enumerate(sequences):
        counts = np.bincount(_CODE[_bytes(seq)] + 1, minlength=5)[1:]
        total = counts.sum()
        empty += total == 0
        out[i] = (counts[1] + counts[2]) / total if total else 0.5
    if empty:
        warnings.warn(f"sequence: {empty} sequences have no A, C, G or T (only ambiguity "
                      f"codes); their GC content is set to 0.5", CZBenchWarning, stacklevel=2)
    return out


def dinucleotide_shuffle(sequence: str, rng: np.random.Generator) -> str:
    """A random sequence with exactly the dinucleotide counts (and first and last letter) of
    ``sequence``: Altschul & Erickson (1985), by a random Eulerian walk (Kandel et al. 1996):
    a random last exit edge for every letter, forming a tree into the last letter, then the
    other exits in random order."""
    if len(sequence) < 3:
        return sequence
    edges: dict[str, list[str]] = {}
    for a, b in zip(sequence, sequence[1:], strict=False):
        edges.setdefault(a, []).append(b)
    last = sequence[-1]
    while True:  # a random last exit for every letter but the last; keep it if it is a tree
        exits = {v: int(rng.integers(len(out))) for v, out in edges.items() if v != last}
        if all(_reaches(v, last, {u: edges[u][j] for u, j in exits.items()})
               for v in exits):
            break
    order: dict[str, list[str]] = {}
    for v, out in edges.items():
        rest = list(out)
        final = rest.pop(exits[v]) if v in exits else None
        rest = [rest[j] for j in rng.permutation(len(rest))]
        order[v] = rest + ([final] if final is not None else [])
    walk = [sequence[0]]
    position = dict.fromkeys(order, 0)
    for _ in range(len(sequence) - 1):
        here = walk[-1]
        walk.append(order[here][position[here]])
        position[here] += 1
    return "".join(walk)


def _reaches(start: str, target: str, step: dict[str, str]) -> bool:
    seen = set()
    while start != target:
        if start in seen or start not in step:
            return False
        seen.add(start)
        start = step[start]
    return True


def dinucleotide_counts(sequence: str) -> dict[str, int]:
    """{dinucleotide: count} of one sequence (for checks of :func:`dinucleotide_shuffle`)."""
    counts: dict[str, int] = {}
    for a, b in zip(sequence, sequence[1:], strict=False):
        counts[a + b] = counts.get(a + b, 0) + 1
    return counts


__all__ = ["BASES", "IUPAC", "check_sequences", "dinucleotide_counts", "dinucleotide_shuffle",
           "gc_content", "kmer_spectrum", "lengths_summary", "one_hot", "reverse_complement"]
