"""MLflow packages: a trained checkpoint packaged, loaded with get_model("mlflow:..."), scored."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import lightning as L
import mlflow  # noqa: E402,F401  (the dev extra installs it: never skipped)
import numpy as np
import pytest
import torch
from helpers import load_script  # noqa: E402

from czbench.callbacks import BenchmarkCallback  # noqa: E402
from czbench.cli import main  # noqa: E402
from czbench.context import RunContext  # noqa: E402
from czbench.errors import InputError  # noqa: E402
from czbench.models import get_model  # noqa: E402
from czbench.models.mlflow_model import MLflowModel  # noqa: E402
from czbench.tasks import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "train_autoencoder.py"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """The example trained for two epochs, its best checkpoint packaged in ``out/model``."""
    example = load_script(EXAMPLE)
    out = tmp_path_factory.mktemp("mlflow")
    per_epoch, checkpoints = example.train(out, epochs=2, seed=0)
    path = example.package_best(out, checkpoints, per_epoch, example.MONITOR, seed=0)
    best = example.best_checkpoint(checkpoints, per_epoch, example.MONITOR)
    dm = example.datamodule(0)
    dm.setup()
    return {"example": example, "out": out, "checkpoints": checkpoints, "best": best,
            "path": path, "dm": dm, "val": np.sort(dm.split_indices["val"])}


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_package_scores_what_the_callback_scores_for_the_same_checkpoint(packaged):
    example, dm, val, best = (packaged[k] for k in ("example", "dm", "val", "best"))
    callback = BenchmarkCallback(example.TASKS, seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        default_root_dir=packaged["out"], enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[callback])
    trainer.validate(example.AutoEncoder(n_genes=dm.n_genes), datamodule=dm, ckpt_path=best,
                     verbose=False)
    expected = {(r.task, r.metric, json.dumps(r.params, sort_keys=True)): r.value
                for r in callback.results_}

    # the package embeds the validation cells (the callback's order: by row) from an .h5ad
    model = get_model(f"mlflow:{packaged['path']}")
    embedding = model.embed(dm.adata[val], seed=0)
    assert embedding.shape == (len(val), 16) and embedding.dtype == np.float32

    # ... as the checkpoint's own embed() does on the validation batches
    module = example.AutoEncoder.load_from_checkpoint(best, map_location="cpu").eval()
    with torch.no_grad():
        batches = list(dm.val_dataloader())
        direct = torch.cat([module.embed(b) for b in batches]).numpy()
    rows = torch.cat([b["index"] for b in batches]).numpy()
    direct = direct[np.argsort(rows)]
    embedding_diff = float(np.abs(embedding - direct).max())
    assert embedding_diff <= 1e-6

    # the tasks as the callback runs them: prepared on the dataset (batch_integration's
    # unintegrated PCA for pcr_comparison), the validation cells under their names
    obs = dm.adata.obs.iloc[val][["cell_type", "batch"]]
    got = {}
    for name in example.TASKS:
        task = get_task(name)
        state = task.prepare(dm.adata, RunContext(seed=0))
        for r in task.run(embedding, obs, context=RunContext(seed=0), prepared=state):
            got[(r.task, r.metric, json.dumps(r.params, sort_keys=True))] = r.value
    assert got.keys() == expected.keys()
    score_diff = max(abs(got[k] - expected[k]) for k in expected)
    print(f"\nmax |score difference| {score_diff:.3g}, max |embedding difference| "
          f"{embedding_diff:.3g}, over {len(expected)} scores")
    assert score_diff <= 1e-6, {k: (got[k], expected[k]) for k in expected}


def test_a_cell_is_embedded_the_same_whatever_else_is_in_the_file(packaged):
    """Counts are scaled to the training data's library size and genes are aligned by name."""
    dm, val = packaged["dm"], packaged["val"]
    model = MLflowModel(str(packaged["path"]))
    whole = model.embed(dm.adata, seed=0)
    part = model.embed(dm.adata[val], seed=0)
    np.testing.assert_allclose(part, whole[val], atol=1e-6, rtol=0)
    order = np.random.default_rng(0).permutation(dm.adata.n_vars)
    shuffled = model.embed(dm.adata[val][:, order], seed=0)
    np.testing.assert_allclose(shuffled, part, atol=1e-5, rtol=0)


def test_the_package_records_its_preprocessing_and_requirements(packaged):
    path, dm = packaged["path"], packaged["dm"]
    assert (path / "MLmodel").is_file()
    config = json.loads((path / "artifacts" / "czbench_package.json").read_text())
    assert config["module_class"] == "train_autoencoder:AutoEncoder"
    assert (path / "code" / "train_autoencoder.py").is_file()
    assert config["genes"] == [str(g) for g in dm.adata.var_names]
    assert config["normalize"] is True and config["batch_size"] == 64
    assert config["target_sum"] > 0 and config["dims"] == 16
    pins = (path / "requirements.txt").read_text().split()
    for name in ("czbench", "torch", "lightning", "anndata"):
        assert any(p.startswith(f"{name}==") for p in pins), pins
    mlmodel = (path / "MLmodel").read_text()
    assert '"name": "input_uri"' in mlmodel and '"float32"' in mlmodel


