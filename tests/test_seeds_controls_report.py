"""Several seeds, control embeddings, normalised scores, the results schema and the report."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from PIL import Image

import czbench.datasets as ds
from czbench.baselines.controls import control_embeddings
from czbench.cli import main
from czbench.datasets.modalities import get_modality
from czbench.errors import InputError
from czbench.report import write_report
from czbench.run import benchmark, validate
from czbench.run.summary import summarize

FAST = {"label_prediction": {"classifiers": ("knn",)}}
BIO = [("clustering", "adjusted_rand_index"), ("clustering", "normalized_mutual_info"),
       ("embedding", "silhouette_score"), ("label_prediction", "mean_fold_accuracy"),
       ("label_prediction", "mean_fold_f1")]


@pytest.fixture(scope="module")
def three_seeds():
    return benchmark("pbmc_3chemistries_symphony", ["baseline:pca", "baseline:raw"],
                     seeds=[0, 1, 2], controls=True, task_options=FAST)


def test_three_seeds_report_mean_sd_and_raw_values(three_seeds):
    doc = three_seeds.document
    validate(doc)
    assert doc["seeds"] == [0, 1, 2]
    for row in doc["summary"]:
        raw = [r["value"] for r in doc["results"] if r["embedding"] == row["embedding"]
               and r["task"] == row["task"] and r["metric"] == row["metric"]
               and r["params"] == row["params"]]
        assert row["values"] == raw and row["seeds"] == [0, 1, 2] and row["n"] == 3
        assert row["mean"] == pytest.approx(statistics.fmean(raw), abs=1e-12)
        assert row["std"] == pytest.approx(statistics.stdev(raw), abs=1e-12)


def test_each_seed_equals_a_single_seed_run(three_seeds):
    single = benchmark("pbmc_3chemistries_symphony", ["baseline:pca"], ["clustering"], seed=1)
    expected = {r["metric"]: r["value"] for r in single.document["results"]}
    got = {r["metric"]: r["value"] for r in three_seeds.document["results"]
           if r["seed"] == 1 and r["embedding"] == "baseline:pca" and r["task"] == "clustering"}
    assert got == expected


def test_normalised_scores_follow_the_definition(three_seeds):
    summary = three_seeds.document["summary"]
    for row in summary:
        if row["embedding"] != "baseline:raw" or row["normalized"] is None:
            continue
        controls = [r["mean"] for r in summary if r["embedding"].startswith("control:")
                    and (r["task"], r["metric"], r["params"]) ==
                    (row["task"], row["metric"], row["params"])]
        expected = (row["mean"] - min(controls)) / (max(controls) - min(controls))
        assert row["normalized"] == pytest.approx(expected, abs=1e-12)
    aggregates = {a["embedding"]: a for a in three_seeds.document["aggregates"]}
    plain = {(r["embedding"], r["task"], r["metric"]): r["mean"] for r in summary
             if not r["params"]}
    pca_bio = [plain[("baseline:pca", t, m)] for t, m in BIO[:3]]
    pca_batch = [plain[("baseline:pca", "batch_integration", m)]
                 for m in ("entropy_per_cell", "batch_silhouette")]
    assert aggregates["baseline:pca"]["avg_bio"] == pytest.approx(np.mean(pca_bio))
    assert aggregates["baseline:pca"]["scib_overall"] == pytest.approx(
        0.6 * np.mean(pca_bio) + 0.4 * np.mean(pca_batch))
    assert aggregates["control:onehot"]["mean_normalized"] > 0.95
    assert aggregates["baseline:pca"]["mean_normalized"] > \
        aggregates["baseline:raw"]["mean_normalized"] > \
        aggregates["control:shuffled"]["mean_normalized"]


def test_lower_is_better_metrics_are_flipped():
    doc = {"results": [
        {"embedding": e, "seed": 0, "task": "t", "metric": "error", "value": v, "params": {},
         "higher_is_better": False}
        for e, v in (("control:a", 0.2), ("control:b", 0.6), ("model", 0.3))]}
    rows = {r["embedding"]: r for r in summarize(doc)["summary"]}
    assert rows["model"]["normalized"] == pytest.approx(0.75)
    assert rows["control:a"]["normalized"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", [n for n in ds.list() if "cell_type" in ds.info(n).columns
                                  and ds.info(n).modality != "sequence"])  # see test_sequence_*
def test_onehot_control_on_top_and_shuffled_at_the_bottom(name):
    result = benchmark(name, [], ["clustering", "embedding", "label_prediction"], seed=0,
                       controls=True, task_options=FAST)
    means = {(r["embedding"], r["task"], r["metric"]): r["mean"]
             for r in result.document["summary"]
             if not r["params"] or (r["params"]["classifier"].startswith("MEAN")
                                    and "grouped_by" not in r["params"])}
    # a modality's own controls (spatial: the coordinates) answer another question: whether
    # an embedding beats position alone; position can score below shuffled expression
    own = {f"control:{c}" for c in get_modality(ds.info(name).modality).controls}
    embeddings = {e for e, _, _ in means} - own
    assert {"control:onehot", "control:shuffled", "control:pca"} <= embeddings
    for task, metric in BIO:
        values = {e: means[(e, task, metric)] for e in embeddings}
        assert values["control:onehot"] == max(values.values()), (task, metric)
        # shuffling keeps no biology: at the bottom, level with random noise
        assert values["control:shuffled"] <= min(values.values()) + 0.05, (task, metric)
        assert values["control:shuffled"] < values["control:pca"] - 0.05, (task, metric)


def test_controls_are_seeded_and_need_labels():
    adata = ds.load("pbmc_3chemistries_symphony")
    a, b = control_embeddings(adata, seed=5), control_embeddings(adata, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    batches = adata.obs["batch"].to_numpy()
    within = a["control:shuffled_within_batch"]
    for batch in np.unique(batches):  # rows permuted within a batch only
        rows = batches == batch
        assert sorted(map(tuple, within[rows])) == sorted(map(tuple, a["control:pca"][rows]))
    with pytest.raises(InputError, match="label_key"):
        control_embeddings(adata, seed=0, label_key="nope")


def test_schema_rejects_a_broken_document(three_seeds):
    broken = json.loads(json.dumps(three_seeds.document))
    broken["results"][0]["value"] = "high"
    with pytest.raises(InputError, match="results/0/value"):
        validate(broken)


def test_cli_three_seeds_with_controls_prints_mean_sd_and_normalised(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", "lung_celllines_mixology", "--task",
                 "clustering,embedding,batch_integration", "--seeds", "0,1,2", "--controls",
                 "--output", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert " ± " in printed and "seeds 0,1,2" in printed and "AvgBIO" in printed
    assert "[" in printed.split("adjusted_rand_index")[1].splitlines()[0]  # normalised score
    validate(json.loads(out.read_text()))
    assert main(["run", "--seeds", "0,x", "--output", str(tmp_path / "x.json")]) == 2


def test_report_renders_two_embeddings(three_seeds, tmp_path, capsys):
    path = three_seeds.write_json(tmp_path / "run.json")
    assert main(["report", str(path), "--output", str(tmp_path / "report")]) == 0
    folder = tmp_path / "report"
    md = (folder / "report.md").read_text()
    assert "baseline:pca" in md and "baseline:raw" in md and " ± " in md
    for png in ("summary.png", "clustering.png", "embedding.png", "label_prediction.png",
                "batch_integration.png"):
        with Image.open(folder / png) as image:
            assert image.size[0] >= 400 and image.size[1] >= 250, png
            assert len(set(image.convert("L").getdata())) > 20  # not a blank canvas
    assert "<table" in (folder / "report.html").read_text()
    assert main(["report", str(path), "--output", str(folder)]) == 2  # never overwrites
    with pytest.raises(InputError, match="no 'results' list"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        write_report([bad], tmp_path / "r2")
