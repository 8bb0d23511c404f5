"""Typed, bounded checks of user-given values: one-line errors naming the field, the value and
what was expected. Light (standard library only), so front doors can run them before any
heavy import or any work.

Used for task options (``check_int``, ``check_number``, ``check_bool``, ``check_choice``,
``check_text``), seeds (:func:`czbench.context.check_seed`) and output paths
(:func:`check_output_path`).
"""

from __future__ import annotations

import math
import numbers
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from czbench.errors import InputError

#: the seed of a run that names none
DEFAULT_SEED = 42
#: the largest seed every generator czbench uses accepts (numpy's legacy seeding: 2**32 - 1)
MAX_SEED = 2**32 - 1


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(value: Any, field: str, minimum: int | None = None,
              maximum: int | None = None, *, allow_none: bool = False) -> int | None:
    """``value`` as an int within [minimum, maximum]; text, bools, non-integral numbers and
    values out of bounds are a one-line InputError. Integral floats (``5.0``) are accepted."""
    if value is None and allow_none:
        return None
    bounds = _bounds_text(minimum, maximum)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = math.isfinite(float(value)) and float(value).is_integer()
    if not ok:
        none = " or null" if allow_none else ""
        raise InputError(f"{field}: expected an integer{bounds}{none}, got {_shown(value)}")
    out = int(value)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise InputError(f"{field}: expected an integer{bounds}, got {out}")
    return out


def check_number(value: Any, field: str, minimum: float | None = None,
                 maximum: float | None = None, *, open_minimum: bool = False) -> float:
    """``value`` as a finite float within the bounds (``open_minimum``: strictly above)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise InputError(f"{field}: expected a finite number"
                         f"{_bounds_text(minimum, maximum, open_minimum)}, got {_shown(value)}")
    out = float(value)
    low_bad = minimum is not None and (out <= minimum if open_minimum else out < minimum)
    if low_bad or (maximum is not None and out > maximum):
        raise InputError(f"{field}: expected a number{_bounds_text(minimum, maximum, open_minimum)}"
                         f", got {value!r}")
    return out


def check_bool(value: Any, field: str) -> bool:
    """``value`` if it is a bool (text such as "yes" is refused: JSON true/false expected)."""
    if not isinstance(value, bool):
        raise InputError(f"{field}: expected true or false, got {_shown(value)}")
    return value


def check_choice(value: Any, field: str, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    if isinstance(value, bool) or value not in choices:
        raise InputError(f"{field}: expected one of {', '.join(map(str, choices))}, got "
                         f"{_shown(value)}")
    return value


def check_text(value: Any, field: str, *, allow_none: bool = False) -> str | None:
    """A non-empty string (e.g. an obs column name)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field}: expected a non-empty name, got {_shown(value)}")
    return value


def _bounds_text(minimum: Any, maximum: Any, open_minimum: bool = False) -> str:
    low = ">" if open_minimum else ">="
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]" if not open_minimum else \
            f" in ({minimum}, {maximum}]"
    if minimum is not None:
        return f" {low} {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_output_path(path: str | os.PathLike, *, overwrite: bool,
                      field: str = "output") -> Path:
    """Check, before any work, that a results file can be written at ``path``.

    czbench writes only regular files: a symbolic link (even to a regular file), a folder, a
    device or a pipe at ``path`` is refused, so nothing but an old results file is ever
    replaced. An existing file needs ``overwrite``; the nearest existing parent must be a
    writable folder.
    """
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"{field}: {path} is a symbolic link; czbench writes only regular "
                         f"files (give the path it points to: {os.path.realpath(path)})")
    if path.exists():
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise InputError(f"{field}: {path} is {kind}; expected a file path to write")
        if not overwrite:
            raise InputError(f"{field}: {path} already exists; pass --overwrite "
                             f"(overwrite=True) to replace it")
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link in the way
            raise InputError(f"{field}: {parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{field}: cannot create {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{field}: cannot write {path}: folder {parent} is not writable")
    return path
