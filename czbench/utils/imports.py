"""Lazy registry entries: a ``"package.module:Name"`` string imported on first use."""

from __future__ import annotations

import importlib
from typing import Any


def load_entry(entry: str) -> Any:
    """The object ``"package.module:Name"`` names (the module is imported now)."""
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)
