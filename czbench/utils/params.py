"""How a result's ``params`` are written: in tables, as JSON keys, and as logger metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

#: runs of characters outside those every Lightning logger keeps as they are in one part of a
#: name (CSV, TensorBoard, MLflow, W&B); "/" separates the parts
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def format_params(params: Mapping[str, Any]) -> str:
    """``"k1=v1, k2=v2"`` with keys sorted; ``""`` for no params."""
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def params_key(params: Mapping[str, Any]) -> str:
    """Canonical JSON of ``params`` (sorted keys): equal params give equal keys."""
    return json.dumps(jsonable(dict(params)), sort_keys=True)


def safe_name_part(value: Any) -> str:
    """One part of a logged metric name: runs of characters outside ``[A-Za-z0-9_.-]`` become
    one ``_`` and are stripped from the ends (``MEAN(knn,lr,rf)`` -> ``MEAN_knn_lr_rf``)."""
    text = _UNSAFE.sub("_", str(value)).strip("_")
    return text or "_"


def log_name(prefix: str, task: str, metric: str, params: Mapping[str, Any]) -> str:
    """``<prefix>/<task>/<metric>[/<param value>...]``, params in their given order, each part
    made safe for every Lightning logger by :func:`safe_name_part`."""
    parts = [prefix, task, metric, *params.values()]
    return "/".join(safe_name_part(p) for p in parts if p is not None and p != "")


def jsonable(value: Any) -> Any:
    """Plain-JSON copy of settings (numpy scalars and arrays, tuples, sets converted)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
