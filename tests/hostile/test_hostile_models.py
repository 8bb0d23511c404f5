"""Hostile inputs on models and their cache: the cache key is everything an output depends on,
entries are checksummed, names are never paths, and a model's output is aligned and checked as
an embedding is (docs/models.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import czbench
from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import CZBenchWarning, InputError
from czbench.models import Model, cache_dir, embed_cached
from czbench.models.cache import cached_embedding

N = 160


class BatchMeans(Model):
    """Each cell's features minus its batch's mean (reads obs['batch'], like Harmony)."""

    name = "batch_means"
    seeded = False

    def __init__(self, *, shape: str = "array", scale: float = 1.0) -> None:
        self.shape = shape
        self.scale = scale
        self.calls = 0

    def _embed(self, adata, seed):
        self.calls += 1
        x = np.asarray(adata.X, dtype=np.float64)
        batch = adata.obs["batch"].astype(str).to_numpy()
        out = x.copy()
        for b in np.unique(batch):
            out[batch == b] -= x[batch == b].mean(axis=0)
        out *= self.scale
        if self.shape == "frame":  # rows shuffled, indexed by cell name
            order = np.random.default_rng(0).permutation(adata.n_obs)
            return pd.DataFrame(out[order], index=adata.obs_names[order])
        if self.shape == "frame_unnamed":
            return pd.DataFrame(out)
        return out


@pytest.fixture
def adata(tmp_path, monkeypatch):
    monkeypatch.setenv("CZBENCH_CACHE", str(tmp_path / "cache"))
    data = gaussian_mixture(N, 6, n_types=4, n_batches=2, seed=1)
    data.obs_names = [f"cell{i}" for i in range(N)]
    data.uns["czbench"]["sha256"] = "0" * 64  # as a registered dataset records it
    return data


def test_another_batch_column_misses_the_cache(adata):
    model = BatchMeans()
    first = embed_cached(model, adata, 0)
    other = adata.copy()
    other.obs["batch"] = other.obs["cell_type"].astype(str)  # what --batch-key cell_type does
    second = embed_cached(model, other, 0)
    assert model.calls == 2 and not np.allclose(first, second)
    np.testing.assert_array_equal(embed_cached(model, adata, 0), first)
    assert model.calls == 2


def test_an_upgrade_of_the_code_or_a_version_misses_the_cache(adata, monkeypatch):
    model = BatchMeans()
    embed_cached(model, adata, 0)
    assert "czbench" in model.identity()["code"]["versions"]
    monkeypatch.setattr(czbench, "__version__", "99.0")
    embed_cached(model, adata, 0)
    assert model.calls == 2


def test_harmony_identity_names_harmonypy_and_its_source():
    pytest.importorskip("harmonypy")
    code = czbench.models.get_model("harmony").identity()["code"]
    assert code["class"].endswith("Harmony") and len(code["source_sha256"]) == 64
    assert code["versions"].get("harmonypy")


@pytest.mark.parametrize("damage", ["swapped", "edited", "garbage"])
def test_a_replaced_or_edited_entry_is_recomputed_with_a_warning(adata, damage):
    model = BatchMeans()
    first = embed_cached(model, adata, 0)
    other = BatchMeans(scale=2.0)
    embed_cached(other, adata, 0)
    mine, theirs = sorted(cache_dir().glob("*.npz"), key=lambda p: p.stat().st_mtime_ns)
    if damage == "swapped":
        mine.write_bytes(theirs.read_bytes())
    elif damage == "edited":
        with np.load(mine) as entry:
            values, meta = entry["values"] * 2, entry["meta"]
        with open(mine, "wb") as fh:
            np.savez(fh, values=values, meta=meta)
    else:
        mine.write_bytes(b"garbage")
    with pytest.warns(CZBenchWarning, match="model cache: .*recomputing"):
        again, hit = cached_embedding(model, adata, 0)
    np.testing.assert_array_equal(again, first)
    assert not hit and model.calls == 2
    np.testing.assert_array_equal(embed_cached(model, adata, 0), first)  # replaced: a hit now
    assert model.calls == 2


def test_a_model_name_is_never_a_path(adata, tmp_path):
    class Escaper(BatchMeans):
        name = "../../escaped"

    embed_cached(Escaper(), adata, 0)
    entries = list(cache_dir().iterdir())
    assert len(entries) == 1 and entries[0].parent == cache_dir()
    assert not list(tmp_path.glob("escaped*")) and entries[0].name.startswith("escaped-")


def test_a_link_at_an_entry_is_refused(adata, tmp_path):
    model = BatchMeans()
    embed_cached(model, adata, 0)
    (entry,) = cache_dir().glob("*.npz")
    target = tmp_path / "users_file"
    target.write_text("precious")
    entry.unlink()
    entry.symlink_to(target)
    with pytest.raises(InputError, match="model cache: .* not a regular file"):
        embed_cached(model, adata, 0)
    assert target.read_text() == "precious"


def test_a_dataframe_output_is_aligned_by_cell_name(adata):
    plain = BatchMeans().embed(adata, 0)
    np.testing.assert_array_equal(BatchMeans(shape="frame").embed(adata, 0), plain)
    with pytest.raises(InputError, match=r"model batch_means \(DataFrame\) index does not "
                                         r"match the dataset's cell names"):
        BatchMeans(shape="frame_unnamed").embed(adata, 0)


def test_a_tiny_float64_output_scores_as_the_same_embedding(adata):
    tiny = BatchMeans(scale=1e-44)
    values = BatchMeans().embed(adata, 0) * 1e-44
    assert tiny.embed(adata, 0).dtype == np.float64
    result = czbench.benchmark(adata, {"array": values}, ["embedding"], models=[tiny],
                               use_cache=False)
    scores: dict[str, list[float]] = {}
    for row in result.document["results"]:
        scores.setdefault(row["embedding"], []).append(row["value"])
    assert len(scores["array"]) == 3 and scores["array"] == scores["model:batch_means"]


def test_a_model_cannot_take_the_place_of_a_users_array(adata):
    values = BatchMeans().embed(adata, 0)
    with pytest.raises(InputError, match="models: 'model:batch_means' is also a key"):
        czbench.benchmark(adata, {"model:batch_means": values}, ["embedding"],
                          models=[BatchMeans()])


@pytest.mark.parametrize("option,words", [
    ("clustering.resolution=-1", "resolution: expected a number > 0.0"),
    ("replicate_retrieval.null_size=5", "null_size: 5 random rankings"),
])
def test_task_options_are_checked_before_a_model_runs(adata, tmp_path, capsys, option, words):
    from czbench.cli import main
    from czbench.models import register_model
    from czbench.models.registry import unregister_model

    calls = []

    class Counted(BatchMeans):
        name = "counted"

        def _embed(self, adata, seed):
            calls.append(seed)
            return super()._embed(adata, seed)

    path = tmp_path / "d.h5ad"
    adata.write_h5ad(path)
    register_model("counted", Counted)
    try:
        task = option.split(".")[0]
        code = main(["run", "--dataset", str(path), "--model", "counted", "--task", task,
                     "--option", option, "--output", str(tmp_path / "o.json"), "--quiet"])
    finally:
        unregister_model("counted")
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert calls == [] and not (tmp_path / "o.json").exists()
