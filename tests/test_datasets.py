"""Dataset registry and loader: shipped files, hashes, column mapping, one-line errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import czbench.datasets as ds
from czbench.errors import InputError
from czbench.utils.hashing import sha256_file


def test_registry_lists_the_shipped_datasets():
    assert {"pbmc68k_reduced", "pbmc_3chemistries_symphony",
            "lung_celllines_mixology"} <= set(ds.list())


@pytest.mark.parametrize("name", ds.list())
def test_every_dataset_loads_offline_with_matching_hash_and_shape(name):
    info = ds.info(name)
    adata = ds.load(name)
    assert adata.shape == (info.n_cells, info.n_genes)
    assert sha256_file(str(info.path())) == info.sha256
    assert adata.uns["czbench"]["sha256"] == info.sha256
    assert info.columns, "every dataset maps at least one standard column"
    for standard, source in info.columns.items():
        if adata.obs[standard].isna().any():  # e.g. wells without an MOA: the dataset's
            # label tasks are registered to score the labelled rows only
            assert standard == "cell_type"
            for task in ("clustering", "embedding", "label_prediction"):
                assert info.task_options[task]["missing_labels"] == "drop"
        assert (adata.obs[standard].astype(str) == adata.obs[source].astype(str)).all()
    for key in info.embeddings:
        assert adata.obsm[key].shape[0] == adata.n_obs


def test_shipped_files_have_provenance_next_to_them():
    for name in ds.list():
        info = ds.info(name)
        if info.external:
            continue
        md = info.path().with_suffix(".md").read_text()
        assert "Licence" in md and info.sha256 in md


def test_batch_datasets_have_several_batches_and_counts():
    for name in ("pbmc_3chemistries_symphony", "lung_celllines_mixology"):
        adata = ds.load(name)
        assert adata.obs["batch"].nunique() >= 3
        assert ds.is_counts(adata.X)
    assert not ds.is_counts(ds.load("pbmc68k_reduced").X)


def test_original_columns_are_kept_and_mapped(tmp_path):
    adata = ds.load("pbmc68k_reduced")
    assert "bulk_labels" in adata.obs
    assert (adata.obs["cell_type"] == adata.obs["bulk_labels"]).all()
    remapped = ds.load("pbmc68k_reduced", label_key="louvain", batch_key="phase")
    assert (remapped.obs["cell_type"] == remapped.obs["louvain"]).all()
    assert (remapped.obs["batch"] == remapped.obs["phase"]).all()


def _write(tmp_path, obs: pd.DataFrame, name="mine.h5ad"):
    rng = np.random.default_rng(0)
    adata = ad.AnnData(X=rng.poisson(1.0, size=(len(obs), 5)).astype(np.float32), obs=obs)
    adata.obs_names = [f"c{i}" for i in range(len(obs))]
    path = tmp_path / name
    adata.write_h5ad(path)
    return path


def test_user_file_maps_columns_and_keeps_an_existing_standard_column(tmp_path):
    obs = pd.DataFrame({"celltype": list("aabbc"), "sample": list("xyxyx"),
                        "cell_type": list("zzzzz")})
    path = _write(tmp_path, obs)
    with pytest.warns(UserWarning, match="cell_type_original"):
        adata = ds.load(path, label_key="celltype", batch_key="sample")
    assert list(adata.obs["cell_type"]) == list("aabbc")
    assert list(adata.obs["cell_type_original"]) == list("zzzzz")
    assert list(adata.obs["batch"]) == list("xyxyx")
    assert adata.uns["czbench"]["sha256"] == sha256_file(str(path))


def test_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        ds.load(tmp_path / "missing.h5ad")
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable .h5ad"):
        ds.load(bad)
    with pytest.raises(InputError, match="neither a registered dataset"):
        ds.load("no_such_dataset")
    path = _write(tmp_path, pd.DataFrame({"celltype": ["a", None, "b"]}))
    with pytest.raises(InputError, match=r"label_key: column 'nope' not in obs; columns are: "
                                         r"celltype"):
        ds.load(path, label_key="nope")
    adata = ds.load(path, label_key="celltype")  # kept: the tasks refuse or drop them
    assert adata.obs["cell_type"].isna().sum() == 1
    with pytest.raises(InputError, match="only missing values"):
        ds.load(_write(tmp_path, pd.DataFrame({"celltype": pd.Categorical([None] * 3, ["a"])}),
                       "empty.h5ad"), label_key="celltype")


def test_corrupted_shipped_file_is_refused(tmp_path):
    info = ds.info("lung_celllines_mixology")
    copy = tmp_path / "lung.h5ad"
    data = bytearray(info.path().read_bytes())
    copy.write_bytes(bytes(data))
    fake = ds.DatasetInfo(**{**info.__dict__, "name": "lung_copy_wrong_hash",
                             "file": str(copy), "sha256": "0" * 64})
    ds.register(fake)
    try:
        with pytest.raises(InputError, match="sha256"):
            ds.load("lung_copy_wrong_hash")
        assert ds.load("lung_copy_wrong_hash", verify=False).n_obs == info.n_cells
    finally:
        ds.unregister("lung_copy_wrong_hash")
    assert "lung_copy_wrong_hash" not in ds.list()
