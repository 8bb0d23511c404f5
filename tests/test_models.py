"""Models run by czbench: identity, output checks, the cache, and the front doors (the API's
``models=``, ``czbench run --model``), with a small model defined here."""

from __future__ import annotations

import json

import numpy as np
import pytest

import czbench
import czbench.datasets as ds
from czbench.cli import main
from czbench.errors import CZBenchWarning, InputError
from czbench.models import Model, cache_dir, embed_cached, get_model, register_model
from czbench.models.base import require
from czbench.models.registry import unregister_model

DATASET = "lung_celllines_mixology"


class Projection(Model):
    """A seeded Gaussian random projection of log1p counts (a stand-in for a real model)."""

    name = "projection"
    description = "random projection of log1p counts"

    def __init__(self, *, dims: int = 8, broken: str | None = None) -> None:
        self.dims = dims
        self.broken = broken
        self.calls = 0

    def params(self):
        return {"dims": self.dims, "broken": self.broken}

    def _embed(self, adata, seed):
        self.calls += 1
        x = np.log1p(np.asarray(adata.X.todense() if hasattr(adata.X, "todense") else adata.X))
        out = x @ np.random.default_rng(seed).normal(size=(x.shape[1], self.dims))
        if self.broken == "rows":
            return out[:-1]
        if self.broken == "nan":
            out[3, 0] = np.nan
        return out


@pytest.fixture(autouse=True)
def registered(tmp_path, monkeypatch):
    monkeypatch.setenv("CZBENCH_CACHE", str(tmp_path / "cache"))
    register_model("projection", Projection, replace=True)
    yield
    unregister_model("projection")


@pytest.fixture(scope="module")
def lung():
    return ds.load(DATASET)


def test_identity_is_stable_and_follows_the_parameters():
    a, b = get_model("projection").identity(), get_model("model:projection").identity()
    assert a == b and len(a["sha256"]) == 64 and a["params"] == {"dims": 8, "broken": None}
    assert get_model("projection", dims=4).identity()["sha256"] != a["sha256"]


def test_outputs_are_checked_with_the_models_name(lung):
    with pytest.raises(InputError, match=r"^model projection: output has 1020 rows but the "
                                         r"dataset has 1021 cells$"):
        get_model("projection", broken="rows").embed(lung, 0)
    with pytest.raises(InputError, match="model projection: output has NaN or infinite values "
                                         "in 1 cells"):
        get_model("projection", broken="nan").embed(lung, 0)
    with pytest.raises(InputError, match="unknown model 'nope'"):
        get_model("nope")
    with pytest.raises(InputError, match=r"pip install 'czbench\[methods\]'"):
        require("czbench_no_such_package", "harmony", "methods")


def test_the_cache_is_keyed_by_identity_dataset_and_seed(lung, tmp_path):
    model = Projection()
    first = embed_cached(model, lung, 0)
    assert model.calls == 1 and cache_dir() == tmp_path / "cache"
    np.testing.assert_array_equal(embed_cached(model, lung, 0), first)
    assert model.calls == 1  # read back
    embed_cached(model, lung, 1)
    embed_cached(Projection(dims=4), lung, 0)
    assert len(list(cache_dir().glob("projection-*.npz"))) == 3
    for path in cache_dir().glob("*.npz"):
        path.write_bytes(b"damaged")
    with pytest.warns(CZBenchWarning, match="unreadable"):
        np.testing.assert_array_equal(embed_cached(model, lung, 0), first)  # recomputed
    assert model.calls == 3
    embed_cached(model, lung, 0, use_cache=False)
    assert model.calls == 4


