"""``DatasetInfo``: what a registered dataset is, where it came from and how to read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"

#: obs columns czbench tasks read, and the loader argument that maps each one
STANDARD_COLUMNS = ("cell_type", "batch", "species", "time", "condition")


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset.

    Attributes:
        name: registry name.
        file: file name inside ``czbench/datasets/data`` (or an absolute path), or, for a file
            shipped by another package, ``"<package>:<relative path>"``.
        sha256: expected sha256 of the file.
        columns: {standard column: source obs column}.
        embeddings: shipped ``obsm`` keys worth benchmarking (e.g. ``X_pca``).
        counts_layer: where raw counts live (``None``: ``X``; or a layer name); ``""`` if the
            dataset has no counts.
        tasks: tasks a default run scores here, beyond its modality's.
        modality: what the rows measure (:mod:`czbench.datasets.modalities`).
        row_unit: what one row is (``cell``, ``well``; default: the modality's).
        task_options: {task: {option: value}}: how the dataset is read by a task (e.g. the
            replicate-retrieval task's ``perturbation_key`` and ``control``); a run uses them
            under the user's own options.
        spatial_key: the ``obsm`` key of the rows' 2-D coordinates (spatial modality).
    """

    name: str
    description: str
    file: str
    sha256: str
    n_cells: int
    n_genes: int
    columns: dict[str, str]
    licence: str
    source: str
    citation: str
    embeddings: tuple[str, ...] = ()
    counts_layer: str | None = None
    tasks: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    modality: str = "transcriptomics"
    row_unit: str | None = None
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    spatial_key: str | None = None

    @property
    def rows(self) -> str:
        """What one row is (the dataset's ``row_unit``, else its modality's)."""
        from czbench.datasets.modalities import get_modality

        return self.row_unit or get_modality(self.modality).row_unit

    @property
    def external(self) -> bool:
        """The file belongs to another installed package (e.g. scanpy)."""
        return ":" in self.file and not Path(self.file).is_absolute()

    def path(self) -> Path:
        if self.external:
            package, relative = self.file.split(":", 1)
            import importlib

            module = importlib.import_module(package)
            return Path(module.__file__).parent / relative
        path = Path(self.file)
        return path if path.is_absolute() else DATA_DIR / path

    def summary_row(self) -> dict[str, Any]:
        return {"name": self.name, "modality": self.modality, "rows": self.n_cells,
                "row_unit": self.rows, "features": self.n_genes,
                "columns": ", ".join(self.columns), "embeddings": ", ".join(self.embeddings),
                "tasks": ", ".join(self.tasks), "licence": self.licence}
