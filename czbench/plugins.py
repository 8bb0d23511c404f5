"""Plugins: assets other distributions contribute through entry points.

A package declares, in its ``pyproject.toml``, entry points in the groups of
:data:`czbench.registry.PLUGIN_GROUPS`::

    [project.entry-points."czbench.tasks"]
    marker_separation = "my_package.tasks:MarkerSeparationTask"

and, once installed, its assets are in czbench's registries -- the CLI, ``czbench.benchmark``,
the callback and the estimators find them by name -- with their origin (distribution and
version) recorded in every results file. What each group's entry point must name:

=====================  ==============================================================
``czbench.datasets``   a :class:`czbench.datasets.DatasetInfo` (``file`` as ``"pkg:path"``)
``czbench.tasks``      a :class:`czbench.tasks.Task` subclass
``czbench.metrics``    a :class:`czbench.metrics.MetricInfo`
``czbench.baselines``  a :class:`czbench.baselines.Baseline`
``czbench.models``     a :class:`czbench.models.Model` subclass (or a factory returning one)
=====================  ==============================================================

The entry point's name must be the asset's name. :mod:`czbench.testing` checks an asset
against its kind's contract. Guide: docs/contributing.md.
"""

from __future__ import annotations

# imported for their registries: each one joins czbench.registry.REGISTRIES
import czbench.baselines  # noqa: F401
import czbench.datasets.registry  # noqa: F401
import czbench.metrics.registry  # noqa: F401
import czbench.models.registry  # noqa: F401
import czbench.tasks.registry  # noqa: F401
from czbench.registry import PLUGIN_GROUPS, PluginReport, discover_all


def list_plugins() -> list[PluginReport]:
    """Every plugin entry point found, with its status (``loaded``, ``error``, ``refused``)
    and, when not loaded, the one-line reason."""
    return sorted(discover_all(), key=lambda r: (PLUGIN_GROUPS.index(r.group), r.name,
                                                 r.distribution))


__all__ = ["PLUGIN_GROUPS", "PluginReport", "list_plugins"]
