"""Run directories: every finished (dataset, seed, input, task) result saved at once, so an
interrupted run resumes where it stopped (docs/grid.md).

Records carry the sha256 of their content (``checksum``): an edited, truncated or foreign record
is refused on resume with a one-line error naming the file, as is one missing a field. Only
regular files are read: a FIFO, device or link in the run directory is refused (it would block
or read another file).
"""

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
            check_regular(file)
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
        if folder.exists() or folder.is_symlink():
            check_regular(folder, folder=True)
        for file in sorted(folder.glob("*")) if folder.exists() else ():
            if file.name.startswith(".") and file.name.endswith(".tmp"):
                continue  # a write killed halfway (atomic writes leave no half record)
            check_regular(file)
            if file.suffix != ".json":
                raise InputError(f"resume: {file} is not a czbench record; remove it")
            record = read_record(file)
            out[record["task"]] = record
        return out


#: the fields every saved record has, and their types
RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task": str, "entry": dict, "results": list, "timings_s": dict, "warnings": list}
#: the fields of a record's ``entry`` that a resumed run reads
ENTRY_FIELDS = ("kind", "role", "shape", "sha256")


def check_regular(path: Path, *, folder: bool = False) -> None:
    """A one-line error unless ``path`` is a regular file (or a real folder), not a link."""
    import stat

    try:
        mode = path.lstat().st_mode
    except OSError as err:
        raise InputError(f"resume: cannot read {path} ({type(err).__name__})") from None
    ok = stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)
    if not ok:
        what = "a folder" if folder else "a regular file"
        raise InputError(f"resume: {path} is not {what} (a link, FIFO or device); czbench "
                         f"reads only what it wrote; remove it")


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of a record's canonical JSON, without its ``checksum`` field."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(file: Path) -> dict[str, Any]:
    """One saved record, checked (regular file, JSON, checksum, fields); a bad one is a
    one-line error naming the file."""
    check_regular(file)
    try:
        record = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"resume: {file} is damaged ({type(err).__name__}); delete it to "
                         f"recompute that result") from None
    if not isinstance(record, dict) or not isinstance(record.get("task"), str) \
            or not isinstance(record.get("entry"), dict):
        raise InputError(f"resume: {file} is not a czbench record; delete it to recompute "
                         f"that result")
    if record.get("checksum") != record_checksum(record):
        raise InputError(f"resume: {file} was edited or damaged (its checksum does not "
                         f"match); delete it to recompute that result")
    missing = [k for k, t in RECORD_FIELDS.items() if not isinstance(record.get(k), t)]
    missing += [f"entry.{k}" for k in ENTRY_FIELDS if k not in record["entry"]]
    if missing:
        raise InputError(f"resume: {file} lacks field {missing[0]}; delete it to recompute "
                         f"that result")
    return record


def write_record(record_dir: Path, record: dict[str, Any]) -> None:
    """Save one (task) record of a cell, atomically, with its checksum."""
    record = {**record, "checksum": record_checksum(record)}
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
