"""Hostile MLflow packages: a dataset lacking training genes (recorded; an error above the
allowed share, ``--allow-missing-genes`` to accept), a ``predict`` that raises (one line)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest
from hostile_helpers import assert_one_line_error, run_cli, small_files

mlflow = pytest.importorskip("mlflow")
from mlflow.pyfunc import PythonModel  # noqa: E402


class GenePanel(PythonModel):
    """Embeds the training genes' values present in the file (a czbench-like config)."""

    def __init__(self, genes: list[str], fail: bool = False) -> None:
        self.config = {"genes": genes}
        self.fail = fail

    def predict(self, context, model_input, params=None):
        if self.fail:
            raise RuntimeError("CUDA out of memory\nwhile embedding batch 3")
        adata = ad.read_h5ad(model_input["input_uri"].iloc[0])
        present = [g for g in self.config["genes"] if g in set(adata.var_names)]
        return np.asarray(adata[:, present].X, dtype=np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("packages")
    files = small_files(root)
    genes = list(ad.read_h5ad(files["small"]).var_names)  # 8 genes
    packages = {}
    for name, panel, fail in [("most_missing", genes[:6] + [f"x{i}" for i in range(54)], False),
                              ("few_missing", genes + ["x0"], False),
                              ("raises", genes, True)]:
        path = root / name
        mlflow.pyfunc.save_model(str(path), python_model=GenePanel(panel, fail))
        packages[name] = f"mlflow:{path}"
    return files, packages, root


def _run(setup, tmp_path, capsys, package, *extra):
    files, packages, _ = setup
    out = tmp_path / "out.json"
    argv = ["run", "--dataset", files["small"], "--model", packages[package], "--task",
            "embedding", "--output", str(out), "--quiet", "--no-cache", *extra]
    return (*run_cli(argv, capsys), out)


def test_missing_most_training_genes_is_an_error(setup, tmp_path, capsys):
    code, _, err, out = _run(setup, tmp_path, capsys, "most_missing")
    assert_one_line_error(code, err, r"model mlflow: the dataset lacks 54 of the package's 60 "
                                     r"training genes \(90.0%.*--allow-missing-genes 0.91")
    assert not out.exists()


def test_accepted_missing_genes_are_recorded(setup, tmp_path, capsys):
    code, _, err, out = _run(setup, tmp_path, capsys, "most_missing",
                             "--allow-missing-genes", "0.95")
    assert code == 0, err
    (entry,) = json.loads(out.read_text())["embeddings"]
    assert entry["model"]["missing_genes"]["n"] == 54
    assert entry["model"]["missing_genes"]["fraction"] == pytest.approx(0.9)


def test_a_few_missing_genes_warn_and_are_recorded(setup, tmp_path, capsys):
    code, stdout, err, out = _run(setup, tmp_path, capsys, "few_missing",
                                  "--allow-missing-genes", "0.2")  # 1 of 9: below 20%
    assert code == 0, err
    assert "lacks 1 of the package's 9 training genes" in " ".join((stdout + err).split())
    (entry,) = json.loads(out.read_text())["embeddings"]
    assert entry["model"]["missing_genes"]["examples"] == ["x0"]


def test_a_predict_that_raises_is_one_line(setup, tmp_path, capsys):
    code, _, err, out = _run(setup, tmp_path, capsys, "raises")
    assert_one_line_error(code, err, "model mlflow: .*raises: predict raised RuntimeError: "
                                     "CUDA out of memory")
    assert not out.exists()


def test_allow_missing_genes_without_a_package_is_one_line(setup, tmp_path, capsys):
    files, _, _ = setup
    code, _, err = run_cli(["run", "--dataset", files["small"], "--embedding", files["emb"],
                            "--output", str(tmp_path / "o.json"), "--allow-missing-genes",
                            "0.5"], capsys)
    assert_one_line_error(code, err, "--allow-missing-genes: applies to --model mlflow")
