"""``mlflow:PATH_OR_URI``: a model packaged as an MLflow pyfunc, run in the current environment.

The package follows the template of CZI's model packaging for the Virtual Cells Platform: its
``predict`` takes a pandas DataFrame with an ``input_uri`` column naming .h5ad files and returns
a cells x dims array. czbench writes the dataset to a temporary .h5ad (X, obs, var names and a
``counts`` layer where the dataset keeps its counts in one), calls ``predict`` and deletes the
file. The package is loaded with ``mlflow.pyfunc.load_model`` into this Python environment (what
``env_manager="local"`` means elsewhere in MLflow): nothing is installed, no server is needed for
a local folder. MLflow's telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY=true``) before
MLflow is first imported, and its artifact progress bars too (they would cut into czbench's own
progress display), unless those variables are already set.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

from czbench.errors import InputError
from czbench.models.base import Model, require
from czbench.utils.checks import check_number
from czbench.utils.hashing import sha256_file, sha256_parts

#: share of a package's training genes a dataset may lack (zero-filled) before it is an error
ALLOW_MISSING_GENES = 0.1

#: environment variable MLflow (>= 3.2) reads to switch its usage telemetry off
TELEMETRY_VARIABLE = "MLFLOW_DISABLE_TELEMETRY"
#: MLflow settings czbench makes before importing it (a user's own setting wins)
MLFLOW_DEFAULTS = {TELEMETRY_VARIABLE: "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def import_mlflow(who: str = "mlflow") -> Any:
    """``mlflow.pyfunc`` with telemetry off (a user's own setting wins), or a one-line error
    naming ``czbench[mlflow]``."""
    import importlib

    for name, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    require("mlflow", who, "mlflow")
    return importlib.import_module("mlflow.pyfunc")


def local_path(uri: str) -> Path | None:
    """The folder a local path or ``file:`` URI names; None for other schemes (``runs:``,
    ``models:``, ``s3:``...)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).expanduser()
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:2] == ":"):  # C:\ on Windows
        return Path(uri).expanduser()
    return None


