"""Loading datasets: registered names or users' own .h5ad files, with standard obs columns."""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import pandas as pd

from czbench.datasets.modalities import DEFAULT_MODALITY, get_modality
from czbench.datasets.registry import (
    STANDARD_COLUMNS,
    DatasetInfo,
    get_info,
    list_datasets,
    third_party_file,
)
from czbench.datasets.sequence_files import (
    attach_sequences,
    is_sequence_file,
    read_sequence_file,
)
from czbench.datasets.spatial import SPATIAL_TRANSFORM, add_spatial_columns
from czbench.errors import CZBenchWarning, InputError
from czbench.utils.hashing import sha256_array, sha256_file, sha256_parts


def _read_h5ad(path: Path, backed: bool = False) -> ad.AnnData:
    if not path.exists():
        raise InputError(f"dataset: file not found: {path}")
    if path.is_dir():
        raise InputError(f"dataset: {path} is a folder; expected an .h5ad file")
    try:
        with warnings.catch_warnings():  # old files: anndata moves uns graphs to obsp
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*very old version of AnnData")
            warnings.filterwarnings("ignore", message=".*without encoding metadata")
            return ad.read_h5ad(path, backed="r" if backed else None)
    except Exception as err:  # h5py/anndata raise many types for a non-h5ad file
        raise InputError(f"dataset: {path} is not a readable .h5ad file "
                         f"({type(err).__name__})") from err


def standardize_obs(adata: ad.AnnData, mapping: dict[str, str],
                    quiet: frozenset[str] = frozenset()) -> dict[str, str]:
    """Copy source obs columns to the standard names in ``mapping`` ({standard: source}).

    A different column already named like a standard one is kept as ``<name>_original`` (with a
    warning, except for the standard columns in ``quiet``, whose mapping a dataset's registry
    entry documents), never overwritten silently. Missing values (NaN) are kept: each task
    refuses them in the columns it reads, or drops those rows when told to
    (``missing_labels="drop"``). Returns the mapping applied.
    """
    applied = {}
    for standard, source in mapping.items():
        if source is None:
            continue
        if standard not in STANDARD_COLUMNS:
            raise InputError(f"{standard}: not a standard column; expected one of "
                             f"{', '.join(STANDARD_COLUMNS)}")
        key = f"{'label' if standard == 'cell_type' else standard}_key"
        if source not in adata.obs.columns:
            raise InputError(f"{key}: column '{source}' not in obs; columns are: "
                             f"{', '.join(map(str, adata.obs.columns))}")
        column = adata.obs[source]
        if int(column.notna().sum()) == 0:
            raise InputError(f"{key}: column '{source}' has only missing values (NaN)")
        if source != standard:
            if standard in adata.obs.columns:
                kept = f"{standard}_original"
                if standard not in quiet:
                    warnings.warn(f"obs column '{standard}' is replaced by '{source}' "
                                  f"({key}); the old one is kept as '{kept}'", CZBenchWarning,
                                  stacklevel=3)
                adata.obs[kept] = adata.obs[standard]
            adata.obs[standard] = column.copy()
        applied[standard] = source
    return applied


def load(name_or_path: str | Path, *, label_key: str | None = None,
         batch_key: str | None = None, species_key: str | None = None,
         time_key: str | None = None, condition_key: str | None = None,
         verify: bool = True, backed: bool = False, modality: str | None = None,
         sequence_key: str | None = None, spatial_key: str | None = None) -> ad.AnnData:
    """Load a registered dataset by name, or an .h5ad file by path, with standard obs columns.

    The ``*_key`` arguments name the source obs columns to use as ``cell_type``, ``batch``,
    ``species``, ``time`` and ``condition``; for a registered dataset they override its defaults.
    ``backed=True`` keeps X on disk (rows are read lazily; obs is in memory). ``modality``
    (:mod:`czbench.datasets.modalities`) says what a file's rows measure (default
    ``transcriptomics``, or ``sequence`` for a FASTA / CSV / TSV file); a registered dataset
    declares its own. On the ``sequence`` modality the sequences (obs column ``sequence_key``,
    default ``sequence``) are validated and kept, upper-cased, in ``obs["sequence"]``.
    ``spatial_key``: the obsm key of the rows' 2-D coordinates (default ``spatial`` on spatial
    data; giving it makes a file spatial), copied to obs as ``spatial_x``/``spatial_y``/
    ``spatial_tile``.
    """
    overrides = {"cell_type": label_key, "batch": batch_key, "species": species_key,
                 "time": time_key, "condition": condition_key}
    name = str(name_or_path)
    if name in list_datasets():
        info = get_info(name)
        path = info.path()
        adata = _read_h5ad(path, backed)
        digest = sha256_file(str(path))
        if verify and digest != info.sha256:
            message = (f"dataset '{name}': sha256 of {path} is {digest}, the registry "
                       f"expects {info.sha256}")
            if third_party_file(info):
                warnings.warn(message + " (file provided by another package)", stacklevel=2)
            else:
                raise InputError(message)
        user = {k: v for k, v in overrides.items() if v is not None}
        mapping = {**info.columns, **user}
        quiet = frozenset(k for k in info.columns if k not in user)
        if modality is not None and modality != info.modality:
            raise InputError(f"modality: dataset '{name}' is {info.modality} data; got "
                             f"{modality!r}")
        source = {"name": name, "path": str(path), "sha256": digest, "registered": True,
                  "counts_layer": info.counts_layer, "modality": info.modality,
                  "row_unit": info.rows}
        spatial_key = spatial_key or info.spatial_key
    else:
        path = Path(name).expanduser()
        if path.suffix != ".h5ad" and not path.exists():
            raise InputError(f"dataset: '{name}' is neither a registered dataset "
                             f"({', '.join(list_datasets())}) nor an existing .h5ad file")
        if is_sequence_file(path):
            if modality not in (None, "sequence"):
                raise InputError(f"modality: {path.name} is a sequence file; got {modality!r}")
            modality = "sequence"
            adata = read_sequence_file(path, sequence_key)
        else:
            adata = _read_h5ad(path, backed)
        digest = sha256_file(str(path))
        mapping = {k: v for k, v in overrides.items() if v is not None}
        quiet = frozenset()
        if "cell_type" not in mapping and "cell_type" in adata.obs.columns:
            mapping["cell_type"] = "cell_type"
        if "cell_type" not in mapping and modality == "sequence" and "label" in adata.obs:
            mapping["cell_type"] = "label"  # a sequence file's labels (FASTA: label=...)
        if "batch" not in mapping and "batch" in adata.obs.columns:
            mapping["batch"] = "batch"
        kind = get_modality(modality or ("spatial" if spatial_key else DEFAULT_MODALITY))
        source = {"name": path.stem, "path": str(path.resolve()), "sha256": digest,
                  "registered": False, "modality": kind.name, "row_unit": kind.row_unit}
    check_cells(adata, name)
    if source["modality"] == "sequence":
        source.update(attach_sequences(adata, sequence_key))
    elif sequence_key is not None:
        raise InputError(f"sequence_key: only for sequence data; '{name}' is "
                         f"{source['modality']} data")
    applied = standardize_obs(adata, mapping, quiet)
    source.update(_spatial(adata, source["modality"], spatial_key))
    adata.uns["czbench"] = {**source, "columns": applied}
    return adata


