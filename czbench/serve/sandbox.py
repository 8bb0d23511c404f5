"""Run a submitted MLflow pyfunc package on the public data, server-side: in a subprocess with
no network (``unshare --net``), a wall-time and a memory limit (``resource.setrlimit``) and a
scratch folder. The package sees only the public .h5ad (no held-out column).

``python -m czbench.serve.sandbox PACKAGE PUBLIC_H5AD OUT_NPY`` is the child's entry point; it
calls the package as ``czbench run --model mlflow:PACKAGE`` does
(:class:`czbench.models.mlflow_model.MLflowModel`).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from czbench.errors import InputError

#: the most bytes a zipped package may unpack to
MAX_UNPACKED = 512 << 20


@dataclass(frozen=True)
class Limits:
    """Limits of one package run: wall seconds, address-space bytes, and whether a package may
    run with the network when ``unshare --net`` is not available (refused by default)."""

    seconds: float = 300.0
    memory_bytes: int = 8 << 30
    allow_network: bool = False


@lru_cache(maxsize=1)
def no_network_prefix() -> tuple[str, ...] | None:
    """The command prefix that cuts the network (``unshare --net``, or ``unshare -rn`` for an
    unprivileged user); None where neither works."""
    for prefix in (("unshare", "--net"), ("unshare", "-r", "--net")):
        if shutil.which(prefix[0]) is None:
            return None
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    return None


def unpack(archive: Path, into: Path) -> Path:
    """Unzip a package into ``into`` (no absolute or ``..`` member names, no links, at most
    MAX_UNPACKED bytes); the folder that holds its MLmodel file."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise InputError(f"mlflow package: unpacks to more than {MAX_UNPACKED} bytes")
            for member in members:
                parts = Path(member.filename).parts
                if member.filename.startswith(("/", "\\")) or ".." in parts \
                        or (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InputError("mlflow package: a member name leaves the package folder")
            bundle.extractall(into)
    except zipfile.BadZipFile:
        raise InputError("mlflow package: not a readable zip file") from None
    found = sorted(into.rglob("MLmodel"), key=lambda p: len(p.parts))
    if not found:
        raise InputError("mlflow package: the zip holds no MLmodel file")
    return found[0].parent


def _limit(memory: int):  # noqa: ANN202
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()
    return apply


def run_package(archive: Path, public_h5ad: Path, limits: Limits) -> np.ndarray:
    """The package's embedding of the public cells, or an :class:`InputError` with a clear
    reason (it raised, ran past its limit, or wrote no array)."""
    prefix = no_network_prefix()
    if prefix is None and not limits.allow_network:
        raise InputError("mlflow package: refused (this server cannot cut a package's network "
                         "and its admin did not allow packages with network)")
    with tempfile.TemporaryDirectory(prefix="czbench-sandbox-") as scratch:
        folder = unpack(archive, Path(scratch) / "package")
        out = Path(scratch) / "embedding.npy"
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": scratch,
               "TMPDIR": scratch, "MLFLOW_DISABLE_TELEMETRY": "true",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        command = [*(prefix or ()), sys.executable, "-m", "czbench.serve.sandbox",
                   str(folder), str(public_h5ad), str(out)]
        try:
            done = subprocess.run(command, cwd=scratch, env=env, capture_output=True,
                                  timeout=limits.seconds, preexec_fn=_limit(limits.memory_bytes))
        except subprocess.TimeoutExpired:
            raise InputError(f"mlflow package: ran past the limit of {limits.seconds:g} s"
                             ) from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            last = " ".join(lines[-1].split())[:300] if lines else ""
            raise InputError(f"mlflow package: failed (exit status {done.returncode}): {last}")
        if not out.is_file():
            raise InputError("mlflow package: returned no embedding")
        return np.load(out, allow_pickle=False)


def _child(package: str, public_h5ad: str, out: str) -> None:
    from czbench.models.mlflow_model import MLflowModel

    values = MLflowModel(package).predict_file(public_h5ad)
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.dtype.kind not in "fiu":
        raise SystemExit(f"the package returned {array.dtype} values, expected numbers")
    np.save(out, array, allow_pickle=False)


if __name__ == "__main__":
    _child(*sys.argv[1:4])
