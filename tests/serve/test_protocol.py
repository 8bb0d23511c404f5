"""The split, the public data and reading submissions (no database)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from czbench.errors import InputError
from czbench.serve.protocol import publish, read_embedding, sniff, stratified_split
from czbench.serve.tokens import hash_token, new_token


def test_the_split_is_stratified_seeded_and_keeps_both_sides_of_a_class():
    labels = np.array(["a"] * 50 + ["b"] * 7 + ["c"] * 2 + ["d"] * 1)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    mask = stratified_split(labels, 0.3, seed=4)
    counts = {v: int(mask[labels == v].sum()) for v in "abcd"}
    assert counts == {"a": 15, "b": 2, "c": 1, "d": 0}  # round(0.3 n), 1..n-1 when n >= 2
    assert np.array_equal(mask, stratified_split(labels, 0.3, seed=4))
    assert not np.array_equal(mask, stratified_split(labels, 0.3, seed=5))
    with pytest.raises(InputError, match="public_fraction"):
        stratified_split(labels, 1.0, seed=0)


def test_the_public_data_holds_x_and_the_public_columns_only():
    rng = np.random.default_rng(1)
    X = sp.csr_matrix(rng.random((30, 8), dtype=np.float32))  # distinct rows
    obs = pd.DataFrame({"cell_type": pd.Categorical(rng.choice(["x", "y"], 30)),
                        "batch": pd.Categorical(rng.choice(["b1", "b2"], 30))},
                       index=[f"orig{i}" for i in range(30)])
    adata = ad.AnnData(X=X, obs=obs, obsm={"X_secret": rng.normal(size=(30, 2))},
                       uns={"labels": ["x", "y"]})
    adata.layers["counts"] = X
    full, public = publish(adata, ["cell_type"], seed=0)
    assert list(public.obs.columns) == ["batch"]
    assert not (public.obsm or public.layers or public.uns)
    assert list(public.obs_names) == [f"cell_{i:05d}" for i in range(30)]
    assert (full.obs_names == public.obs_names).all()
    # the same rows in a new order; each keeps its labels on the server side
    source = {tuple(r): i for i, r in enumerate(adata.X.toarray())}
    rows = [source[tuple(r)] for r in public.X.toarray()]
    assert sorted(rows) == list(range(30)) and rows != list(range(30))
    assert list(full.obs["cell_type"]) == list(adata.obs["cell_type"].iloc[rows])
    assert list(public.obs["batch"]) == list(adata.obs["batch"].iloc[rows])
    with pytest.raises(InputError, match="hold_out: column 'nope'"):
        publish(adata, ["nope"], seed=0)


def test_submissions_are_read_without_pickle_and_aligned_by_name(tmp_path):
    names = pd.Index([f"cell_{i:05d}" for i in range(10)])
    values = np.arange(30, dtype=np.float32).reshape(10, 3)
    np.save(tmp_path / "a.npy", values)
    assert np.array_equal(read_embedding(tmp_path / "a.npy", "npy", names), values)
    np.save(tmp_path / "o.npy", np.array([object()] * 10), allow_pickle=True)
    with pytest.raises(InputError, match="numbers"):
        read_embedding(tmp_path / "o.npy", "npy", names)
    order = np.arange(10)[::-1]
    ad.AnnData(X=values[order], obs=pd.DataFrame(index=names[order])).write_h5ad(
        tmp_path / "a.h5ad")
    assert np.array_equal(read_embedding(tmp_path / "a.h5ad", "h5ad", names), values)
    with pytest.raises(InputError, match=r"expected shape \(9, 1..4096\)"):
        read_embedding(tmp_path / "a.npy", "npy", names[:9])
    assert (sniff(b"\x93NUMPY\x01"), sniff(b"PK\x03\x04"), sniff(b"<html>")) == \
        ("npy", "mlflow", None)


def test_tokens_are_random_and_hashed():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 40 for t in tokens)
    token = next(iter(tokens))
    assert hash_token(token) != token and len(hash_token(token)) == 64
