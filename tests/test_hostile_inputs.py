"""Hostile and mistaken inputs: a clear one-line error before any work, never a traceback,
never a silently wrong score, never a lost file (docs/errors.md).

Table-driven: every CLI case runs ``czbench.cli.main`` in-process and asserts the exit
status, exactly one ``error:`` line on stderr matching the expected message, no traceback, and
that the output file did not appear (or an old one survived byte for byte). API cases assert
a :class:`~czbench.errors.CZBenchError` with the expected message. Cases that must *succeed*
(rescaled embeddings, DataFrames in another row order, half-precision tensors) assert the
numbers equal the plain run's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

from czbench.cli import main
from czbench.datasets.synthetic import gaussian_mixture
from czbench.errors import CZBenchError
from tests.hostile.hostile_helpers import assert_one_line_error

N = 240


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A small dataset with good and bad columns, and embeddings good and bad."""
    root = tmp_path_factory.mktemp("hostile")
    adata = gaussian_mixture(N, 8, n_types=4, n_batches=2, seed=3)
    rng = np.random.default_rng(0)
    adata.obs["cont"] = np.round(rng.normal(size=N) * 40)  # ~100 values, some shared
    adata.obs["const"] = "a"
    adata.obs["uniq"] = [f"u{i}" for i in range(N)]
    adata.obs["with_nan"] = pd.Categorical(["x"] * (N - 1) + [None])
    adata.obs["time"] = np.repeat([0.0, 1.0, 2.0, 3.0], N // 4)
    adata.obs["time_const"] = 1.0
    paths = {"small": str(root / "small.h5ad"), "root": str(root)}
    adata.write_h5ad(paths["small"])
    emb = adata.obsm["X_emb"].astype(np.float32)
    arrays = {
        "emb": emb, "tiny": emb * 1e-30, "huge": emb.astype(np.float64) * 1e20,
        "zero": np.zeros_like(emb), "const": np.ones_like(emb),
        "complex": emb.astype(np.complex64), "onedim": emb[:, 0], "threedim": emb[:, :, None],
        "rows": np.vstack([emb, emb[:1]]), "nan": np.where(np.arange(N)[:, None] == 5, np.nan,
                                                             emb),
        "inf": np.where(np.arange(N)[:, None] == 5, np.inf, emb), "text": emb.astype(str),
        "bools": emb > 0,
    }
    for name, values in arrays.items():
        np.save(root / f"{name}.npy", values)
        paths[name] = str(root / f"{name}.npy")
    np.save(root / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    paths["object"] = str(root / "object.npy")
    (root / "garbage.npy").write_bytes(b"not a numpy file at all")
    paths["garbage"] = str(root / "garbage.npy")
    (root / "garbage.h5ad").write_bytes(b"not an h5ad file")
    paths["garbage_h5ad"] = str(root / "garbage.h5ad")
    (root / "notes.txt").write_text("hello")
    paths["txt"] = str(root / "notes.txt")
    (root / "folder.h5ad").mkdir()
    paths["folder_h5ad"] = str(root / "folder.h5ad")
    empty = ad.AnnData(obs=pd.DataFrame(index=pd.Index([], dtype=str)))
    empty.write_h5ad(root / "zero_cells.h5ad")
    paths["zero_cells"] = str(root / "zero_cells.h5ad")
    one = adata[:1].copy()
    one.write_h5ad(root / "one_cell.h5ad")
    paths["one_cell"] = str(root / "one_cell.h5ad")
    no_x = ad.AnnData(obs=adata.obs.copy(), obsm={"X_emb": emb})
    no_x.write_h5ad(root / "no_x.h5ad")
    paths["no_x"] = str(root / "no_x.h5ad")
    (root / "a_file").write_text("x")
    paths["a_file"] = str(root / "a_file")
    return paths


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fill(argv: list[str], files: dict[str, str], out: Path) -> list[str]:
    return [a.format(**files, out=str(out)) for a in argv]


BASE = ["run", "--dataset", "{small}", "--quiet", "--output", "{out}"]
EMB = ["--embedding", "{emb}"]

#: (id, argv, message regex): each must exit 2 with one error line and write nothing
CLI_ERRORS = [
    ("embedding-missing-file", BASE + ["--embedding", "{root}/nope.npy"], "file not found"),
    ("embedding-h5ad", BASE + ["--embedding", "{small}"], r"\.h5ad file; embeddings are"),
    ("embedding-txt", BASE + ["--embedding", "{txt}"], "is not obsm:KEY"),
    ("embedding-complex", BASE + ["--embedding", "{complex}"], "complex values"),
    ("embedding-object", BASE + ["--embedding", "{object}"], "not a readable .npy"),
    ("embedding-garbage", BASE + ["--embedding", "{garbage}"], "not a readable .npy"),
    ("embedding-1d", BASE + ["--embedding", "{onedim}"], "expected cells x dims"),
    ("embedding-3d", BASE + ["--embedding", "{threedim}"], "expected cells x dims"),
    ("embedding-text", BASE + ["--embedding", "{text}"], "expected real numbers"),
    ("embedding-bools", BASE + ["--embedding", "{bools}"], "expected real numbers"),
    ("embedding-empty-name", BASE + ["--embedding", "={emb}"], "expected SPEC or NAME=SPEC"),
    ("embedding-same-name", BASE + ["--embedding", "a={emb}", "--embedding", "a={tiny}"],
     "'a' is given twice"),
    ("embedding-twice", BASE + EMB + EMB, "is given twice"),
    ("embedding-obsm-empty", BASE + ["--embedding", "obsm:"], "names nothing"),
    ("embedding-baseline-empty", BASE + ["--embedding", "baseline:"], "names nothing"),
    ("prediction-missing", BASE + ["--prediction", "{root}/nope.h5ad"], "file not found"),
    ("prediction-txt", BASE + ["--prediction", "{txt}"], "is not an .h5ad or .npy"),
    ("seeds-empty", BASE + EMB + ["--seeds", ""], "--seeds is empty"),
    ("seeds-repeated", BASE + EMB + ["--seeds", "1,1"], "each seed must appear once"),
    ("seeds-text", BASE + EMB + ["--seeds", "a,b"], "expected integers"),
    ("seeds-negative", BASE + EMB + ["--seeds", "-1"], r"in \[0, 4294967295\]"),
    ("seeds-too-large", BASE + EMB + ["--seeds", "4294967296"], r"in \[0, 4294967295\]"),
    ("seeds-float", BASE + EMB + ["--seeds", "3.7"], "expected integers"),
    ("seed-and-seeds", BASE + EMB + ["--seed", "5", "--seeds", "1,2"], "not both"),
    ("seed-float", BASE + EMB + ["--seed", "3.7"], "invalid int value"),
    ("seed-negative", BASE + EMB + ["--seed", "-5"], r"in \[0, 4294967295\]"),
    ("seed-huge", BASE + EMB + ["--seed", "99999999999"], r"in \[0, 4294967295\]"),
    ("task-unknown", BASE + EMB + ["--task", "nope"], "unknown task 'nope'"),
    ("task-twice", BASE + EMB + ["--task", "clustering,clustering"], "given twice"),
    ("task-twice-flags", BASE + EMB + ["--task", "embedding", "--task", "embedding"],
     "given twice"),
    ("dataset-unknown", ["run", "--dataset", "nope", "--output", "{out}"], "unknown dataset"),
    ("dataset-missing", ["run", "--dataset", "{root}/nope.h5ad", "--output", "{out}"],
     "file not found"),
    ("dataset-folder", ["run", "--dataset", "{folder_h5ad}", "--output", "{out}"],
     "file not found"),
    ("dataset-same-stem", ["run", "--dataset", "{small},{small}", "--output", "{root}/many"],
     "names must differ"),
    ("dataset-garbage", ["run", "--dataset", "{garbage_h5ad}", "--output", "{out}"] + EMB,
     "not a readable .h5ad"),
    ("dataset-zero-cells", ["run", "--dataset", "{zero_cells}", "--output", "{out}"] + EMB,
     "has 0 cells"),
    ("dataset-one-cell", ["run", "--dataset", "{one_cell}", "--output", "{out}"] + EMB,
     "has 1 cells"),
    ("option-no-equals", BASE + EMB + ["--option", "x"], "expected TASK.KEY=VALUE"),
    ("option-no-dot", BASE + EMB + ["--option", "clustering=1"], "expected TASK.KEY=VALUE"),
    ("option-unknown-task", BASE + EMB + ["--option", "nope.k=1"], "unknown task 'nope'"),
    ("option-twice", BASE + EMB + ["--option", "clustering.n_neighbors=5", "--option",
                                   "clustering.n_neighbors=6"], "given twice"),
    ("option-unknown-key", BASE + EMB + ["--task", "clustering", "--option", "clustering.foo=1"],
     "clustering has no option 'foo'"),
    ("option-n-neighbors-0", BASE + EMB + ["--task", "clustering", "--option",
                                           "clustering.n_neighbors=0"],
     r"n_neighbors: expected an integer >= 2, got 0"),
    ("option-n-neighbors-text", BASE + EMB + ["--task", "clustering", "--option",
                                              "clustering.n_neighbors=abc"],
     r"n_neighbors: expected an integer >= 2, got 'abc'"),
    ("option-n-neighbors-float", BASE + EMB + ["--task", "clustering", "--option",
                                               "clustering.n_neighbors=1.5"],
     "n_neighbors: expected an integer"),
    ("option-n-neighbors-bool", BASE + EMB + ["--task", "clustering", "--option",
                                              "clustering.n_neighbors=true"],
     "n_neighbors: expected an integer"),
    ("option-resolution-negative", BASE + EMB + ["--task", "clustering", "--option",
                                                 "clustering.resolution=-1"],
     "resolution: expected a number > 0"),
    ("option-resolution-zero", BASE + EMB + ["--task", "clustering", "--option",
                                             "clustering.resolution=0"],
     "resolution: expected a number > 0"),
    ("option-resolution-text", BASE + EMB + ["--task", "clustering", "--option",
                                             "clustering.resolution=abc"],
     "resolution: expected a finite number"),
    ("option-resolution-nan", BASE + EMB + ["--task", "clustering", "--option",
                                            "clustering.resolution=NaN"],
     "resolution: expected a finite number"),
    ("option-sweep-text", BASE + EMB + ["--task", "clustering", "--option",
                                        "clustering.resolution_sweep=yes"],
     "resolution_sweep: expected true or false"),
    ("option-iterations-0", BASE + EMB + ["--task", "clustering", "--option",
                                          "clustering.n_iterations=0"], "n_iterations"),
    ("option-max-cells-text", BASE + EMB + ["--task", "label_prediction", "--option",
                                            "label_prediction.max_cells=lots"],
     "max_cells: expected an integer >= 10"),
    ("option-max-cells-small", BASE + EMB + ["--task", "label_prediction", "--option",
                                             "label_prediction.max_cells=3"],
     "max_cells: expected an integer >= 10"),
    ("option-n-folds-1", BASE + EMB + ["--task", "label_prediction", "--option",
                                       "label_prediction.n_folds=1"],
     "n_folds: expected an integer >= 2"),
    ("option-min-class-0", BASE + EMB + ["--task", "label_prediction", "--option",
                                         "label_prediction.min_class_size=0"],
     "min_class_size: expected an integer >= 1"),
    ("option-classifier-unknown", BASE + EMB + ["--task", "label_prediction", "--option",
                                                'label_prediction.classifiers=["svm"]'],
     "classifiers"),
    ("option-classifier-string", BASE + EMB + ["--task", "label_prediction", "--option",
                                               "label_prediction.classifiers=lr"],
     "classifiers: expected a tuple of names"),
    ("option-entropy-k-0", BASE + EMB + ["--task", "batch_integration", "--option",
                                         "batch_integration.entropy_k=0"], "entropy_k"),
    ("option-seed", BASE + EMB + ["--task", "clustering", "--option", "clustering.seed=1"],
     "seed"),
    ("workers-0", BASE + EMB + ["--workers", "0"], "workers: expected at least 1"),
    ("resume-without-dir", BASE + EMB + ["--resume"], "--resume needs --run-dir"),
    ("run-dir-is-file", BASE + EMB + ["--run-dir", "{a_file}"], "is a file"),
    ("output-parent-is-file", ["run", "--dataset", "{small}", "--output", "{a_file}/o.json"]
     + EMB, "is a file, not a folder"),
    ("output-is-folder", ["run", "--dataset", "{small}", "--output", "{root}", "--overwrite"]
     + EMB, "is a folder"),
    ("output-is-device", ["run", "--dataset", "{small}", "--output", "/dev/null",
                          "--overwrite"] + EMB, "not a regular file"),
    ("output-json-for-many", ["run", "--dataset", "{small},{no_x}", "--output", "{out}"] + EMB,
     "must be a folder"),
    ("label-key-missing", BASE + EMB + ["--task", "embedding", "--label-key", "nope"],
     "nope"),
    ("batch-key-missing", BASE + EMB + ["--task", "batch_integration", "--batch-key", "nope"],
     "nope"),
    ("label-key-constant", BASE + EMB + ["--task", "embedding", "--label-key", "const"],
     "at least 2 distinct values"),
    ("label-key-unique", BASE + EMB + ["--task", "clustering", "--label-key", "uniq"],
     "every cell has its own value"),
    ("label-key-nan", BASE + EMB + ["--task", "embedding", "--label-key", "with_nan"],
     "missing values"),
    ("batch-key-constant", BASE + EMB + ["--task", "batch_integration", "--batch-key",
                                         "const"], "at least 2 distinct values"),
    ("embedding-obsm-unknown", BASE + ["--embedding", "obsm:nope"], "obsm key 'nope'"),
    ("embedding-rows", BASE + ["--embedding", "{rows}"], f"has {N + 1} rows"),
    ("embedding-nan", BASE + ["--embedding", "{nan}"], "NaN or infinite"),
    ("embedding-inf", BASE + ["--embedding", "{inf}"], "NaN or infinite"),
    ("embedding-zero", BASE + ["--embedding", "{zero}"], "constant embedding"),
    ("embedding-constant", BASE + ["--embedding", "{const}"], "constant embedding"),
    ("baseline-unknown", BASE + ["--embedding", "baseline:nope"], "unknown baseline 'nope'"),
    ("baseline-pca-not-counts", BASE + ["--embedding", "baseline:pca", "--task", "embedding"],
     "count"),
    ("sequential-no-time", BASE + EMB + ["--task", "sequential_organization", "--option",
                                         "sequential_organization.time_key=nope"], "nope"),
    ("sequential-constant-time", BASE + EMB + ["--task", "sequential_organization",
                                               "--option",
                                               "sequential_organization.time_key=time_const"],
     "one time point"),
    ("prediction-without-expression-task", BASE + EMB + ["--task", "clustering",
                                                         "--prediction", "{tiny}"],
     "no task selected scores one"),
    ("perturbation-without-condition", BASE + ["--task", "perturbation_expression_prediction",
                                               "--prediction", "{emb}"], "condition"),
    ("device-unknown", BASE + EMB + ["--device", "toaster"], "device"),
]
if not torch.cuda.is_available():
    CLI_ERRORS.append(("device-cuda-missing", BASE + EMB + ["--device", "cuda"],
                       "CUDA is not available"))

#: argparse's own errors: exit 2, one line (the usage is not printed)
ARGPARSE_ERRORS = [
    ("no-command", []),
    ("unknown-flag", ["run", "--frobnicate"]),
    ("knn-backend-bogus", ["run", "--knn-backend", "bogus"]),
    ("workers-text", ["run", "--workers", "abc"]),
    ("list-unknown", ["list", "nope"]),
    ("report-no-files", ["report"]),
]


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in CLI_ERRORS],
                         ids=[c[0] for c in CLI_ERRORS])
