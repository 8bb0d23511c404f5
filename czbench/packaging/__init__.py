"""Packaging: a trained LightningModule checkpoint with ``embed(batch)`` as an MLflow package.

>>> from czbench.packaging import package_model
>>> package_model("epoch=5.ckpt", "mypkg.model:AutoEncoder", "runs/model",
...               datamodule=dm)                                       # doctest: +SKIP

The package follows the template of CZI's model packaging for the Virtual Cells Platform
(``predict(DataFrame({"input_uri": [h5ad]}))`` -> cells x dims) and is scored with
``czbench run --model mlflow:runs/model`` or ``get_model("mlflow:runs/model")``. Needs the
``czbench[mlflow]`` extra.
"""

from __future__ import annotations

from czbench.packaging.embedder import CONFIG_FILE, CheckpointEmbedder
from czbench.packaging.package import package_model, preprocessing, requirements, resolve_class

__all__ = ["CONFIG_FILE", "CheckpointEmbedder", "package_model", "preprocessing",
           "requirements", "resolve_class"]
