"""Front doors of the sequence modality: SequenceDataModule batches, the callback in a CNN's
loop (the example), the estimator, sequence models (callable, MLflow pyfunc) cached, the
reverse-complement consistency, ``czbench list``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, load_script

import czbench
import czbench.datasets as ds
from czbench.datamodules import SequenceDataModule
from czbench.datasets.dna import kmer_spectrum, one_hot, reverse_complement
from czbench.errors import InputError
from czbench.estimators import SequenceClassificationBenchmark
from czbench.metrics import revcomp_consistency
from czbench.models.sequence import MLflowSequenceModel, SequenceModel, revcomp_consistency_of

SPLICE = "splice_junctions_primate_uci"


@pytest.fixture(scope="module")
def splice():
    return ds.load(SPLICE)


def composition(sequences: list[str]) -> np.ndarray:
    """A strand-symmetric toy model: 2-mer spectrum of s plus that of revcomp(s)."""
    return kmer_spectrum(sequences, 2) + kmer_spectrum([reverse_complement(s) for s in
                                                        sequences], 2)


def test_datamodule_batches_one_hot_with_mask(tmp_path):
    fasta = tmp_path / "v.fa"
    records = [("a", "ACGTAC", "x"), ("b", "GG", "y"), ("c", "TTTTTTTT", "x"),
               ("d", "ACG", "y"), ("e", "CCCA", "x"), ("f", "GGA", "y")]
    fasta.write_text("".join(f">{i} label={lab}\n{s}\n" for i, s, lab in records))
    dm = SequenceDataModule(fasta, batch_size=6, split_fractions=(1.0, 0.0, 0.0))
    dm.setup()
    batch = dm.collate(list(range(6)))
    assert batch["x"].shape == (6, 4, 8) and batch["mask"].shape == (6, 8)
    x, mask = one_hot([s for _, s, _ in records])
    np.testing.assert_array_equal(batch["x"].numpy(), x)
    assert batch["mask"].sum(dim=1).tolist() == [6, 2, 8, 3, 4, 3]
    assert dm.obs_frame({"cell_type": batch["cell_type"].numpy()})["cell_type"].tolist() == \
        [lab for _, _, lab in records]
    assert SequenceDataModule(fasta, length=4).sequence_length == 4
    with pytest.raises(InputError, match="^normalize: does not apply"):
        SequenceDataModule(fasta, normalize=True)
    with pytest.raises(InputError, match="^modality: dataset 'pbmc_3chemistries_symphony'"):
        SequenceDataModule("pbmc_3chemistries_symphony").setup()


def test_cnn_example_trains_with_the_callback_scoring_it():
    example = load_script(ROOT / "examples" / "sequence_cnn.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = example.run(epochs=3, seed=0, max_rows=1200)
    assert set(scores) == {"val_mcc_last_epoch", "cnn_mcc", "kmer_mcc", "cnn_accuracy",
                           "kmer_accuracy"}
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["cnn_mcc"] > 0.2  # three short epochs already find the splice motifs


def test_estimator_with_a_model_reports_revcomp_consistency(splice, tmp_path):
    sub = splice[::10]
    sequences, y = sub.obs["sequence"].tolist(), sub.obs["cell_type"].to_numpy()
    est = SequenceClassificationBenchmark(model=composition, classifiers=("lr",),
                                          random_state=0).fit(sequences, y,
                                                              groups=sub.obs["leakage_group"])
    frame = est.results_
    folds = {p["folds"] for p in frame["params"] if "folds" in p}
    assert folds == {"stratified", "grouped"}
    parts = {p["part"]: v for p, v in zip(frame["params"], frame["value"], strict=True)
             if "part" in p}
    assert parts["paired"] == pytest.approx(1.0)  # strand-symmetric by construction
    assert parts["consistency"] == pytest.approx(1.0 - parts["random"])
    assert est.predict(sequences[:5]).shape == (5,)
    assert 0.3 < est.score(sequences, y) <= 1.0
    plain = SequenceClassificationBenchmark(classifiers=("lr",), random_state=0)
    values = composition(sequences)
    assert plain.fit(values, y).results_["value"].tolist() == \
        est.results_["value"].tolist()[:len(plain.results_)]


def test_revcomp_consistency_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    same = revcomp_consistency(a, a, seed=0)
    assert same["paired"] == pytest.approx(1.0)
    assert same["consistency"] == pytest.approx(1.0 - same["random"])
    unrelated = revcomp_consistency(a, rng.normal(size=(50, 8)), seed=0)
    assert abs(unrelated["consistency"]) < 0.2
    one_strand = revcomp_consistency_of(lambda s: kmer_spectrum(s, 3), ["ACGGTTA" * 5] * 3 +
                                        ["GGGGCCAT" * 4], seed=0)
    assert one_strand["paired"] < 0.9


def test_callable_model_is_cached_and_scored_by_benchmark(splice, tmp_path, monkeypatch):
    monkeypatch.setenv("CZBENCH_CACHE", str(tmp_path / "cache"))
    calls = []

    def fn(sequences):
        calls.append(len(sequences))
        return composition(sequences)

    sub = ds.from_anndata(splice[::12].copy(), modality="sequence")
    model = SequenceModel(fn, model_name="composition", version="1", batch_size=100)
    options = {"sequence_classification": {"classifiers": ("lr",)}}
    first = czbench.benchmark(sub, models=[model], tasks=["sequence_classification"], seed=0,
                              task_options=options)
    assert calls == [100, 100, sub.n_obs - 200]
    second = czbench.benchmark(sub, models=[model], tasks=["sequence_classification"],
                               seed=0, task_options=options)
    assert len(calls) == 3  # read back from the cache
    assert first.to_frame()["value"].tolist() == second.to_frame()["value"].tolist()
    with pytest.raises(InputError, match="^model composition: output has 2 rows"):
        SequenceModel(lambda s: np.zeros((2, 3)), model_name="composition").embed(sub, 0)


def test_mlflow_sequence_package(splice, tmp_path):
    mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")

    class Composition(mlflow_pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
            if "sequence" in model_input:
                return composition(model_input["sequence"].tolist())
            path = model_input["input_uri"].iloc[0]
            lines = Path(path).read_text().splitlines()
            seqs = [line.strip() for line in lines if not line.startswith(">")]
            return composition(seqs)

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    folder = tmp_path / "pkg"
    mlflow_pyfunc.save_model(str(folder), python_model=Composition(),
                             pip_requirements=["numpy"])  # no environment inference
    sub = ds.from_anndata(splice[::50].copy(), modality="sequence")
    expected = composition(sub.obs["sequence"].tolist())
    for kind in ("sequence", "fasta"):
        model = MLflowSequenceModel(str(folder), input=kind)
        np.testing.assert_allclose(model.embed(sub, 0), expected, rtol=1e-6)
    with pytest.raises(InputError, match="^input: expected one of sequence, fasta"):
        MLflowSequenceModel(str(folder), input="h5ad")


def test_list_datasets_shows_the_sequence_modality(capsys):
    from czbench.cli import main

    main(["list", "datasets"])
    out = capsys.readouterr().out
    assert "splice_junctions_primate_uci" in out.replace("\n", "") or "splice_junctio" in out
    assert "sequence" in out
    main(["list", "modalities"])
    assert "sequence" in capsys.readouterr().out
    assert pd.notna(ds.summary().loc[SPLICE, "modality"])


def test_cli_runs_a_fasta_and_refuses_rna_in_one_line(tmp_path, capsys):
    from czbench.cli import main

    rng = np.random.default_rng(0)
    motif = {"x": "GT", "y": "AG"}
    lines = []
    for i in range(24):
        label = "xy"[i % 2]
        left, right = ("".join(rng.choice(list("ACGT"), 9)) for _ in range(2))
        lines.append(f">s{i} label={label}\n{left}{motif[label]}{right}\n")
    fasta = tmp_path / "mine.fasta"
    fasta.write_text("".join(lines))
    out = tmp_path / "mine.json"
    main(["run", "--dataset", str(fasta), "--embedding", "baseline:onehot,baseline:gc",
          "--option", 'sequence_classification.classifiers=["lr"]', "--output", str(out),
          "--quiet"])
    text = capsys.readouterr().out
    assert "24 sequences" in text and out.is_file()
    table = tmp_path / "rna.csv"
    table.write_text("id,seq,class\na,ACGU,x\nb,ACGT,y\n")
    assert main(["run", "--dataset", str(table), "--sequence-key", "seq", "--label-key",
                 "class", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "contains U (RNA)" in err[0]


def test_two_different_callables_never_share_an_identity():
    a = SequenceModel(lambda s: kmer_spectrum(s, 2))
    b = SequenceModel(lambda s: kmer_spectrum(s, 3))
    assert a.identity()["sha256"] != b.identity()["sha256"]
    assert SequenceModel(composition).identity() == SequenceModel(composition).identity()
    assert SequenceModel(composition).params()["model_name"] == "composition"
