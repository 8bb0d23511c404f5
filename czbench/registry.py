"""The registry mechanism every asset kind shares, and plugin discovery by entry point.

One :class:`Registry` per kind (datasets, tasks, metrics, baselines, models, modalities) maps a
name to an asset and records where each came from (its :class:`Origin`): czbench itself, a
plugin distribution (an installed package declaring an entry point in the kind's group, e.g.
``czbench.tasks``), or a :func:`register` call at run time. Plugins are discovered lazily, on
the first lookup in a registry; a plugin that cannot be imported, breaks its kind's contract or
claims a name already taken is refused, recorded in :data:`PLUGIN_REPORTS` (``czbench list
plugins``) and never breaks the rest. ``CZBENCH_DISABLE_PLUGINS=1`` turns discovery off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from czbench.errors import InputError, describe_error
from czbench.utils.imports import load_entry

T = TypeVar("T")

#: entry-point groups, one per asset kind a plugin can contribute
PLUGIN_GROUPS = ("czbench.datasets", "czbench.tasks", "czbench.metrics", "czbench.baselines",
                 "czbench.models")
#: set to 1 to load no plugin (e.g. to tell a plugin's effect from czbench's own)
DISABLE_ENV = "CZBENCH_DISABLE_PLUGINS"
#: seconds a plugin's import may take (``CZBENCH_PLUGIN_TIMEOUT`` overrides): one that blocks
#: longer is reported as an error and skipped, so discovery never hangs
PLUGIN_TIMEOUT = 60.0
TIMEOUT_ENV = "CZBENCH_PLUGIN_TIMEOUT"
#: threads importing a plugin now: their own lookups see the registry as loaded so far
_LOADER_THREADS: set[int] = set()


@dataclass(frozen=True)
class Origin:
    """Where an asset came from, as recorded in results files.

    Attributes:
        source: ``builtin`` (czbench), ``plugin`` (an installed distribution's entry point) or
            ``registered`` (a ``register`` call at run time, from ``module``).
        distribution: the distribution that ships it (``czbench`` for built-ins).
        version: that distribution's version.
        entry_point: ``module:attr`` of a plugin's entry point; the registering module for
            ``registered`` assets.
    """

    source: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def label(self) -> str:
        """One short line for tables: ``built-in``, ``plugin: dist 1.0``, ``registered``."""
        if self.source == "builtin":
            return "built-in"
        if self.source == "plugin":
            return f"plugin: {self.distribution} {self.version}"
        return f"registered ({self.entry_point})" if self.entry_point else "registered"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


BUILTIN = Origin("builtin", "czbench", _version("czbench"))


@dataclass(frozen=True)
class PluginReport:
    """What happened to one entry point: ``loaded``, ``error`` (it could not be imported, breaks
    its kind's contract or its import did not finish in time) or ``refused`` (its name is
    taken); ``replaced``: a module (a plugin at import, or a user's code) registered over a
    built-in with ``replace=True``."""

    group: str
    name: str
    distribution: str
    version: str | None
    value: str
    status: str
    error: str = ""



#: every entry point seen so far, in discovery order (``czbench list plugins``)
PLUGIN_REPORTS: list[PluginReport] = []
#: every registry, by kind (``task``, ``dataset``...)
REGISTRIES: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """Name -> asset, with origins and lazy plugin discovery.

    Args:
        kind: singular noun used in messages (``task``).
        builtins: the built-in assets; a ``"module:attr"`` string is imported on first use.
        group: the entry-point group whose plugins join this registry (None: no plugins).
        asset_type: when the assets are instances of one class (``DatasetInfo``...): every
            asset added must be one, and be added under its own ``name``.
        adopt: ``adopt(name, obj) -> asset``: the kind's own contract checks, after the type
            and name checks (a one-line :class:`~czbench.errors.InputError` otherwise).
        hint: appended to the unknown-name error (e.g. ``" (or mlflow:PATH_OR_URI)"``).
    """

    def __init__(self, kind: str, builtins: dict[str, T | str], *, group: str | None = None,
                 asset_type: type | None = None, adopt: Callable[[str, Any], T] | None = None,
                 hint: str = "") -> None:
        self.kind, self.group, self.hint = kind, group, hint
        self._builtins = dict(builtins)
        self._asset_type = asset_type
        self._adopt = adopt
        self._entries: dict[str, T | str] = dict(builtins)
        self._origins: dict[str, Origin] = dict.fromkeys(builtins, BUILTIN)
        self._discovered = group is None
        self._loading = False
        self._lock = threading.RLock()
        REGISTRIES[kind] = self

    # -- plugins -----------------------------------------------------------------------------
    def discover(self) -> None:
        """Load this kind's plugins once. Other threads wait until loading is done; the
        loading thread itself (a plugin looking names up at import) sees what is loaded."""
        if self._discovered or threading.get_ident() in _LOADER_THREADS:
            return
        with self._lock:  # re-entrant: the loading thread gets in, others wait here
            if self._discovered or self._loading:
                return
            self._loading = True
            try:
                if os.environ.get(DISABLE_ENV, "").strip() not in ("1", "true", "yes"):
                    self._load_plugins()
            finally:
                self._loading = False
                self._discovered = True

    def _load_plugins(self) -> None:
        points = sorted(metadata.entry_points(group=self.group),
                        key=lambda ep: (ep.name, _dist_name(ep)))
        claimants: dict[str, list[str]] = {}
        for ep in points:
            claimants.setdefault(ep.name, []).append(_dist_name(ep))
        for ep in points:
            self._load_plugin(ep, claimants[ep.name])

    def _load_plugin(self, ep: metadata.EntryPoint, claimants: list[str]) -> None:
        dist = _dist_name(ep)
        version = ep.dist.version if ep.dist is not None else None

        def report(status: str, error: str = "") -> None:
            PLUGIN_REPORTS.append(PluginReport(self.group or "", ep.name, dist, version,
                                               ep.value, status, error))

        if ep.name in self._builtins:
            return report("refused", f"'{ep.name}' is a built-in {self.kind}; rename the "
                                     f"plugin's {self.kind}")
        if len(claimants) > 1:
            return report("refused", f"'{ep.name}' is claimed by {', '.join(claimants)}; "
                                     f"neither is loaded (uninstall one)")
        try:
            asset = self.check(ep.name, _load_in_time(ep, dist))
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a broken plugin never breaks czbench
            return report("error", describe_error(err))
        current = self._entries.get(ep.name)
        if current is not None and current is not asset:
            return report("refused", f"'{ep.name}' is already registered as another "
                                     f"{self.kind} ({self.origin(ep.name).label()})")
        self._entries[ep.name] = asset
        self._origins[ep.name] = Origin("plugin", dist, version, ep.value)
        report("loaded")

    # -- lookups -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        self.discover()
        return [*self._entries]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def unknown(self, name: Any) -> InputError:
        """The one-line error for a name that is not registered."""
        return InputError(f"{self.kind}: unknown {self.kind} {name!r}; registered: "
                          f"{', '.join(self.names()) or '(none)'}{self.hint}")

    def get(self, name: str) -> T:
        """The asset ``name`` (a lazy built-in is imported now)."""
        self.discover()
        if not isinstance(name, str) or name not in self._entries:
            raise self.unknown(name)
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = load_entry(entry)
        return entry

    def peek(self, name: str) -> T | str | None:
        """The entry as stored (a lazy built-in stays a ``"module:attr"`` string)."""
        self.discover()
        return self._entries.get(name)

    def origin(self, name: str) -> Origin:
        """Where ``name`` came from."""
        self.discover()
        if name not in self._origins:
            raise self.unknown(name)
        return self._origins[name]

    # -- changes -----------------------------------------------------------------------------
    def check(self, name: str, obj: Any) -> T:
        """``obj`` as this kind's asset registered as ``name``: of ``asset_type`` and named
        ``name`` (when the registry has a type), then through ``adopt``; a one-line
        :class:`~czbench.errors.InputError` otherwise."""
        if self._asset_type is not None:
            if not isinstance(obj, self._asset_type):
                raise InputError(f"{self.kind}: expected a {self._asset_type.__name__}, got "
                                 f"{type(obj).__name__}")
            check_name(self.kind, name, obj.name)
        return self._adopt(name, obj) if self._adopt is not None else obj

    def add(self, asset: T, *, replace: bool = False) -> T:
        """Register ``asset`` under its own ``name``, checked (registries with a type)."""
        name = getattr(asset, "name", None)
        self.check(name if isinstance(name, str) else "?", asset)
        return self.register(name, asset, replace=replace)

    def register(self, name: str, asset: T, *, replace: bool = False) -> T:
        """Add ``asset`` as ``name``; a taken name needs ``replace=True`` (re-registering the
        same object is a no-op)."""
        self.discover()
        current = self._entries.get(name)
        if current is not None and current is not asset and not replace:
            raise InputError(f"{self.kind}: '{name}' is already registered "
                             f"({self._origins[name].label()}); pass replace=True")
        if current is asset:
            return asset
        module = _module_of(asset)
        if current is not None and self.group is not None and name in self._builtins and \
                self._origins.get(name) == BUILTIN:
            message = (f"the built-in {self.kind} '{name}' was replaced by "
                       f"{module or 'a registration'} (replace=True)")
            PLUGIN_REPORTS.append(PluginReport(self.group, name, module or "-", None,
                                               module or "-", "replaced", message))
        self._entries[name] = asset
        self._origins[name] = Origin("registered", entry_point=module)
        return asset

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a built-in comes back with :meth:`restore_builtins`)."""
        self.discover()
        self._entries.pop(name, None)
        self._origins.pop(name, None)

    def snapshot(self) -> tuple[Any, ...]:
        """The registry's state, for :meth:`restore` (tests use the pair)."""
        return (dict(self._entries), dict(self._origins), self._discovered,
                [r for r in PLUGIN_REPORTS if r.group == self.group])

    def restore(self, state: tuple[Any, ...]) -> None:
        entries, origins, discovered, reports = state
        self._entries, self._origins, self._discovered = dict(entries), dict(origins), discovered
        PLUGIN_REPORTS[:] = [r for r in PLUGIN_REPORTS if r.group != self.group] + reports

    def restore_builtins(self) -> None:
        """Back to the built-ins only (plugins are discovered again on the next lookup)."""
        with self._lock:
            self._entries = dict(self._builtins)
            self._origins = dict.fromkeys(self._builtins, BUILTIN)
            self._discovered = self.group is None
            PLUGIN_REPORTS[:] = [r for r in PLUGIN_REPORTS if r.group != self.group]


def _load_in_time(ep: metadata.EntryPoint, dist: str) -> Any:
    """``ep.load()`` in a helper thread, waited for at most the plugin time limit; a plugin
    whose import blocks is an error naming it and the way to skip plugins."""
    try:
        limit = float(os.environ.get(TIMEOUT_ENV) or PLUGIN_TIMEOUT)
    except ValueError:
        limit = PLUGIN_TIMEOUT
    out: dict[str, Any] = {}

    def load() -> None:
        _LOADER_THREADS.add(threading.get_ident())
        try:
            out["asset"] = ep.load()
        except BaseException as err:  # noqa: BLE001 - reported by the caller
            out["error"] = err
        finally:
            _LOADER_THREADS.discard(threading.get_ident())

    worker = threading.Thread(target=load, name=f"czbench-plugin-{ep.name}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise TimeoutError(f"plugin {ep.value} ({dist}) did not finish importing in "
                           f"{limit:g} s and was skipped; set {DISABLE_ENV}=1 to load no "
                           f"plugin, or {TIMEOUT_ENV}=SECONDS")
    if "error" in out:
        raise out["error"]
    return out["asset"]


def check_name(kind: str, name: str, declared: Any) -> None:
    """An asset registered (or declared as an entry point) as ``name`` must be named so."""
    if declared != name:
        raise InputError(f"{kind} '{name}': registered under another name than the {kind}'s "
                         f"own ('{declared}')")


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "(unknown distribution)"


def _module_of(asset: Any) -> str | None:
    """The user's module an asset comes from: a class's or function's own, or that of the
    function a descriptor wraps (``MetricInfo.function``, ``Baseline.fn``)."""
    for obj in (asset, getattr(asset, "function", None), getattr(asset, "fn", None)):
        module = getattr(obj, "__module__", None) if isinstance(obj, type) or callable(obj) \
            else None
        if module and not module.startswith("czbench."):
            return module
    return None


def discover_all() -> list[PluginReport]:
    """Discover every kind's plugins (the registries must be imported) and report them."""
    for registry in REGISTRIES.values():
        registry.discover()
    return list(PLUGIN_REPORTS)
