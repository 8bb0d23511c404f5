"""Run directories: every finished (dataset, seed, input, task) result saved at once, so an
interrupted run resumes where it stopped (docs/grid.md)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from czbench.errors import InputError
from czbench.utils.io import atomic_write_text
from czbench.utils.params import jsonable


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: the ``position``-th input of dataset ``dataset`` at ``seed``."""

    dataset: int
    seed: int
    position: int
    source: str


class RunDirectory:
    """A folder holding a grid run: ``manifest.json`` (what the run is) and one JSON record per
    finished (dataset, seed, input, task) under ``cells/``, each written atomically."""

    def __init__(self, path: str | Path, manifest: dict[str, Any], *, resume: bool) -> None:
        self.path = Path(path)
        self.manifest = jsonable(manifest)
        file = self.path / "manifest.json"
        if file.exists():
            if not resume:
                raise InputError(f"run directory: {self.path} already holds a run; pass "
                                 f"--resume (resume=True) to continue it, or choose a new one")
            try:
                old = json.loads(file.read_text())
            except (OSError, ValueError) as err:
                raise InputError(f"resume: {file} is not a readable manifest; choose a new run "
                                 f"directory") from err
            changed = differences(old, self.manifest)
            if changed:
                raise InputError(f"resume: {self.path} holds a different run (differs in "
                                 f"{', '.join(changed)}); choose a new run directory")
        else:
            if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
                raise InputError(f"run directory: {self.path} exists and is not a czbench run "
                                 f"directory; choose an empty or new folder")
            atomic_write_text(file, json.dumps(self.manifest, indent=2) + "\n")

    def cell_dir(self, cell: Cell) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", cell.source)[-60:]
        digest = hashlib.sha1(cell.source.encode()).hexdigest()[:8]
        return (self.path / "cells" / f"d{cell.dataset}" / f"seed{cell.seed}" /
                f"{cell.position:03d}-{slug}-{digest}")

    def finished(self, cell: Cell) -> dict[str, dict[str, Any]]:
        """{task: record} already written for ``cell``."""
        folder = self.cell_dir(cell)
        out = {}
        for file in sorted(folder.glob("*.json")) if folder.exists() else ():
            record = read_record(file)
            out[record["task"]] = record
        return out


def read_record(file: Path) -> dict[str, Any]:
    """One saved record; a damaged one is a one-line error naming the file."""
    try:
        record = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"resume: {file} is damaged ({type(err).__name__}); delete it to "
                         f"recompute that result") from None
    if not isinstance(record, dict) or not isinstance(record.get("task"), str) \
            or not isinstance(record.get("entry"), dict):
        raise InputError(f"resume: {file} is not a czbench record; delete it to recompute "
                         f"that result")
    return record


def write_record(record_dir: Path, record: dict[str, Any]) -> None:
    """Save one (task) record of a cell, atomically."""
    atomic_write_text(record_dir / f"{record['task']}.json", json.dumps(record) + "\n")


def check_same_input(record_dir: Path, task: str, entry: dict[str, Any]) -> None:
    """Refuse to resume a cell whose input changed since its first records were written."""
    old = read_record(record_dir / f"{task}.json")["entry"]
    if old["sha256"] != entry["sha256"]:
        raise InputError(f"resume: input {entry['source']} (seed {entry['seed']}) differs "
                         f"from the one scored before in {record_dir}; start a new run "
                         f"directory")


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Dotted paths where two manifests differ (at most 5)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{where}.{key}" if where else str(key)
            out += differences(old.get(key), new.get(key), path)
        return out[:5]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in differences(a, b, f"{where}[{i}]")][:5]
    return [] if old == new else [where]
