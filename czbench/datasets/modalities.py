"""Modalities: what kind of measurement a dataset's rows hold, and what that allows.

A modality says what a row is (a cell, a well), what a column is (a gene, an image feature),
whether the matrix holds raw counts (so that counts-based baselines and normalisation apply), and
which tasks a run scores by default. Every dataset declares one (registered datasets in their
:class:`~czbench.datasets.info.DatasetInfo`, users' files with ``modality=``); the run layer,
the baselines, the DataModule and the report read it from ``adata.uns["czbench"]``.

Adding a modality (spatial, DNA...) is one :func:`register_modality` call plus a dataset; see
docs/modalities.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from czbench.errors import InputError
from czbench.registry import Registry

#: the modality of data that does not say (users' own h5ad files, AnnData in memory)
DEFAULT_MODALITY = "transcriptomics"


@dataclass(frozen=True)
class Modality:
    """A kind of measurement.

    Attributes:
        name: registry name (``transcriptomics``, ``morphology``).
        description: one line for ``czbench list modalities`` and the docs.
        row_unit: what one row is by default (``cell``, ``well``); a dataset may say otherwise.
        feature_unit: what one column is (``gene``, ``image feature``).
        counts: whether the matrix may hold raw counts; when False, counts-based baselines
            (``Baseline.needs_counts``) and counts normalisation are refused with the reason.
        tasks: the tasks a run scores by default on this modality (before the dataset's own).
        baselines: the generic baselines a run scores by default (``baseline:<name>``; on
            transcriptomics ``pca`` only when the data has counts).
        controls: the modality's own controls beside the generic ones (``control:<name>``).
        task_options: {task: {option: value}} a run uses on this modality's data under the
            dataset's and the user's own (e.g. spatially blocked label prediction).
        spatial: rows carry 2-D coordinates (``obsm[spatial_key]``), copied to obs as
            ``spatial_x``/``spatial_y`` with their ``spatial_tile`` when loaded.
    """

    name: str
    description: str
    row_unit: str
    feature_unit: str
    counts: bool
    tasks: tuple[str, ...]
    baselines: tuple[str, ...] = ("pca",)
    controls: tuple[str, ...] = ()
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    spatial: bool = False


TRANSCRIPTOMICS = Modality(
    "transcriptomics", "single-cell RNA: counts of transcripts per gene", row_unit="cell",
    feature_unit="gene", counts=True,
    tasks=("clustering", "embedding", "label_prediction", "batch_integration"))
MORPHOLOGY = Modality(
    "morphology", "image-based profiles (Cell Painting): CellProfiler-style features of "
    "cells or wells, already normalised", row_unit="well", feature_unit="image feature",
    counts=False,
    tasks=("replicate_retrieval", "clustering", "embedding", "label_prediction",
           "batch_integration"),
    baselines=("raw", "pca"))
SEQUENCE = Modality(
    "sequence", "DNA sequences (obs['sequence']), scored as frozen embeddings of a model; X may "
    "have no columns", row_unit="sequence", feature_unit="(none: the sequence is in obs)",
    counts=False, tasks=("sequence_classification",),
    baselines=("kmer", "gc", "onehot", "kmer_dinucleotide_shuffled"))

SPATIAL = Modality(
    "spatial", "spatial transcriptomics (MERFISH, Xenium, ...): expression of cells with 2-D "
    "coordinates; values may be normalised, not counts", row_unit="cell", feature_unit="gene",
    counts=False,
    tasks=("niche_composition", "spatial_domains", "clustering", "embedding",
           "label_prediction"),
    baselines=("pca", "spatial_pca"), controls=("coordinates", "shuffled_coordinates"),
    task_options={"label_prediction": {"group_key": "spatial_tile"}}, spatial=True)

BUILTIN_MODALITIES = {m.name: m for m in (TRANSCRIPTOMICS, MORPHOLOGY, SEQUENCE,
                                                 SPATIAL)}
REGISTRY: Registry[Modality] = Registry("modality", BUILTIN_MODALITIES, asset_type=Modality)


def register_modality(modality: Modality, *, replace: bool = False) -> Modality:
    """Make a modality available to datasets (contributors: spatial, DNA...)."""
    if isinstance(modality, Modality) and REGISTRY.peek(modality.name) == modality:
        return modality  # an equal modality again: no change
    return REGISTRY.add(modality, replace=replace)


def unregister_modality(name: str) -> None:
    """Remove a modality (built-ins included; tests restore them)."""
    REGISTRY.unregister(name)


def list_modalities() -> list[str]:
    """Names of the registered modalities."""
    return REGISTRY.names()


def get_modality(name: str) -> Modality:
    if not isinstance(name, str) or name not in REGISTRY:
        raise InputError(f"modality: expected one of {', '.join(REGISTRY)}, got {name!r}")
    return REGISTRY.get(name)


def modality_of(adata: Any) -> Modality:
    """The modality an AnnData loaded by czbench declares (default: transcriptomics)."""
    uns = getattr(adata, "uns", None) or {}
    return get_modality(uns.get("czbench", {}).get("modality", DEFAULT_MODALITY))


def row_unit_of(adata: Any) -> str:
    """What one row of the AnnData is (``cell``, ``well``)."""
    uns = getattr(adata, "uns", None) or {}
    return uns.get("czbench", {}).get("row_unit") or modality_of(adata).row_unit


def refuse_counts(adata: Any, what: str) -> None:
    """A one-line error when ``what`` needs raw counts and ``adata``'s modality has none."""
    modality = modality_of(adata)
    if not modality.counts:
        name = (getattr(adata, "uns", None) or {}).get("czbench", {}).get("name", "the dataset")
        hint = "; use baseline:pca or baseline:raw, which work on any modality" \
            if what.startswith("baseline:") and modality.name != "sequence" else ""
        raise InputError(f"{what}: needs raw transcript counts, and '{name}' is "
                         f"{modality.name} data ({row_unit_of(adata)}s x "
                         f"{modality.feature_unit}s, no counts){hint}")


__all__ = ["BUILTIN_MODALITIES", "DEFAULT_MODALITY", "MORPHOLOGY", "SEQUENCE", "SPATIAL",
           "TRANSCRIPTOMICS", "Modality", "get_modality", "list_modalities", "modality_of",
           "refuse_counts", "register_modality", "row_unit_of", "unregister_modality"]
