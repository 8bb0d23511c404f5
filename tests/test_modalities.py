"""A second modality: the Cell Painting plate through the registry, baselines, tasks, the CLI,
the DataModule with the callback, the estimators and the report."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import FrozenProjection
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import czbench.datasets as ds
from czbench.baselines import baseline
from czbench.callbacks import BenchmarkCallback
from czbench.cli import main
from czbench.context import RunContext
from czbench.datamodules import AnnDataModule
from czbench.datasets.modalities import Modality
from czbench.errors import InputError
from czbench.estimators import LabelPredictionBenchmark, ReplicateRetrievalBenchmark
from czbench.tasks import get_task

PLATE = "lincs_cellpainting_a549_1plate_cytominereval"


@pytest.fixture(scope="module")
def plate():
    return ds.load(PLATE)


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# -- registry --------------------------------------------------------------------------------
def test_the_plate_is_registered_as_morphology_with_both_licences(plate):
    info = ds.info(PLATE)
    assert (info.modality, info.rows, info.n_cells, info.n_genes) == \
        ("morphology", "well", 384, 454)
    assert "CC0" in info.licence and "research use" in info.licence
    meta = plate.uns["czbench"]
    assert meta["modality"] == "morphology" and meta["row_unit"] == "well"
    assert ds.modality_of(plate).counts is False
    assert (plate.obs["condition"] == plate.obs["compound"]).all()
    assert int(plate.obs["cell_type"].isna().sum()) == 42  # DMSO + 3 unannotated compounds
    page = info.path().with_suffix(".md").read_text()
    assert "CC0 1.0" in page and "research use" in page


def test_list_commands_show_modality_rows_and_licence(capsys):
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for needle in ("lincs_cellpainting", "morphology", "384 wells", "CC0"):
        assert needle in out, needle
    assert main(["list", "modalities"]) == 0
    out = capsys.readouterr().out
    assert "transcriptomics" in out and "image feature" in out
    assert main(["list", "baselines"]) == 0
    assert "needs raw counts" in capsys.readouterr().out


def test_modality_registry_refuses_bad_entries():
    spatial = Modality("spatial_test", "spots", row_unit="spot", feature_unit="gene",
                       counts=True, tasks=("clustering",))
    ds.register_modality(spatial)
    try:
        assert "spatial_test" in ds.list_modalities()
        with pytest.raises(InputError, match="already registered"):
            ds.register_modality(Modality("spatial_test", "x", "spot", "gene", True, ()))
    finally:
        ds.unregister_modality("spatial_test")
    with pytest.raises(InputError, match="modality: expected one of"):
        ds.get_modality("imaging")
    with pytest.raises(InputError, match="modality: dataset .* is morphology data"):
        ds.load(PLATE, modality="transcriptomics")


# -- baselines -------------------------------------------------------------------------------
def test_pca_baseline_on_morphology_is_the_pca_of_the_features(plate):
    mine = baseline("pca", plate, seed=0)
    reference = PCA(n_components=50, svd_solver="full").fit_transform(np.asarray(plate.X,
                                                                                 np.float64))
    assert mine.shape == (384, 50)
    a, b = mine[:, :20].astype(np.float64), reference[:, :20]
    # the same variance along each component (the eigenvalues), to float32 precision
    np.testing.assert_allclose(a.var(axis=0), b.var(axis=0), rtol=1e-4)
    # the same 20-dimensional subspace. Components of near-equal variance can rotate within
    # their eigenspace with the rounding of another thread count (docs/reproducibility.md:
    # components 9 and 10 here move by up to 7e-3 under OMP_NUM_THREADS=1); their span does not
    coef = np.linalg.lstsq(b, a, rcond=None)[0]
    assert np.linalg.norm(a - b @ coef) / np.linalg.norm(a) < 1e-4
    # and the well-separated leading components column by column (defined up to sign)
    signs = np.sign((a * b).sum(axis=0))
    np.testing.assert_allclose(a[:, :5] * signs[:5], b[:, :5], atol=2e-3)
    np.testing.assert_array_equal(baseline("raw", plate, seed=0), np.asarray(plate.X))


def test_counts_based_baselines_and_normalisation_are_refused_with_the_reason(plate, capsys):
    _one_line_error(capsys, ["run", "--dataset", PLATE, "--task", "embedding", "--embedding",
                             "baseline:ortholog_pca", "--output", "unused.json"],
                    "baseline:ortholog_pca: needs raw transcript counts", "morphology",
                    "wells x image features")
    with pytest.raises(InputError, match="normalize: needs raw transcript counts"):
        AnnDataModule(PLATE, normalize=True).setup()


# -- tasks -----------------------------------------------------------------------------------
def test_missing_labels_error_names_the_option_and_drop_equals_the_labelled_subset(plate):
    x = np.asarray(plate.X)
    with pytest.raises(InputError, match="missing_labels=drop"):
        get_task("embedding").evaluate(x, plate.obs)
    labelled = plate.obs["cell_type"].notna().to_numpy()
    for name in ("embedding", "clustering"):
        dropped = get_task(name, missing_labels="drop").evaluate(x, plate.obs,
                                                                 context=RunContext(seed=1))
        subset = get_task(name).evaluate(x[labelled], plate.obs[labelled],
                                         context=RunContext(seed=1))
        assert dropped.resolved["n_rows_missing_labels"] == 42
        assert [r.value for r in dropped.results] == [r.value for r in subset.results]
    as_tensor = get_task("embedding", missing_labels="drop").run(torch.from_numpy(x),
                                                                 plate.obs)
    assert [r.value for r in as_tensor] == pytest.approx(
        [r.value for r in get_task("embedding").run(x[labelled], plate.obs[labelled])],
        abs=1e-6)


def _confounded(seed=0, n_groups=12, per_group=10):
    """Labels that only a group's own offset reveals: a group is one label, so recognising
    the group predicts the label, and nothing transfers to unseen groups."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    labels = groups % 3
    x = rng.normal(size=(len(groups), 8)) + rng.normal(0, 4, (n_groups, 8))[groups]
    obs = pd.DataFrame({"cell_type": labels.astype(str), "group": groups.astype(str)})
    return x, obs