def test_identity_is_stable_and_follows_the_weights(packaged, tmp_path):
    first = MLflowModel(str(packaged["path"])).identity()
    again = get_model(f"mlflow:{packaged['path']}").identity()
    assert first == again and first["weights_sha256"]
    assert MLflowModel(packaged["path"].as_uri()).weights_sha256() == first["weights_sha256"]
    copy = tmp_path / "model"
    shutil.copytree(packaged["path"], copy)
    assert MLflowModel(str(copy)).weights_sha256() == first["weights_sha256"]
    (ckpt,) = (copy / "artifacts").glob("*.ckpt")
    other = next(c for c in packaged["checkpoints"] if c != packaged["best"])
    shutil.copyfile(other, ckpt)  # the same package with other weights
    changed = MLflowModel(str(copy)).identity()
    assert changed["weights_sha256"] != first["weights_sha256"]
    assert changed["sha256"] != first["sha256"]
    remote = MLflowModel("models:/autoencoder/1")  # not contacted: hashed by its URI
    assert remote.weights_sha256() == MLflowModel("models:/autoencoder/1").weights_sha256()


def test_bad_paths_and_a_missing_mlflow_are_one_line_errors(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError) as err:
        get_model(f"mlflow:{missing}")
    assert str(missing) in _one_line(err) and "does not exist" in str(err.value)
    with pytest.raises(InputError) as err:
        MLflowModel(str(tmp_path))
    assert "no MLmodel" in _one_line(err)
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    model = MLflowModel(str(tmp_path))
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    import anndata as ad

    with pytest.raises(InputError) as err:
        model.embed(ad.AnnData(np.ones((3, 2), dtype=np.float32)), seed=0)
    assert "czbench[mlflow]" in _one_line(err)


def test_cli_packages_a_checkpoint(packaged, tmp_path, capsys):
    output = tmp_path / "pkg"
    args = ["package-model", packaged["best"], "--module-class",
            f"{EXAMPLE}:AutoEncoder", "--dataset", "pbmc_3chemistries_symphony",
            "--normalize", "--batch-size", "64", "--output", str(output)]
    assert main(args) == 0
    assert (output / "MLmodel").is_file()
    dm, val = packaged["dm"], packaged["val"]
    cells = dm.adata[val]
    np.testing.assert_array_equal(MLflowModel(str(output)).embed(cells, seed=0),
                                  MLflowModel(str(packaged["path"])).embed(cells, seed=0))
    capsys.readouterr()
    assert main(args) == 2  # exists, no --overwrite
    assert main([*args, "--overwrite"]) == 0
    bad = {"--module-class": ["no.such.module:Class", "lightning:LightningModule"]}
    for value in bad["--module-class"]:
        capsys.readouterr()
        changed = [value if a == f"{EXAMPLE}:AutoEncoder" else a for a in args]
        assert main([*changed, "--overwrite"]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error:") and "\n" not in error, error
    capsys.readouterr()
    assert main(["package-model", str(tmp_path / "none.ckpt"), *args[2:], "--overwrite"]) == 2
    assert "none.ckpt" in capsys.readouterr().err


def test_telemetry_is_off_unless_the_user_says_otherwise(monkeypatch):
    from czbench.models.mlflow_model import TELEMETRY_VARIABLE, import_mlflow

    monkeypatch.delenv(TELEMETRY_VARIABLE, raising=False)
    import_mlflow()
    assert os.environ[TELEMETRY_VARIABLE] == "true"
    monkeypatch.setenv(TELEMETRY_VARIABLE, "false")
    import_mlflow()
    assert os.environ[TELEMETRY_VARIABLE] == "false"


def test_czbench_run_scores_a_package_by_its_mlflow_uri_and_caches_it(packaged, tmp_path,
                                                                      monkeypatch):
    import json

    from czbench.cli import main
    from czbench.context import RunContext
    from czbench.datasets import load
    from czbench.tasks import get_task

    monkeypatch.setenv("CZBENCH_CACHE", str(tmp_path / "cache"))
    spec = f"mlflow:{packaged['path']}"
    outputs = []
    for name in ("first.json", "again.json"):
        out = tmp_path / name
        assert main(["run", "--dataset", "pbmc_3chemistries_symphony", "--model", spec,
                     "--task", "embedding", "--seed", "0", "--output", str(out),
                     "--quiet"]) == 0
        outputs.append(json.loads(out.read_text()))
    first, again = (doc["embeddings"][0] for doc in outputs)
    assert first["source"] == spec and first["model"]["name"] == "mlflow"
    assert first["model"]["cached"] is False and again["model"]["cached"] is True
    assert first["sha256"] == again["sha256"]
    adata = load("pbmc_3chemistries_symphony")
    by_hand = get_task("embedding").run(get_model(spec).embed(adata, 0), adata.obs,
                                        context=RunContext(seed=0))
    got = {r["metric"]: r["value"] for r in outputs[0]["results"]}
    for result in by_hand:
        assert got[result.metric] == pytest.approx(result.value, abs=1e-9)