def test_cli_error_is_one_line_and_writes_nothing(argv, pattern, files, tmp_path, capsys):
    out = tmp_path / "out.json"
    code, _, err = run_cli(fill(argv, files, out), capsys)
    assert_one_line_error(code, err, pattern)
    assert not out.exists()
    assert not (Path(files["root"]) / "many").exists()


@pytest.mark.parametrize("argv", [c[1] for c in ARGPARSE_ERRORS],
                         ids=[c[0] for c in ARGPARSE_ERRORS])
def test_cli_usage_error_is_one_line(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err


# --------------------------------------------------------------------------------------------
# files: an old output survives, links and devices are never replaced, the umask is kept
# --------------------------------------------------------------------------------------------

def test_existing_output_survives_without_overwrite(files, tmp_path, capsys):
    out = tmp_path / "old.json"
    out.write_text("OLD")
    code, _, err = run_cli(fill(BASE + EMB + ["--task", "embedding"], files, out), capsys)
    assert_one_line_error(code, err, "already exists")
    assert out.read_text() == "OLD"


def test_output_symlink_is_refused_and_its_target_kept(files, tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("OLD")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    argv = fill(BASE + EMB + ["--task", "embedding", "--overwrite"], files, link)
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "symbolic link")
    assert link.is_symlink() and target.read_text() == "OLD"


def test_dangling_symlink_output_is_refused(files, tmp_path, capsys):
    link = tmp_path / "dangling.json"
    link.symlink_to(tmp_path / "missing" / "x.json")
    code, _, err = run_cli(fill(BASE + EMB + ["--task", "embedding"], files, link), capsys)
    assert_one_line_error(code, err, "symbolic link")
    assert link.is_symlink()


def test_results_file_gets_the_umask_mode(files, tmp_path, capsys):
    out = tmp_path / "mode.json"
    old = os.umask(0o022)
    try:
        code, _, err = run_cli(fill(BASE + EMB + ["--task", "embedding"], files, out), capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o644


def test_overwrite_keeps_the_old_files_mode(files, tmp_path, capsys):
    out = tmp_path / "kept.json"
    out.write_text("OLD")
    out.chmod(0o640)
    argv = fill(BASE + EMB + ["--task", "embedding", "--overwrite"], files, out)
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o640 and out.read_text() != "OLD"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_folder_fails_before_work(files, tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        argv = fill(BASE + EMB + ["--task", "embedding"], files, folder / "x.json")
        code, _, err = run_cli(argv, capsys)
    finally:
        folder.chmod(0o700)
    assert_one_line_error(code, err, "not writable")


# --------------------------------------------------------------------------------------------
# the Python API: the same checks, as CZBenchError
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(files):
    from czbench.datasets import load

    adata = load(files["small"])
    return adata, np.asarray(adata.obsm["X_emb"], dtype=np.float32)


def _benchmark(adata, embeddings, **kwargs):
    from czbench.run import benchmark

    kwargs.setdefault("tasks", ["embedding"])
    return benchmark(adata, embeddings, **kwargs)


def _values(result) -> list[float]:
    return [r["value"] for r in result.document["results"]]


API_ERRORS = [
    ("complex-array", lambda a, x: _benchmark(a, [x.astype(np.complex64)]), "complex"),
    ("complex-tensor", lambda a, x: _benchmark(a, [torch.tensor(x, dtype=torch.complex64)]),
     "complex"),
    ("bool-tensor", lambda a, x: _benchmark(a, [torch.tensor(x > 0)]), "booleans"),
    ("object-array", lambda a, x: _benchmark(a, [x.astype(object)]), "expected numbers"),
    ("one-dim", lambda a, x: _benchmark(a, [x[:, 0]]), "2-D"),
    ("wrong-rows", lambda a, x: _benchmark(a, [x[:-1]]), f"has {N - 1} rows"),
    ("nan", lambda a, x: _benchmark(a, [np.where(x > 1, np.nan, x)]), "NaN"),
    ("constant", lambda a, x: _benchmark(a, [np.full_like(x, 3.0)]), "constant embedding"),
    ("zeros-tensor", lambda a, x: _benchmark(a, [torch.zeros(N, 4)]), "constant embedding"),
    ("frame-range-index", lambda a, x: _benchmark(a, [pd.DataFrame(x)]),
     "index does not match the dataset's cell names"),
    ("frame-missing-cells", lambda a, x: _benchmark(
        a, [pd.DataFrame(x[:-1], index=a.obs_names[:-1])]), "1 cells missing"),
    ("frame-duplicated-index", lambda a, x: _benchmark(
        a, [pd.DataFrame(x, index=[a.obs_names[0]] * N)]), "duplicated index"),
    ("frame-text-column", lambda a, x: _benchmark(
        a, [pd.DataFrame({"a": ["x"] * N, "b": x[:, 0]}, index=a.obs_names)]), "non-numeric"),
    ("seed-float", lambda a, x: _benchmark(a, [x], seed=3.7), "seed: expected an integer"),
    ("seed-negative", lambda a, x: _benchmark(a, [x], seed=-1), "seed: expected an integer"),
    ("seed-too-large", lambda a, x: _benchmark(a, [x], seed=2**32), "seed: expected"),
    ("seed-bool", lambda a, x: _benchmark(a, [x], seed=True), "seed: expected an integer"),
    ("seed-text", lambda a, x: _benchmark(a, [x], seed="1"), "seed: expected an integer"),
    ("seeds-empty", lambda a, x: _benchmark(a, [x], seeds=[]), "seeds"),
    ("seeds-repeated", lambda a, x: _benchmark(a, [x], seeds=[1, 1]), "distinct"),
    ("seeds-string", lambda a, x: _benchmark(a, [x], seeds="1,2"), "seeds"),
    ("task-twice", lambda a, x: _benchmark(a, [x], tasks=["embedding", "embedding"]),
     "given twice"),
    ("task-unknown", lambda a, x: _benchmark(a, [x], tasks=["nope"]), "unknown task"),
    ("reserved-name", lambda a, x: _benchmark(a, {"baseline:mine": x}), "reserved"),
    ("embeddings-string", lambda a, x: _benchmark(a, "obsm:X_emb"), "expected a list"),
    ("h5ad-as-embedding", lambda a, x: _benchmark(a, ["some.h5ad"]), r"\.h5ad file"),
    ("option-text", lambda a, x: _benchmark(a, [x], tasks=["clustering"], task_options={
        "clustering": {"n_neighbors": "abc"}}), "n_neighbors: expected an integer"),
    ("option-unknown", lambda a, x: _benchmark(a, [x], task_options={
        "embedding": {"k": 3}}), "has no option 'k'"),
    ("knn-backend", lambda a, x: _benchmark(a, [x], knn_backend="annoy"), "knn_backend"),
    ("label-key-constant", lambda a, x: _benchmark(a, [x], label_key="const"),
     "at least 2 distinct"),
    ("dataset-not-anndata", lambda a, x: _benchmark(x, [x]), "dataset"),
]


@pytest.mark.parametrize("call,pattern", [c[1:] for c in API_ERRORS],
                         ids=[c[0] for c in API_ERRORS])
def test_api_error_is_a_czbench_error(call, pattern, data):
    adata, x = data
    with pytest.raises(CZBenchError, match=pattern) as info:
        call(adata, x)
    assert "\n" not in str(info.value)


def test_scale_does_not_change_a_score(data):
    """Every embedding metric is scale-invariant by definition, and so in practice: x 1e-30 and
    x 1e20 (float32 squared distances would underflow / overflow) score as x does."""
    adata, x = data
    tasks = ["clustering", "embedding", "batch_integration"]

    def values(embedding, stable_only=True):
        rows = _benchmark(adata, [embedding], tasks=tasks).document["results"]
        # kBET's protocol has cliffs (a label scores 0 when its graph falls apart), so a
        # rounding-level change can move it: docs/differences.md; compared bit for bit below
        return [r["value"] for r in rows if not (stable_only and
                                                 r["metric"] == "kbet_per_label")]

    plain = values(x)
    for factor in (1e-30, 1e-12, 1e12, 1e20):
        scaled = values(x.astype(np.float64) * factor)
        assert scaled == pytest.approx(plain, abs=1e-5), factor  # float32 rounding
    exact = values(x * np.float32(2.0**-80), stable_only=False)
    assert exact == values(x, stable_only=False)  # a power of two: bit for bit, kBET too


def test_dataframe_rows_are_matched_by_cell_name(data):
    adata, x = data
    frame = pd.DataFrame(x, index=adata.obs_names)
    permuted = frame.sample(frac=1.0, random_state=1)
    assert _values(_benchmark(adata, [permuted], tasks=["clustering"])) == \
        _values(_benchmark(adata, [x], tasks=["clustering"]))


def test_half_precision_tensors_are_scored_as_float32(data):
    adata, x = data
    for dtype in (torch.bfloat16, torch.float16):
        tensor = torch.tensor(x).to(dtype)
        got = _values(_benchmark(adata, [tensor]))
        want = _values(_benchmark(adata, [tensor.float().numpy()]))
        assert got == pytest.approx(want, abs=1e-6)


def test_the_same_array_twice_is_two_inputs_not_two_seeds(data):
    adata, x = data
    doc = _benchmark(adata, [x, x]).document
    assert [e["source"] for e in doc["embeddings"]] == ["array:0", "array:1"]
    assert all(row["n"] == 1 and row["std"] is None for row in doc["summary"])


def test_a_continuous_label_column_warns_and_the_warning_is_recorded(data):
    adata, x = data
    with pytest.warns(UserWarning, match="is it a continuous column"):
        doc = _benchmark(adata, [x], tasks=["clustering"], label_key="cont").document
    assert any("continuous" in w for e in doc["embeddings"] for w in e["warnings"])


def test_too_few_cells_for_the_neighbourhood_warns(data):
    from czbench.tasks import get_task

    adata, x = data
    obs = pd.DataFrame({"cell_type": ["a", "a", "b", "b", "b"], "batch": list("xyxyx")})
    with pytest.warns(UserWarning, match="needs 200 neighbours per cell but the input has 5"):
        get_task("batch_integration", metrics="entropy_per_cell,batch_silhouette").run(x[:5],
                                                                                      obs)


def test_estimator_on_three_cells_is_an_error_not_zero():
    from czbench.estimators import ClusteringBenchmark

    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(CZBenchError, match="every cell has its own value"):
        ClusteringBenchmark().fit(X, ["a", "b", "c"]).score(X, ["a", "b", "c"])


def test_callback_options_are_checked_at_construction():
    from czbench.callbacks import BenchmarkCallback

    for kwargs, pattern in (({"max_cells": "lots"}, "max_cells"),
                            ({"every_n_epochs": 0}, "every_n_epochs"),
                            ({"warn_fraction": "x"}, "warn_fraction"),
                            ({"tasks": ["nope"]}, "unknown task")):
        with pytest.raises(CZBenchError, match=pattern):
            BenchmarkCallback(**kwargs)


def test_report_refuses_bad_files(files, tmp_path, capsys):
    import json

    from czbench.run import benchmark

    adata_path = files["small"]
    good = benchmark(adata_path, {"mine": files["emb"]}, tasks=["embedding"])
    path = good.write_json(tmp_path / "good.json")
    doc = json.loads(path.read_text())
    variants = {
        "string-value": lambda d: d["results"][0].update(value="0.5"),
        "bool-value": lambda d: d["results"][0].update(value=True),
        "version-99": lambda d: d.update(schema_version=99),
        "no-results": lambda d: d.pop("results"),
        "no-dataset": lambda d: d.pop("dataset"),
    }
    for name, change in variants.items():
        broken = json.loads(json.dumps(doc))
        change(broken)
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(broken))
        code, _, err = run_cli(["report", str(bad), "--output", str(tmp_path / name)], capsys)
        assert_one_line_error(code, err, "results")
        assert not (tmp_path / name).exists()
    for name, text in (("not-json", "{"), ("a-list", "[1, 2]")):
        bad = tmp_path / f"{name}.json"
        bad.write_text(text)
        code, _, err = run_cli(["report", str(bad), "--output", str(tmp_path / name)], capsys)
        assert_one_line_error(code, err, "results")


def test_a_damaged_run_directory_record_is_named(files, tmp_path, capsys):
    run_dir = tmp_path / "rd"
    argv = ["run", "--dataset", files["small"], "--embedding", files["emb"], "--task",
            "embedding,clustering", "--run-dir", str(run_dir), "--output",
            str(tmp_path / "a.json"), "--quiet"]
    assert run_cli(argv, capsys)[0] == 0
    record = sorted(run_dir.rglob("cells/**/embedding.json"))[0]
    record.write_text("{ damaged")
    argv[-2] = str(tmp_path / "b.json")
    code, _, err = run_cli(argv + ["--resume"], capsys)
    assert_one_line_error(code, err, re.escape(str(record)) + " is damaged")
    assert not (tmp_path / "b.json").exists()


def test_ctrl_c_is_one_line_and_writes_nothing(files, tmp_path, capsys, monkeypatch):
    import czbench.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(czbench.run, "run_config", interrupted)
    out = tmp_path / "c.json"
    code, _, err = run_cli(fill(BASE + EMB, files, out), capsys)
    assert code == 130 and err.strip().startswith("interrupted:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_obs_and_obsm_only_dataset_runs(files, tmp_path, capsys):
    out = tmp_path / "nox.json"
    code, _, err = run_cli(["run", "--dataset", files["no_x"], "--embedding", "obsm:X_emb",
                            "--task", "embedding", "--output", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert out.exists()


def test_named_embeddings_on_the_command_line(files, tmp_path, capsys):
    import json

    out = tmp_path / "named.json"
    code, _, err = run_cli(["run", "--dataset", files["small"], "--embedding",
                            f"mine={files['emb']},scaled={files['tiny']}", "--task", "embedding",
                            "--output", str(out), "--quiet"], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    values = {r["embedding"]: r["value"] for r in doc["results"]}
    assert set(values) == {"mine", "scaled"}
    assert values["mine"] == pytest.approx(values["scaled"], abs=1e-6)