def _spatial(adata: ad.AnnData, modality: str, spatial_key: str | None) -> dict[str, str]:
    """On spatial data, the coordinates' obs columns (and the key recorded with the dataset);
    a spatial key on data of another modality is an error."""
    if not get_modality(modality).spatial:
        if spatial_key is not None:
            raise InputError(f"spatial_key: given for {modality} data; spatial coordinates "
                             f"need modality 'spatial'")
        return {}
    spatial_key = spatial_key or "spatial"
    add_spatial_columns(adata, spatial_key)
    return {"spatial_key": spatial_key, "baseline_transform": SPATIAL_TRANSFORM}


def check_cells(adata: ad.AnnData, name: str) -> None:
    """A dataset needs at least 2 cells (every metric compares cells)."""
    if adata.n_obs < 2:
        raise InputError(f"dataset: '{name}' has {adata.n_obs} cells; expected at least 2")


def from_anndata(adata: ad.AnnData, *, name: str = "anndata", label_key: str | None = None,
                 batch_key: str | None = None, species_key: str | None = None,
                 time_key: str | None = None, condition_key: str | None = None,
                 modality: str | None = None, sequence_key: str | None = None,
                 spatial_key: str | None = None) -> ad.AnnData:
    """Standardise an AnnData already in memory (a copy; the input is not changed);
    ``modality`` says what its rows measure (default ``transcriptomics``; ``spatial`` when a
    ``spatial_key`` is given; ``sequence``: the sequences in obs column ``sequence_key``, see
    :func:`load`)."""
    if not isinstance(adata, ad.AnnData):
        raise InputError(f"dataset: expected an AnnData, got {type(adata).__name__}")
    kind = get_modality(modality or ("spatial" if spatial_key else DEFAULT_MODALITY))
    check_cells(adata, name)
    adata = adata.copy()
    default_label = "label" if kind.name == "sequence" and "cell_type" not in adata.obs and \
        "label" in adata.obs else "cell_type"
    mapping = {"cell_type": label_key or (default_label if default_label in adata.obs else None),
               "batch": batch_key or ("batch" if "batch" in adata.obs else None),
               "species": species_key, "time": time_key, "condition": condition_key}
    extra = attach_sequences(adata, sequence_key) if kind.name == "sequence" else {}
    applied = standardize_obs(adata, mapping)
    digest = sha256_array(adata.X) if adata.X is not None else sha256_parts(
        list(map(str, adata.obs_names)), list(map(str, adata.var_names)))
    if extra:  # the data are the sequences, not X (which has no columns)
        digest = sha256_parts(digest, adata.obs["sequence"].tolist())
    adata.uns["czbench"] = {"name": name, "path": None, "sha256": digest,
                            "registered": False, "columns": applied, "modality": kind.name,
                            "row_unit": kind.row_unit, **extra,
                            **_spatial(adata, kind.name, spatial_key)}
    return adata


def info(name: str) -> DatasetInfo:
    """Registry entry of a dataset: provenance, licence, shape, columns, shipped embeddings."""
    return get_info(name)


def summary() -> pd.DataFrame:
    """One row per registered dataset."""
    rows = [get_info(n).summary_row() for n in list_datasets()]
    return pd.DataFrame(rows).set_index("name")


__all__ = ["from_anndata", "info", "load", "standardize_obs", "summary"]