def package_sha256(folder: Path) -> str:
    """sha256 over a package folder's files: their sorted relative paths and bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return sha256_parts([f"{p.relative_to(folder).as_posix()}:{sha256_file(str(p))}"
                         for p in files])


class MLflowModel(Model):
    """An MLflow pyfunc package (local folder, ``file:``, ``runs:`` or ``models:`` URI) whose
    ``predict(DataFrame({"input_uri": [h5ad]}))`` returns a cells x dims embedding."""

    name: ClassVar[str] = "mlflow"
    description: ClassVar[str] = ("an MLflow pyfunc package: input_uri DataFrame of .h5ad "
                                  "files -> cells x dims embedding")
    seeded: ClassVar[bool] = False
    extra: ClassVar[str | None] = "mlflow"

    def __init__(self, uri: str, allow_missing_genes: float = ALLOW_MISSING_GENES) -> None:
        if not isinstance(uri, str) or not uri.strip():
            raise InputError(f"model mlflow: expected a path or URI of an MLflow package, got "
                             f"{uri!r}")
        self.uri = uri
        self.allow_missing_genes = check_number(
            allow_missing_genes, "model mlflow: allow_missing_genes", 0.0, 1.0)
        self._inspected: tuple[int, dict[str, Any]] | None = None
        path = local_path(uri)
        if path is not None:
            if not path.exists():
                raise InputError(f"model mlflow: '{path}' does not exist (expected an MLflow "
                                 f"package folder with an MLmodel file)")
            if not (path / "MLmodel").is_file():
                raise InputError(f"model mlflow: '{path}' is not an MLflow package (it has no "
                                 f"MLmodel file)")
        self._path = path
        self._pyfunc: Any = None
        self._sha256: str | None = None

    def weights_sha256(self) -> str:
        """sha256 of a local package's files; of the URI string for a remote one."""
        if self._sha256 is None:
            self._sha256 = package_sha256(self._path) if self._path is not None \
                else sha256_parts(self.uri)
        return self._sha256

    def load(self) -> Any:
        """The loaded ``PyFuncModel`` (loaded once)."""
        if self._pyfunc is None:
            pyfunc = import_mlflow(self.name)
            uri = str(self._path) if self._path is not None else self.uri
            try:
                self._pyfunc = pyfunc.load_model(uri)
            except Exception as err:  # MlflowException, a missing module, a bad pickle...
                message = " ".join(str(err).split())[:300]
                raise InputError(f"model mlflow: could not load '{self.uri}': "
                                 f"{type(err).__name__}: {message}") from err
        return self._pyfunc

    def training_genes(self) -> list[str] | None:
        """The genes the package was trained on, when it records them (czbench packages do:
        ``config["genes"]`` of their python model); None otherwise."""
        try:
            inner = self.load().unwrap_python_model()
        except Exception:  # noqa: BLE001 - not a python-model package: nothing recorded
            return None
        genes = (getattr(inner, "config", None) or {}).get("genes")
        return [str(g) for g in genes] if isinstance(genes, list | tuple) else None

    def inspect(self, adata: Any) -> dict[str, Any]:
        """Check the dataset against the package before predicting: the share of its training
        genes the dataset lacks (they are zero-filled). Above ``allow_missing_genes``: a
        one-line error; above 0: a warning. Returns what to record
        (``{"missing_genes": {"n", "of", "fraction", "examples"}}``)."""
        import warnings

        from czbench.errors import CZBenchWarning

        if self._inspected is not None and self._inspected[0] == id(adata):
            return self._inspected[1]
        genes = self.training_genes()
        notes: dict[str, Any] = {}
        if genes:
            present = set(map(str, adata.var_names))
            missing = [g for g in genes if g not in present]
            fraction = len(missing) / len(genes)
            notes["missing_genes"] = {"n": len(missing), "of": len(genes),
                                      "fraction": round(fraction, 6), "examples": missing[:5]}
            if fraction > self.allow_missing_genes:
                raise InputError(
                    f"model mlflow: the dataset lacks {len(missing)} of the package's "
                    f"{len(genes)} training genes ({fraction:.1%}, e.g. "
                    f"{', '.join(missing[:3])}), above the {self.allow_missing_genes:.0%} "
                    f"allowed; they would be zeros. Check the gene names (same id type?) or "
                    f"accept with --allow-missing-genes {min(1.0, round(fraction + 5e-3, 2))}")
            if missing:
                warnings.warn(f"model mlflow: the dataset lacks {len(missing)} of the package's "
                              f"{len(genes)} training genes ({fraction:.1%}); they are zeros",
                              CZBenchWarning, stacklevel=2)
        self._inspected = (id(adata), notes)
        return notes

    def predict_file(self, path: str | Path) -> Any:
        """The package's output for one .h5ad file (a one-element list, as some packages return
        one array per file, is unwrapped); a ``predict`` that raises is a one-line error."""
        import pandas as pd

        from czbench.errors import CZBenchError, describe_error

        try:
            out = self.load().predict(pd.DataFrame({"input_uri": [str(path)]}))
        except CZBenchError as err:
            raise InputError(f"model mlflow: {self.uri}: {err}") from err
        except Exception as err:  # noqa: BLE001 - the package's own code
            message = " ".join(describe_error(err).split())[:300]
            raise InputError(f"model mlflow: {self.uri}: predict raised {message}") from err
        if isinstance(out, list | tuple) and len(out) == 1:
            out = out[0]
        return out

    def _embed(self, adata: Any, seed: int) -> Any:
        self.load()  # a package that cannot load fails before anything is written
        self.inspect(adata)  # missing training genes: checked before predicting
        if getattr(adata, "isbacked", False) and adata.filename is not None:
            return self.predict_file(adata.filename)  # the file itself: nothing to copy
        handle, name = tempfile.mkstemp(suffix=".h5ad", prefix="czbench-mlflow-")
        os.close(handle)
        try:
            _write_h5ad(adata, name)
            return self.predict_file(name)
        finally:
            Path(name).unlink(missing_ok=True)


def _write_h5ad(adata: Any, path: str) -> None:
    """X, obs, var names (and the counts, where a dataset keeps them in a layer) to ``path``."""
    import anndata as ad
    import pandas as pd

    meta = adata.uns.get("czbench", {})
    declared = meta.get("counts_layer") if isinstance(meta, dict) else None
    source = declared or ("counts" if "counts" in adata.layers else None)
    layers = {"counts": adata.layers[source]} if source and source in adata.layers else {}
    var = pd.DataFrame(index=pd.Index(adata.var_names.astype(str), name=None))
    obs = adata.obs.copy()
    obs.index = obs.index.astype(str)
    out = ad.AnnData(X=adata.X, obs=obs, var=var, layers=layers)
    try:
        out.write_h5ad(path)
    except Exception:  # obs columns h5ad cannot hold (mixed objects): the cells alone
        out.obs = pd.DataFrame(index=obs.index)
        out.write_h5ad(path)
