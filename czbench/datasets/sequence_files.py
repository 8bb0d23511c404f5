"""Users' own DNA sequences: FASTA, CSV or TSV files read into an AnnData of the ``sequence``
modality (one row per sequence, X with no columns, the sequences in ``obs["sequence"]``).

FASTA headers are ``>ID key=value key=value ...``: the ID names the row (IDs must be unique),
each ``key=value`` becomes an obs column (``>seq1 label=EI`` gives ``obs["label"]``), and the
rest of the header is kept as ``description``. CSV/TSV files need a sequence column
(``sequence_key``, default ``sequence``); an ``id`` column, when present and unique, names the
rows. Docs: docs/modalities.md#dna-sequences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from czbench.datasets.dna import check_sequences, lengths_summary
from czbench.errors import InputError

#: the standard obs column holding a sequence dataset's sequences
SEQUENCE_COLUMN = "sequence"
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
SEQUENCE_SUFFIXES = (*FASTA_SUFFIXES, *TABLE_SUFFIXES)


def is_sequence_file(path: Path) -> bool:
    return path.suffix.lower() in SEQUENCE_SUFFIXES


def read_fasta(path: Path) -> pd.DataFrame:
    """One row per record (index: the IDs), columns ``sequence``, ``description`` and each
    ``key=value`` of the headers; duplicate IDs and sequence lines before a header are errors."""
    records: list[dict[str, Any]] = []
    ids: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                words = line[1:].split()
                if not words:
                    raise InputError(f"dataset: {path} line {number}: a FASTA header without "
                                     f"an ID")
                name = words[0]
                if name in ids:
                    raise InputError(f"dataset: {path} has the FASTA ID '{name}' twice (lines "
                                     f"{ids[name]} and {number}); expected unique IDs")
                ids[name] = number
                fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                rest = " ".join(w for w in words[1:] if "=" not in w)
                records.append({"id": name, "parts": [], "description": rest, **fields})
            elif not records:
                raise InputError(f"dataset: {path} line {number}: sequence before any '>' "
                                 f"header; expected a FASTA file")
            else:
                records[-1]["parts"].append(line)
    if not records:
        raise InputError(f"dataset: {path} has no FASTA records")
    for record in records:
        record[SEQUENCE_COLUMN] = "".join(record.pop("parts"))
    frame = pd.DataFrame(records).set_index("id")
    frame.index.name = None
    return frame


def read_table(path: Path, sequence_key: str) -> pd.DataFrame:
    """A CSV/TSV of sequences; rows named by a unique ``id`` column, else ``seq_<i>``."""
    try:
        frame = pd.read_csv(path, sep=TABLE_SUFFIXES[path.suffix.lower()], dtype=str,
                            keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise InputError(f"dataset: {path} is not a readable {path.suffix} table") from err
    if sequence_key not in frame.columns:
        raise InputError(f"sequence_key: column '{sequence_key}' not in {path.name}; columns "
                         f"are: {', '.join(map(str, frame.columns))}")
    if "id" in frame.columns and frame["id"].notna().all() and frame["id"].is_unique:
        frame = frame.set_index("id")
        frame.index.name = None
    else:
        frame.index = [f"seq_{i}" for i in range(len(frame))]
    return frame


def read_sequence_file(path: Path, sequence_key: str | None = None) -> ad.AnnData:
    """An AnnData (X: n x 0) whose obs holds the file's sequences and columns."""
    if not path.exists():
        raise InputError(f"dataset: file not found: {path}")
    if path.suffix.lower() in FASTA_SUFFIXES:
        obs = read_fasta(path)
        key = SEQUENCE_COLUMN
    else:
        key = sequence_key or SEQUENCE_COLUMN
        obs = read_table(path, key)
    obs = obs.astype({c: "category" for c in obs.columns if c not in (key, "description")})
    return ad.AnnData(X=np.zeros((len(obs), 0), dtype=np.float32), obs=obs)


def attach_sequences(adata: ad.AnnData, sequence_key: str | None) -> dict[str, Any]:
    """Validate the sequences (``sequence_key``, default ``sequence``) and store them,
    upper-cased, in ``obs["sequence"]`` (a different column already named so is kept as
    ``sequence_original``). Returns what ``uns["czbench"]`` records: the key and the lengths."""
    key = sequence_key or SEQUENCE_COLUMN
    if key not in adata.obs.columns:
        raise InputError(f"sequence_key: column '{key}' not in obs; a sequence dataset needs "
                         f"its sequences in obs (columns are: "
                         f"{', '.join(map(str, adata.obs.columns)) or '(none)'})")
    sequences = check_sequences(adata.obs[key].tolist(), f"sequence_key: obs column '{key}'",
                                names=list(adata.obs_names))
    if key != SEQUENCE_COLUMN and SEQUENCE_COLUMN in adata.obs.columns:
        adata.obs[f"{SEQUENCE_COLUMN}_original"] = adata.obs[SEQUENCE_COLUMN]
    adata.obs[SEQUENCE_COLUMN] = pd.Series(sequences, index=adata.obs_names, dtype=object)
    return {"sequence_key": key, "sequence_lengths": lengths_summary(sequences)}


def sequences_of(adata: Any) -> list[str]:
    """The sequences of an AnnData of the ``sequence`` modality (validated when loaded)."""
    obs = getattr(adata, "obs", None)
    if obs is None or SEQUENCE_COLUMN not in obs.columns:
        raise InputError(f"dataset: has no obs column '{SEQUENCE_COLUMN}'; sequence baselines "
                         f"need the sequences (load it with modality='sequence')")
    return check_sequences(obs[SEQUENCE_COLUMN].tolist(), f"obs column '{SEQUENCE_COLUMN}'",
                           names=list(adata.obs_names))


__all__ = ["SEQUENCE_COLUMN", "SEQUENCE_SUFFIXES", "attach_sequences", "is_sequence_file",
           "read_fasta", "read_sequence_file", "read_table", "sequences_of"]
