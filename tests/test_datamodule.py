"""AnnDataModule: batch contents, normalisation, splits, subsampling, gene lists, backed mode,
loader options, and the stratified split / subset helpers.

References are independent of the module: a separate ``czbench.datasets.load`` of the same data,
``adata.X`` rows, scanpy's ``normalize_total`` + ``log1p``, and counting properties of splits.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch

import czbench.datasets as ds
from czbench.datamodules import AnnDataModule, stratified_split, stratified_subset
from czbench.errors import InputError

NAME = "pbmc_3chemistries_symphony"
SEED = 0
FRACTIONS = (0.8, 0.1, 0.1)


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


@pytest.fixture(scope="module")
def ref():
    """An independent load of the dataset (never handed to a module)."""
    return ds.load(NAME)


@pytest.fixture(scope="module")
def dm():
    module = AnnDataModule(NAME, batch_size=64, seed=SEED)
    module.setup()
    return module


@pytest.fixture(scope="module")
def dm_norm():
    module = AnnDataModule(NAME, batch_size=64, seed=SEED, normalize=True)
    module.setup()
    return module


@pytest.fixture(scope="module")
def scanpy_normalized(ref):
    """sc.pp.normalize_total(target_sum=median total) + sc.pp.log1p on a copy, densified."""
    adata = ref.copy()
    adata.X = adata.X.astype(np.float32)
    target = float(np.median(np.asarray(ref.X.sum(axis=1)).ravel()))
    sc.pp.normalize_total(adata, target_sum=target)
    sc.pp.log1p(adata)
    return dense(adata.X)


def first(loader):
    return next(iter(loader))


# -- batch contents ---------------------------------------------------------------------------
def test_batch_keys_dtypes_and_shapes(dm, ref):
    assert dm.obs_keys == ["cell_type", "batch"]
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader(),
                   dm.predict_dataloader()):
        batch = first(loader)
        assert set(batch) == {"x", "index", "cell_type", "batch"}
        assert batch["x"].dtype == torch.float32
        assert batch["x"].shape == (64, ref.n_vars)
        for key in ("index", "cell_type", "batch"):
            assert batch[key].dtype == torch.int64
            assert batch[key].shape == (64,)
    assert dm.n_genes == ref.n_vars


def test_codes_decode_to_obs_values_for_every_row(dm, ref):
    assert list(dm.adata.obs_names) == list(ref.obs_names)
    batch = first(dm.train_dataloader())  # shuffled: row ids are not sorted
    index = batch["index"].numpy()
    assert not np.all(np.diff(index) > 0)
    for column in ("cell_type", "batch"):
        decoded = [dm.categories[column][code] for code in batch[column].tolist()]
        assert decoded == ref.obs[column].astype(str).iloc[index].tolist()
        assert decoded == dm.adata.obs[column].astype(str).iloc[index].tolist()
    # codes are a bijection onto the distinct obs values
    assert sorted(dm.categories["cell_type"]) == sorted(ref.obs["cell_type"].astype(str).unique())


@pytest.mark.parametrize("split", ["train", "val"])
def test_x_equals_dense_anndata_rows_exactly(dm, ref, split):
    loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
    batch = first(loader)
    index = batch["index"].numpy()
    expected = dense(ref.X[index]).astype(np.float32)
    np.testing.assert_array_equal(batch["x"].numpy(), expected)
    np.testing.assert_array_equal(batch["x"].numpy(), dense(dm.adata.X[index]))


def test_predict_loader_visits_every_row_in_order(dm, ref):
    index = torch.cat([b["index"] for b in dm.predict_dataloader()]).numpy()
    np.testing.assert_array_equal(index, np.arange(ref.n_obs))


# -- normalisation ----------------------------------------------------------------------------
def test_normalize_matches_scanpy_normalize_total_log1p(dm_norm, scanpy_normalized):
    for loader in (dm_norm.train_dataloader(), dm_norm.val_dataloader()):
        batch = first(loader)
        index = batch["index"].numpy()
        np.testing.assert_allclose(batch["x"].numpy(), scanpy_normalized[index],
                                   rtol=1e-5, atol=1e-5)


def test_module_target_is_scanpy_default_target(dm_norm, ref):
    # scanpy's default target_sum (None) rescales every cell to its choice of median total;
    # the module's normalised rows, un-logged, must sum to that same value.
    adata = ref.copy()
    adata.X = adata.X.astype(np.float32)
    factor = sc.pp.normalize_total(adata, inplace=False)["norm_factor"]
    totals = np.asarray(ref.X.sum(axis=1)).ravel()
    scanpy_target = totals / factor
    assert np.allclose(scanpy_target, scanpy_target[0], rtol=1e-5)
    batch = first(dm_norm.val_dataloader())
    sums = np.expm1(batch["x"].numpy().astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(sums, scanpy_target[0], rtol=1e-4)


def _zero_cell_adata(sparse: bool):
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, size=(40, 12)).astype(np.float32)
    counts[[0, 7, 19]] = 0  # cells without counts
    labels = np.array(["a", "b"] * 20)
    import anndata as ad

    adata = ad.AnnData(sp.csr_matrix(counts) if sparse else counts,
                       obs=pd.DataFrame({"cell_type": labels},
                                        index=[f"c{i}" for i in range(40)]))
    return adata, counts


def test_normalize_with_zero_count_cells_matches_scanpy_on_csr_and_is_finite():
    adata, counts = _zero_cell_adata(sparse=True)
    module = AnnDataModule(adata, normalize=True, batch_size=40, seed=1)
    x = first(module.predict_dataloader())["x"].numpy()
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[[0, 7, 19]], 0.0)
    expected = adata.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Some cells have zero counts"
        sc.pp.normalize_total(expected)
    sc.pp.log1p(expected)
    np.testing.assert_allclose(x, dense(expected.X), rtol=1e-5, atol=1e-5)


def test_normalize_gives_same_rows_for_dense_and_sparse_input():
    sparse_adata, _ = _zero_cell_adata(sparse=True)
    dense_adata, _ = _zero_cell_adata(sparse=False)
    xs = [first(AnnDataModule(a, normalize=True, batch_size=40).predict_dataloader())["x"]
          for a in (sparse_adata, dense_adata)]
    np.testing.assert_allclose(xs[0].numpy(), xs[1].numpy(), rtol=1e-6, atol=1e-6)


# -- splits -----------------------------------------------------------------------------------
def test_splits_partition_all_cells(dm, ref):
    parts = [set(dm.split_indices[s].tolist()) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == ref.n_obs
    assert set().union(*parts) == set(range(ref.n_obs))
    # the loaders yield exactly the split rows
    for split, loader in (("val", dm.val_dataloader()), ("test", dm.test_dataloader()),
                          ("train", dm.train_dataloader())):
        seen = torch.cat([b["index"] for b in loader]).numpy()
        assert sorted(seen.tolist()) == sorted(dm.split_indices[split].tolist())


def test_splits_are_stratified_within_one_cell_per_type(dm, ref):
    labels = ref.obs["cell_type"].astype(str).to_numpy()
    totals = Counter(labels)
    for split, fraction in zip(("train", "val", "test"), FRACTIONS, strict=True):
        counts = Counter(labels[dm.split_indices[split]])
        for cell_type, n in totals.items():
            assert abs(counts.get(cell_type, 0) - fraction * n) <= 1, (split, cell_type)
        assert abs(len(dm.split_indices[split]) - fraction * ref.n_obs) <= len(totals)


def test_same_seed_same_splits_different_seed_different():
    a, b, c = (AnnDataModule(NAME, seed=s) for s in (7, 7, 8))
    for module in (a, b, c):
        module.setup()
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.split_indices[split], b.split_indices[split])
    assert not np.array_equal(a.split_indices["val"], c.split_indices["val"])
    assert not np.array_equal(a.split_indices["train"], c.split_indices["train"])


@pytest.fixture()
def with_split_column(ref):
    adata = ref.copy()
    values = np.random.default_rng(11).choice(["train", "val", "test"], size=adata.n_obs,
                                              p=[0.5, 0.3, 0.2])
    adata.obs["my_split"] = pd.Categorical(values)
    return adata, values


def test_split_key_column_is_honoured(with_split_column):
    adata, values = with_split_column
    module = AnnDataModule(adata, split_key="my_split", seed=SEED, batch_size=100)
    for split in ("train", "val", "test"):
        seen = torch.cat([b["index"] for b in module._split_loader(split, shuffle=False)]).numpy()
        np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(values == split))


def test_split_key_with_other_values_raises_naming_column(with_split_column):
    adata, values = with_split_column
    adata.obs["my_split"] = np.where(values == "val", "validation", values)
    module = AnnDataModule(adata, split_key="my_split")
    with pytest.raises(InputError, match="my_split"):
        module.setup()


def test_split_key_missing_column_raises(ref):
    module = AnnDataModule(ref.copy(), split_key="no_such_split")
    with pytest.raises(InputError, match="no_such_split"):
        module.val_dataloader()


@pytest.mark.parametrize("fractions", [(0.5, 0.3, 0.1), (0.8, 0.2), (1.2, -0.1, -0.1),
                                       (0.8, 0.1, 0.2)])
def test_bad_split_fractions_raise(fractions):
    with pytest.raises(InputError, match="split_fractions"):
        AnnDataModule(NAME, split_fractions=fractions)


# -- val_max_cells ----------------------------------------------------------------------------
def test_val_max_cells_subsample(dm, ref):
    size = 30
    a, b = (AnnDataModule(NAME, seed=SEED, val_max_cells=size) for _ in range(2))
    a.setup(), b.setup()
    val = a.split_indices["val"]
    assert len(val) == size == len(np.unique(val))
    np.testing.assert_array_equal(val, b.split_indices["val"])
    full_val = dm.split_indices["val"]
    assert set(val.tolist()) <= set(full_val.tolist())
    labels = ref.obs["cell_type"].astype(str).to_numpy()
    assert len(set(labels[full_val])) <= size
    assert set(labels[val]) == set(labels[full_val])
    # train and test are untouched
    for split in ("train", "test"):
        np.testing.assert_array_equal(a.split_indices[split], dm.split_indices[split])
    seen = torch.cat([batch["index"] for batch in a.val_dataloader()]).numpy()
    np.testing.assert_array_equal(np.sort(seen), np.sort(val))


def test_val_max_cells_above_val_size_keeps_whole_val(dm):
    module = AnnDataModule(NAME, seed=SEED, val_max_cells=10_000)
    module.setup()
    np.testing.assert_array_equal(module.split_indices["val"], dm.split_indices["val"])


# -- genes ------------------------------------------------------------------------------------
def test_gene_list_reorders_and_zero_fills_missing(ref):
    names = list(ref.var_names)
    genes = [names[10], names[3], "NOT_A_GENE_XYZ", names[0], names[500]]
    module = AnnDataModule(NAME, genes=genes, seed=SEED, batch_size=32)
    assert module.missing_genes == ["NOT_A_GENE_XYZ"]
    assert module.n_genes == len(genes)
    batch = first(module.train_dataloader())
    index = batch["index"].numpy()
    x = batch["x"].numpy()
    assert x.shape == (32, len(genes))
    present = [g for g in genes if g in ref.var_names]
    expected = dense(ref[index, present].X)
    np.testing.assert_array_equal(x[:, [0, 1, 3, 4]], expected)
    np.testing.assert_array_equal(x[:, 2], 0.0)


def test_gene_list_with_normalize_uses_totals_over_all_genes(dm_norm, scanpy_normalized, ref):
    names = list(ref.var_names)
    genes = [names[42], "MISSING_1", names[7]]
    module = AnnDataModule(NAME, genes=genes, normalize=True, seed=SEED, batch_size=32)
    batch = first(module.val_dataloader())
    index = batch["index"].numpy()
    expected = scanpy_normalized[index][:, [42, 7]]
    np.testing.assert_allclose(batch["x"].numpy()[:, [0, 2]], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batch["x"].numpy()[:, 1], 0.0)


def test_all_genes_missing_raises():
    module = AnnDataModule(NAME, genes=["NOPE_1", "NOPE_2"])  # nothing is read yet
    with pytest.raises(InputError, match="genes"):
        module.setup()


# -- backed -----------------------------------------------------------------------------------
@pytest.mark.parametrize("normalize", [False, True])
def test_backed_gives_identical_batches(normalize, dm, dm_norm):
    memory = dm_norm if normalize else dm
    path = ds.info(NAME).path()
    backed = AnnDataModule(path, backed=True, normalize=normalize, seed=SEED, batch_size=64)
    assert backed.adata.isbacked
    backed.setup()
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(backed.split_indices[split], memory.split_indices[split])
    assert backed.categories == memory.categories
    pairs = [(first(backed.train_dataloader()), first(memory.train_dataloader()))]
    pairs += list(zip(backed.val_dataloader(), memory.val_dataloader(), strict=True))
    for got, expected in pairs:
        assert set(got) == set(expected)
        for key in expected:
            assert got[key].dtype == expected[key].dtype
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_backed_with_workers_matches_in_memory(dm):
    path = ds.info(NAME).path()
    backed = AnnDataModule(path, backed=True, seed=SEED, batch_size=64, num_workers=2)
    for got, expected in zip(backed.val_dataloader(), dm.val_dataloader(), strict=True):
        torch.testing.assert_close(got["x"], expected["x"], rtol=0, atol=0)
        torch.testing.assert_close(got["index"], expected["index"], rtol=0, atol=0)


def test_backed_registered_name_uses_registry_columns():
    # in memory, pbmc68k_reduced gets cell_type from the registry mapping (bulk_labels);
    # backed mode with the same registered name should give the same standard column
    memory = AnnDataModule("pbmc68k_reduced")
    backed = AnnDataModule("pbmc68k_reduced", backed=True)
    assert memory.obs_keys == ["cell_type"]
    assert backed.obs_keys == memory.obs_keys
    assert backed.categories == memory.categories


# -- loader options ---------------------------------------------------------------------------
def test_batch_size_is_passed_through():
    module = AnnDataModule(NAME, batch_size=50, seed=SEED)
    for loader in (module.train_dataloader(), module.val_dataloader(),
                   module.test_dataloader(), module.predict_dataloader()):
        assert loader.batch_size == 50
        assert len(first(loader)["index"]) == 50
    val_sizes = [len(b["index"]) for b in module.val_dataloader()]
    assert val_sizes == [50, 50, 20]


def test_nothing_is_read_in_init(monkeypatch, tmp_path):
    import czbench.datamodules.anndata_module as module_code

    calls = []
    real = module_code.load
    monkeypatch.setattr(module_code, "load", lambda *a, **k: calls.append(a) or real(*a, **k))
    module = AnnDataModule(NAME, batch_size=64, seed=SEED)
    assert calls == []
    module.setup("fit")
    module.setup("validate")  # read once
    assert len(calls) == 1
    with pytest.raises(InputError, match="is neither a registered dataset"):
        AnnDataModule(str(tmp_path / "missing.h5ad"))


def test_workers_receive_rows_and_codes_not_the_anndata():
    """Under the spawn start method everything a worker gets is pickled: only X and the obs
    codes, never obs, var, obsm, layers or uns."""
    import pickle

    adata = ds.load(NAME)
    adata.obsm["X_big"] = np.zeros((adata.n_obs, 2_000), dtype=np.float32)  # 9.6 MB
    adata.layers["extra"] = adata.X.copy()
    module = AnnDataModule(adata, batch_size=64, seed=SEED, num_workers=2)
    loader = module.val_dataloader()
    shipped = len(pickle.dumps((loader.dataset, loader.collate_fn)))
    x = adata.X
    x_bytes = x.data.nbytes + x.indices.nbytes + x.indptr.nbytes if sp.issparse(x) else x.nbytes
    assert shipped < x_bytes + 200_000
    assert shipped < len(pickle.dumps(adata)) / 3


@pytest.mark.parametrize("context", [
    None, pytest.param("spawn", marks=pytest.mark.slow, id="spawn")])
def test_two_workers_give_the_same_batches(dm, context):
    """Forked and spawned workers (spawn pickles everything a worker gets) read the same rows."""
    extra = {} if context is None else {"multiprocessing_context": context}
    module = AnnDataModule(NAME, batch_size=64, seed=SEED, num_workers=2, **extra)
    got = list(module.val_dataloader())
    expected = list(dm.val_dataloader())
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        for key in b:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_normalize_refuses_data_that_is_not_counts():
    module = AnnDataModule("pbmc68k_reduced", normalize=True)
    with pytest.raises(InputError, match="normalize: counts: pbmc68k_reduced ships no raw"):
        module.setup()
    scaled = sc.datasets.pbmc68k_reduced()  # X is scaled, and nothing declares it
    module = AnnDataModule(scaled, label_key="bulk_labels", normalize=True)
    with pytest.raises(InputError, match="normalize: X is not raw counts"):
        module.setup()


def test_train_loader_shuffles_deterministically_with_seed(dm):
    same = AnnDataModule(NAME, batch_size=64, seed=SEED)
    other = AnnDataModule(NAME, batch_size=64, seed=SEED + 1)
    a, b, c = (first(m.train_dataloader())["index"] for m in (dm, same, other))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    # shuffled, not the split order
    assert not torch.equal(a, torch.from_numpy(dm.split_indices["train"][:64]))


# -- AnnData in memory / obs_keys -------------------------------------------------------------
def test_in_memory_anndata_with_label_key():
    raw = sc.datasets.pbmc68k_reduced()
    assert "cell_type" not in raw.obs
    module = AnnDataModule(raw, label_key="bulk_labels", batch_size=100, seed=SEED)
    assert "cell_type" not in raw.obs  # input left unchanged
    assert module.obs_keys == ["cell_type"]
    batch = first(module.train_dataloader())
    index = batch["index"].numpy()
    decoded = [module.categories["cell_type"][c] for c in batch["cell_type"].tolist()]
    assert decoded == raw.obs["bulk_labels"].astype(str).iloc[index].tolist()
    np.testing.assert_array_equal(batch["x"].numpy(), dense(raw.X[index]).astype(np.float32))


def test_obs_keys_naming_missing_column_raises_listing_columns():
    module = AnnDataModule(NAME, obs_keys=["cell_type", "no_such_column"])
    with pytest.raises(InputError, match="obs_keys") as err:
        module.setup()
    message = str(err.value)
    assert "no_such_column" in message
    assert "cell_type" in message and "batch" in message and "nUMI" in message


def test_obs_keys_selects_batch_columns():
    module = AnnDataModule(NAME, obs_keys=["batch"], batch_size=16)
    assert set(first(module.val_dataloader())) == {"x", "index", "batch"}


# -- stratified_subset / stratified_split -----------------------------------------------------
def _labels(counts: dict[str, int], seed: int = 0) -> np.ndarray:
    labels = np.concatenate([[k] * v for k, v in counts.items()])
    return np.random.default_rng(seed).permutation(labels)


COUNTS = {"a": 500, "b": 300, "c": 150, "d": 45, "e": 5, "f": 1}


def test_stratified_subset_size_proportions_and_coverage():
    labels = _labels(COUNTS)
    n = len(labels)
    for size in (6, 37, 100, 503):
        chosen = stratified_subset(labels, size, seed=4)
        assert len(chosen) == size == len(np.unique(chosen))
        assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < n
        got = Counter(labels[chosen])
        assert set(got) == set(COUNTS)  # every label kept at least once
        if size >= 20:  # with very few slots, coverage outranks proportionality
            for label, count in COUNTS.items():
                assert abs(got[label] - count * size / n) <= 1, (size, label)


def test_stratified_subset_determinism_and_edge_sizes():
    labels = _labels(COUNTS)
    np.testing.assert_array_equal(stratified_subset(labels, 50, 1),
                                  stratified_subset(labels, 50, 1))
    assert not np.array_equal(stratified_subset(labels, 50, 1), stratified_subset(labels, 50, 2))
    np.testing.assert_array_equal(stratified_subset(labels, len(labels) + 5, 0),
                                  np.arange(len(labels)))
    small = stratified_subset(labels, 3, 0)  # fewer slots than labels: distinct labels
    assert len(small) == 3 and len(set(labels[small])) == 3
    assert len(stratified_subset(labels, 0, 0)) == 0


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.6, 0.25, 0.15), (0.5, 0.5)])
def test_stratified_split_partition_and_stratification(fractions):
    labels = _labels(COUNTS, seed=5)
    parts = stratified_split(labels, fractions, seed=9)
    assert len(parts) == len(fractions)
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(labels)))
    for part, fraction in zip(parts, fractions, strict=True):
        assert np.all(np.diff(part) > 0)
        got = Counter(labels[part])
        for label, count in COUNTS.items():
            assert abs(got.get(label, 0) - fraction * count) <= 1, (fraction, label)


def test_stratified_split_determinism_and_degenerate_fractions():
    labels = _labels(COUNTS, seed=5)
    a, b, c = (stratified_split(labels, FRACTIONS, seed=s) for s in (3, 3, 4))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    everything, none_val, none_test = stratified_split(labels, (1.0, 0.0, 0.0), seed=0)
    np.testing.assert_array_equal(everything, np.arange(len(labels)))
    assert len(none_val) == len(none_test) == 0
    # integer codes work as labels as well as strings
    codes = pd.Categorical(labels).codes
    for x, y in zip(stratified_split(codes, FRACTIONS, 3), a, strict=True):
        assert len(x) == len(y)
