"""``package_model``: a LightningModule checkpoint with ``embed(batch)`` -> an MLflow package.

The package (``mlflow.pyfunc.save_model``) holds the checkpoint and a JSON record of how to use
it (``artifacts/``), the :class:`~czbench.packaging.CheckpointEmbedder` that runs it, its
signature (an ``input_uri`` string column in; a float32 cells x dims tensor out; an optional
``batch_size`` param), an input example and the pip requirements (czbench, torch, lightning,
anndata, pinned to the installed versions). A class from a file rather than an importable module
(e.g. a script's ``__main__``) travels with the package as code.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from czbench.datamodules import AnnDataModule
from czbench.datasets.counts import counts_location, library_target
from czbench.errors import InputError
from czbench.packaging.embedder import CONFIG_FILE, import_class
from czbench.utils.io import atomic_write_text

#: what a package needs at inference, pinned to the versions installed when it was made
RUNTIME_PACKAGES = ("czbench", "torch", "lightning", "anndata")


def resolve_class(spec: str | type) -> type:
    """A LightningModule class with ``embed``, from itself, ``pkg.mod:Class`` or
    ``path/to/file.py:Class``; else a one-line error."""
    if isinstance(spec, type):
        cls: Any = spec
    else:
        if not isinstance(spec, str) or ":" not in spec:
            raise InputError(f"module class: expected 'pkg.module:Class' or "
                             f"'path/to/file.py:Class', got {spec!r}")
        where, _, qualname = spec.rpartition(":")
        try:
            if where.endswith(".py"):
                cls = _class_from_file(Path(where).expanduser(), qualname)
            else:
                cls = import_class(spec)
        except InputError:
            raise
        except Exception as err:
            raise InputError(f"module class: cannot import '{spec}': {type(err).__name__}: "
                             f"{' '.join(str(err).split())}") from None
    if not isinstance(cls, type) or not hasattr(cls, "load_from_checkpoint"):
        raise InputError(f"module class: {spec!r} is not a LightningModule class")
    if not callable(getattr(cls, "embed", None)):
        raise InputError(f"module class: {cls.__qualname__} has no embed(batch) method (the "
                         f"protocol czbench's callback and packages use)")
    return cls


def _class_from_file(path: Path, qualname: str) -> type:
    if not path.is_file():
        raise InputError(f"module class: '{path}' does not exist")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def class_location(cls: type) -> tuple[str, list[str]]:
    """``module:Qualified.Name`` to import ``cls`` at load time, and the code files the package
    must carry for it (its source file when its module is not importable by name)."""
    module = cls.__module__
    source = _source_file(cls)
    try:
        found = importlib.util.find_spec(module) if module != "__main__" else None
    except (ImportError, ValueError):
        found = None
    if found is not None and source is not None and found.origin is not None and \
            Path(found.origin).resolve() == Path(source).resolve():
        return f"{module}:{cls.__qualname__}", []
    if source is None or "<locals>" in cls.__qualname__:
        raise InputError(f"module class: {cls.__qualname__} is defined where a package cannot "
                         f"import it from (define it at the top level of a module)")
    return f"{Path(source).stem}:{cls.__qualname__}", [source]


def _source_file(cls: type) -> str | None:
    """The file defining ``cls``, also for a module loaded from a file and never put in
    ``sys.modules`` (where ``inspect`` cannot find it): its methods' code names the file."""
    try:
        return inspect.getsourcefile(cls)
    except TypeError:
        pass
    for value in vars(cls).values():
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is not None and Path(code.co_filename).is_file():
            return code.co_filename
    return None


def preprocessing(datamodule: AnnDataModule) -> dict[str, Any]:
    """The preprocessing an AnnDataModule applies: ``normalize``, ``genes`` (in order),
    ``batch_size`` and, when normalising, the library size counts are scaled to."""
    if not isinstance(datamodule, AnnDataModule):
        raise InputError(f"datamodule: expected the AnnDataModule the model was trained with, "
                         f"got {type(datamodule).__name__}")
    adata = datamodule.adata
    genes = datamodule.genes if datamodule.genes is not None else \
        [str(g) for g in adata.var_names]
    target_sum = None
    if datamodule.normalize:
        layer = counts_location(adata, what="normalize")
        target_sum = library_target(adata.X if layer is None else adata.layers[layer])
    return {"normalize": bool(datamodule.normalize), "genes": [str(g) for g in genes],
            "batch_size": int(datamodule.loader_kwargs.get("batch_size") or 256),
            "target_sum": target_sum}