def test_grouped_folds_keep_groups_whole_and_match_scikit_learn():
    x, obs = _confounded()
    task = get_task("label_prediction", group_key="group", classifiers=("lr",))
    run = task.evaluate(x, obs, context=RunContext(seed=4))
    values = {(r.metric, r.params.get("grouped_by")): r.value for r in run.results
              if r.params["classifier"] == "lr"}
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=4).split(
        x, obs["cell_type"], obs["group"])
    accuracy = []
    for train, test in folds:
        assert not set(obs["group"].iloc[train]) & set(obs["group"].iloc[test])
        model = Pipeline([("s", StandardScaler(with_mean=False)), ("lr", LogisticRegression())])
        model.fit(x[train], obs["cell_type"].iloc[train])
        accuracy.append(float((model.predict(x[test]) == obs["cell_type"].iloc[test]).mean()))
    assert values[("mean_fold_accuracy", "group")] == pytest.approx(np.mean(accuracy),
                                                                    abs=1e-12)
    assert values[("mean_fold_accuracy", None)] > 0.9  # the groups are recognised ...
    assert values[("mean_fold_accuracy", "group")] < 0.6  # ... and the label does not transfer
    assert run.resolved["n_groups"] == 12


def test_group_key_errors():
    x, obs = _confounded(n_groups=4)
    with pytest.raises(InputError, match="group_key: 4 groups .* fewer than n_folds=5"):
        get_task("label_prediction", group_key="group").run(x, obs)
    with pytest.raises(InputError, match="group_key: task 'label_prediction' needs obs column "
                                         "'nope'"):
        get_task("label_prediction", group_key="nope").run(x, obs)


