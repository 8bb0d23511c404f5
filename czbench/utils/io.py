"""Atomic file writes: a reader, or a killed run, sees the old file or the new one, never half.

Only regular files are written: a symbolic link, folder, device or pipe at the path is refused
(:func:`czbench.utils.checks.check_output_path`), never replaced. New files get the mode the
user's umask gives (as ``open`` would), and a replaced file keeps its own mode.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from czbench.errors import InputError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, rename."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not stat.S_ISREG(path.stat().st_mode)):
        raise InputError(f"output: {path} is not a regular file; czbench writes only regular "
                         f"files and never replaces links, folders or devices")
    mode = path.stat().st_mode & 0o777 if path.exists() else _umask_mode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise InputError(f"output: cannot create folder {path.parent}: a file is in the "
                         f"way") from err
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """As :func:`atomic_write_bytes`, for text (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