def _version(name: str) -> str | None:
    """The installed version of ``name`` without a local label (``+cpu`` is not on PyPI)."""
    try:
        return importlib.metadata.version(name).split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return None


def requirements(extra: list[str] | None = None) -> list[str]:
    """``czbench==…``, ``torch==…``, ``lightning==…``, ``anndata==…`` as installed (local version
    labels such as ``+cpu`` dropped: they are not on PyPI), then ``extra``."""
    pins = [f"{name}=={version}" if (version := _version(name)) else name
            for name in RUNTIME_PACKAGES]
    return [*pins, *(extra or [])]


def _signature(batch_size: int, dims: int) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    return ModelSignature(inputs=Schema([ColSpec("string", "input_uri")]),
                          outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, dims))]),
                          params=ParamSchema([ParamSpec("batch_size", "long", batch_size)]))


def _check_output(output: Path, overwrite: bool) -> None:
    if output.is_symlink():
        raise InputError(f"output: '{output}' is a symbolic link; czbench writes a package only "
                         f"into a real folder (give the path it points to)")
    if not output.exists():
        return
    if not overwrite:
        raise InputError(f"output: '{output}' exists; pass overwrite=True (--overwrite) to "
                         f"replace it")
    if not output.is_dir() or (any(output.iterdir()) and not (output / "MLmodel").is_file()):
        raise InputError(f"output: '{output}' exists and is not an MLflow package; refusing "
                         f"to replace it")


def _dims(module: Any, datamodule: AnnDataModule) -> int:
    """Run ``embed`` on a few cells: the checkpoint, class and data agree, and the output
    width."""
    batch = datamodule.collate(list(range(min(8, datamodule.adata.n_obs))))
    try:
        with torch.no_grad():
            out = module.embed(batch)
    except Exception as err:
        raise InputError(f"module class: {type(module).__name__}.embed failed on this data: "
                         f"{type(err).__name__}: {' '.join(str(err).split())}") from None
    if getattr(out, "ndim", 0) != 2:
        raise InputError(f"module class: {type(module).__name__}.embed returned shape "
                         f"{tuple(getattr(out, 'shape', ()))}; expected (cells, dims)")
    return int(out.shape[1])


def package_model(checkpoint: str | Path, module_class: str | type, output: str | Path, *,
                  datamodule: AnnDataModule, overwrite: bool = False,
                  extra_pip_requirements: list[str] | None = None) -> Path:
    """Package a LightningModule checkpoint whose class has ``embed(batch)`` as an MLflow pyfunc
    at ``output``, with ``datamodule``'s preprocessing (see the module doc); returns ``output``.

    ``module_class``: the class, ``pkg.module:Class`` or ``path/to/file.py:Class``.
    """
    from czbench.models.mlflow_model import import_mlflow

    pyfunc = import_mlflow()
    checkpoint, output = Path(checkpoint).expanduser(), Path(output).expanduser()
    if not checkpoint.is_file():
        raise InputError(f"checkpoint: '{checkpoint}' does not exist")
    cls = resolve_class(module_class)
    location, code = class_location(cls)
    _check_output(output, overwrite)
    try:
        module = cls.load_from_checkpoint(str(checkpoint), map_location="cpu")
    except Exception as err:
        raise InputError(f"checkpoint: {cls.__qualname__}.load_from_checkpoint('{checkpoint}') "
                         f"failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}") \
            from None
    module.eval()
    config = {"module_class": location, **preprocessing(datamodule)}
    config["dims"] = _dims(module, datamodule)
    config["czbench_version"] = _version("czbench")
    if output.exists():  # replaced only now, once everything above has worked
        shutil.rmtree(output)
    with tempfile.TemporaryDirectory(prefix="czbench-package-") as tmp:
        record = Path(tmp) / CONFIG_FILE
        atomic_write_text(record, json.dumps(config, indent=1) + "\n")
        pyfunc.save_model(
            path=str(output), python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts={"checkpoint": str(checkpoint), "config": str(record)},
            signature=_signature(config["batch_size"], config["dims"]),
            input_example=pd.DataFrame({"input_uri": ["cells.h5ad"]}),
            pip_requirements=requirements(extra_pip_requirements),
            code_paths=code or None,
            metadata={"czbench": {"module_class": location, "normalize": config["normalize"],
                                  "n_genes": len(config["genes"]), "dims": config["dims"],
                                  "batch_size": config["batch_size"]}})
    return output


__all__ = ["RUNTIME_PACKAGES", "class_location", "package_model", "preprocessing",
           "requirements", "resolve_class"]