# -- front doors -----------------------------------------------------------------------------
def test_the_default_run_on_the_plate(tmp_path):
    out = tmp_path / "plate.json"
    assert main(["run", "--dataset", PLATE, "--output", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["dataset"]["modality"] == "morphology" and doc["dataset"]["row_unit"] == "well"
    assert [e["source"] for e in doc["embeddings"]] == ["baseline:raw", "baseline:pca"]
    assert set(doc["tasks"]) == {"replicate_retrieval", "clustering", "embedding",
                                 "label_prediction"}  # no batch column: one plate
    assert doc["tasks"]["replicate_retrieval"]["perturbation_key"] == "compound"
    assert doc["tasks"]["label_prediction"]["group_key"] == "compound"
    rows = {(r["embedding"], r["task"], r["metric"], json.dumps(r["params"])): r["value"]
            for r in doc["results"]}
    raw_map = rows[("baseline:raw", "replicate_retrieval", "mean_average_precision", "{}")]
    assert raw_map == pytest.approx(0.618, abs=5e-4)  # the dataset page's own check
    per_compound = [k for k in rows if k[0] == "baseline:raw" and "perturbation" in k[3]]
    assert len(per_compound) == 58
    grouped = json.dumps({"classifier": "MEAN(knn,lr,rf)", "grouped_by": "compound"})
    plain = json.dumps({"classifier": "MEAN(knn,lr,rf)"})
    for source in ("baseline:raw", "baseline:pca"):  # MOA recognition mostly recognises the
        # compound: it falls to near chance when the compound is held out
        assert rows[(source, "label_prediction", "mean_fold_accuracy", plain)] > \
            rows[(source, "label_prediction", "mean_fold_accuracy", grouped)] + 0.3
    resolved = next(e for e in doc["embeddings"] if e["source"] == "baseline:raw")
    assert resolved["resolved"]["label_prediction"]["n_rows_missing_labels"] == 42
    assert main(["report", str(out), "--output", str(tmp_path / "report")]) == 0
    assert "| morphology | 384 wells | 454 |" in (tmp_path / "report" / "report.md").read_text()


def test_a_users_morphology_file_with_modality(tmp_path, plate):
    mine = plate[:, :100].copy()
    mine.obs = plate.obs[["compound"]].copy()
    mine.uns = {}
    path = tmp_path / "wells.h5ad"
    mine.write_h5ad(path)
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", str(path), "--modality", "morphology", "--task",
                 "replicate_retrieval", "--option", "replicate_retrieval.perturbation_key="
                 "compound", "--output", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["dataset"]["modality"] == "morphology"
    assert [e["source"] for e in doc["embeddings"]] == ["baseline:raw", "baseline:pca"]


def test_estimators_on_the_plate(plate):
    x = np.asarray(plate.X)
    retrieval = ReplicateRetrievalBenchmark(random_state=0).fit(x, plate.obs["compound"])
    task = get_task("replicate_retrieval", perturbation_key="compound").run(
        x, plate.obs, context=RunContext(seed=0))
    assert retrieval.score_ == next(r.value for r in task if r.metric ==
                                    "mean_average_precision" and not r.params)
    assert retrieval.score(x, plate.obs["compound"]) == retrieval.score_
    shuffled = np.random.default_rng(0).permutation(plate.obs["compound"].to_numpy())
    assert retrieval.score(x, shuffled) < retrieval.score_ - 0.2
    labelled = plate.obs["cell_type"].notna().to_numpy()
    moa = LabelPredictionBenchmark(random_state=0).fit(x[labelled],
                                                       plate.obs["cell_type"][labelled])
    assert len(moa.classes_) == 7  # the MOAs with >= 10 wells
    mean = moa.results_[(moa.results_["metric"] == "mean_fold_accuracy") &
                        (moa.results_["params"].astype(str).str.contains("MEAN"))]
    assert 0.5 < float(mean["value"].iloc[0]) <= 1.0


def test_callback_through_the_datamodule_on_the_features(plate, tmp_path):
    dm = AnnDataModule(PLATE, split_fractions=(0.0, 1.0, 0.0), batch_size=64)
    dm.setup()
    assert {"cell_type", "condition", "compound"} <= set(dm.obs_keys)
    batch = next(iter(dm.val_dataloader()))
    np.testing.assert_array_equal(batch["x"].numpy(), np.asarray(plate.X)[batch["index"]])
    callback = BenchmarkCallback(["replicate_retrieval", "label_prediction"], seed=0)
    model = FrozenProjection(454)
    trainer = L.Trainer(callbacks=[callback], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.validate(model, datamodule=dm, verbose=False)
    options = {t.name: t.options() for t in callback.tasks}
    assert options["replicate_retrieval"]["perturbation_key"] == "compound"
    assert options["label_prediction"]["missing_labels"] == "drop"
    rows = np.sort(dm.split_indices["val"])
    with torch.no_grad():
        embedding = model.proj(torch.from_numpy(np.asarray(plate.X)[rows])).numpy()
    obs = plate.obs.iloc[rows]
    expected = {}
    for task in callback.tasks:
        for r in task.clone().run(embedding, obs, context=RunContext(seed=0)):
            expected[callback.log_name(r)] = r.value
    got = {callback.log_name(r): r.value for r in callback.results_}
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-5), name
    assert callback.document_["dataset"]["modality"] == "morphology"


def test_the_add_a_modality_code_in_the_docs_runs(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "modalities.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    try:
        for block in blocks:
            exec(compile(block, "docs/modalities.md", "exec"), {})
    finally:
        ds.unregister_modality("visium")
    out = capsys.readouterr().out
    assert "visium spot" in out and "clustering" in out


def test_tasks_dropping_the_same_rows_share_one_knn_graph_on_those_rows(plate):
    """One graph per (input, rows scored): clustering and embedding on the plate's labelled
    wells build it once, and score exactly what each task computes on its own."""
    from czbench.run.score import score_input

    x = np.asarray(plate.X)
    tasks = [get_task("clustering", missing_labels="drop"),
             get_task("embedding", missing_labels="drop", metrics=("silhouette_score",
                                                                   "clisi_knn"))]
    records = score_input(x, plate.obs, tasks, RunContext(seed=0))
    built = [r["neighbors"] for r in records if r["neighbors"]]
    assert len(built) == 1 and built[0]["k"] == max(t.knn_k for t in tasks)
    for task, record in zip(tasks, records, strict=True):
        alone = task.clone().run(x, plate.obs, context=RunContext(seed=0))
        assert [r["value"] for r in record["results"]] == [r.value for r in alone]
