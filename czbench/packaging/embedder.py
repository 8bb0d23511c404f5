"""``CheckpointEmbedder``: the MLflow ``PythonModel`` inside a package made by
:func:`czbench.packaging.package_model`.

It loads a LightningModule checkpoint (``module_class.load_from_checkpoint``, on the CPU, in
eval mode) and embeds .h5ad files with the preprocessing the model was trained with: an
:class:`~czbench.datamodules.AnnDataModule` over each file with the recorded ``normalize``,
``genes`` (new data is aligned by gene name; genes it lacks are zero columns) and
``batch_size``, normalising counts to the training data's library size (``target_sum``) so a
cell's embedding does not depend on the other cells in the file.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from czbench.datamodules import AnnDataModule
from czbench.errors import InputError
from czbench.models.mlflow_model import import_mlflow, local_path

import_mlflow()
from mlflow.pyfunc import PythonModel  # noqa: E402  (telemetry is off before this import)

#: the package's preprocessing record (an artifact, JSON)
CONFIG_FILE = "czbench_package.json"


def import_class(path: str) -> type:
    """The class a ``module:Qualified.Name`` path names."""
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _local(uri: str) -> str:
    path = local_path(uri)
    if path is None:
        raise InputError(f"input_uri: only local .h5ad files (paths or file: URIs) are "
                         f"supported, got '{uri}'")
    return str(path)


class CheckpointEmbedder(PythonModel):
    """``predict(DataFrame({"input_uri": [h5ad, ...]}))`` -> float32 (cells x dims), the cells
    of every file in order, embedded by the checkpoint's ``embed(batch)``."""

    def load_context(self, context: Any) -> None:
        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.config = config
        cls = import_class(config["module_class"])
        module = cls.load_from_checkpoint(context.artifacts["checkpoint"], map_location="cpu")
        module.eval()
        self.module = module

    def embed_file(self, path: str, batch_size: int | None = None) -> np.ndarray:
        """The embedding of one .h5ad file's cells, in file order."""
        config = self.config
        dm = AnnDataModule(_local(path), normalize=config["normalize"], genes=config["genes"],
                           target_sum=config.get("target_sum") if config["normalize"] else None,
                           batch_size=int(batch_size or config["batch_size"]))
        device = next(iter(self.module.parameters()), torch.zeros(0)).device
        parts = []
        with torch.no_grad():
            for batch in dm.predict_dataloader():
                batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
                parts.append(self.module.embed(batch).detach().float().cpu().numpy())
        dims = config.get("dims") or 0
        return np.concatenate(parts) if parts else np.zeros((0, dims), dtype=np.float32)

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> np.ndarray:
        if isinstance(model_input, pd.DataFrame):
            if "input_uri" not in model_input:
                raise InputError("model_input: expected a DataFrame with an 'input_uri' column "
                                 "naming .h5ad files")
            uris = [str(u) for u in model_input["input_uri"]]
        elif isinstance(model_input, str):
            uris = [model_input]
        else:
            uris = [str(u) for u in model_input]
        batch_size = (params or {}).get("batch_size")
        arrays = [self.embed_file(uri, batch_size) for uri in uris]
        return np.concatenate(arrays).astype(np.float32, copy=False)