def test_benchmark_with_models_records_identity_timing_and_cache(lung):
    first = czbench.benchmark(lung, ["baseline:pca"], ["embedding"], models=["projection"],
                              seeds=[0, 1])
    entries = {(e["source"], e["seed"]): e for e in first.document["embeddings"]}
    assert set(entries) == {("baseline:pca", 0), ("baseline:pca", 1), ("model:projection", 0),
                            ("model:projection", 1)}
    entry = entries[("model:projection", 0)]
    assert entry["role"] == "model" and entry["model"]["name"] == "projection"
    assert entry["model"]["cached"] is False and entry["timings_s"]["model"] >= 0
    again = czbench.benchmark(lung, ["baseline:pca"], ["embedding"], models=["projection"],
                              seeds=[0, 1])
    cached = {(e["source"], e["seed"]): e for e in again.document["embeddings"]}
    assert cached[("model:projection", 1)]["model"]["cached"] is True
    rows = lambda doc: [(r["embedding"], r["seed"], r["metric"], r["value"])  # noqa: E731
                        for r in doc["results"]]
    assert rows(first.document) == rows(again.document)
    # by hand: the task on the model's own output gives the same number
    direct = czbench.benchmark(lung, {"mine": Projection().embed(lung, 1)}, ["embedding"],
                               seed=1)
    value = lambda doc, src: next(r["value"] for r in doc["results"]  # noqa: E731
                                  if r["embedding"] == src and r["seed"] == 1
                                  and r["metric"] == "silhouette_score")
    assert value(first.document, "model:projection") == value(direct.document, "mine")


def test_cli_model_flag_mixes_with_embeddings_and_no_cache(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--dataset", DATASET, "--model", "projection", "--model",
                 "baseline:pca", "--task", "embedding", "--output", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert [e["source"] for e in doc["embeddings"]] == ["model:projection", "baseline:pca"]
    assert main(["run", "--dataset", DATASET, "--model", "projection", "--no-cache",
                 "--task", "embedding", "--output", str(out), "--overwrite", "--quiet"]) == 0
    assert json.loads(out.read_text())["embeddings"][0]["model"]["cached"] is False
    assert main(["run", "--dataset", DATASET, "--model", "nope", "--output",
                 str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: model: unknown model 'nope'") and "\n" not in err
    assert not (tmp_path / "x.json").exists()
    assert main(["list", "models"]) == 0
    listed = capsys.readouterr().out
    assert "harmony" in listed and "czbench[methods]" in listed


def test_harmony_beats_pca_on_batch_mixing_from_the_cli(tmp_path):
    """The issue's acceptance command (two batch metrics, to keep it quick)."""
    out = tmp_path / "harmony.json"
    assert main(["run", "--dataset", "pbmc_3chemistries_symphony", "--model", "harmony",
                 "--model", "baseline:pca", "--task", "batch_integration", "--option",
                 "batch_integration.metrics=entropy_per_cell,batch_silhouette", "--output",
                 str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    value = {(r["embedding"], r["metric"]): r["value"] for r in doc["results"]}
    assert value[("model:harmony", "entropy_per_cell")] > \
        value[("baseline:pca", "entropy_per_cell")] + 0.1
    entry = next(e for e in doc["embeddings"] if e["source"] == "model:harmony")
    assert entry["model"]["params"]["theta"] == 2.0 and entry["shape"] == [1200, 50]


def test_a_model_instance_is_embedded_scored_and_its_origin_recorded(lung):
    """benchmark(models=[instance]) used to fail before the model ran (the instance has no
    spec string); its origin is the registry's when its class is the registered one."""
    result = czbench.benchmark(lung, models=[Projection(dims=6)], tasks=["embedding"],
                               use_cache=False)
    result = result[0] if isinstance(result, list) else result
    entry = result.document["embeddings"][0]
    assert entry["shape"] == [lung.n_obs, 6] and entry["model"]["params"]["dims"] == 6
    assert result.document["origins"]["models"]["projection"]["source"] == "registered"

    class Other(Projection):
        """Another class under the registered name."""

    result = czbench.benchmark(lung, models=[Other()], tasks=["embedding"], use_cache=False)
    result = result[0] if isinstance(result, list) else result
    assert result.document["origins"]["models"]["projection"]["source"] == "unregistered"
