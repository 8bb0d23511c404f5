"""The sequence modality's data layer: DNA encodings against brute force, sequence files, the
shipped splice dataset's numbers, hostile inputs (one-line errors or documented behaviour)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import czbench.datasets as ds
from czbench.baselines.sequence import gc_baseline, kmer_baseline, onehot_baseline
from czbench.datasets.dna import (
    check_sequences,
    dinucleotide_counts,
    dinucleotide_shuffle,
    gc_content,
    kmer_spectrum,
    one_hot,
    reverse_complement,
)
from czbench.errors import CZBenchWarning, InputError

SPLICE = "splice_junctions_primate_uci"


@pytest.fixture(scope="module")
def splice():
    return ds.load(SPLICE)


def test_kmer_spectrum_matches_brute_force_counts():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (3, 17, 60)] + ["ACGNNACGTA"]
    for k in (1, 2, 3):
        words = ["".join(w) for w in itertools.product("ACGT", repeat=k)]
        got = kmer_spectrum(seqs, k)
        for row, seq in zip(got, seqs, strict=True):
            counts = np.array([sum(seq[i:i + k] == w for i in range(len(seq) - k + 1))
                               for w in words], dtype=float)
            np.testing.assert_allclose(row, counts / counts.sum(), rtol=1e-6)
    assert kmer_spectrum(["AC"], 3).sum() == 0  # shorter than k: no k-mer, a zero row
    with pytest.raises(InputError, match="^k: "):
        kmer_spectrum(["ACGT"], 0)


def test_one_hot_pads_masks_and_spreads_ambiguity_codes():
    x, mask = one_hot(["ACGT", "NR", "T"])
    assert x.shape == (3, 4, 4) and mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0],
                                                       [1, 0, 0, 0]]
    np.testing.assert_array_equal(x[0], np.eye(4))
    np.testing.assert_allclose(x[1, :, 0], 0.25)
    np.testing.assert_allclose(x[1, :, 1], [0.5, 0, 0.5, 0])  # R = A or G
    assert x[2, :, 1:].sum() == 0 and np.allclose(x.sum(axis=1), mask)


def test_gc_and_revcomp():
    np.testing.assert_allclose(gc_content(["GGCC", "ATAT", "GANT"]), [1.0, 0.0, 1 / 3])
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement(reverse_complement("ACGRYT")) == "ACGRYT"
    with pytest.warns(CZBenchWarning, match="no A, C, G or T"):
        assert gc_content(["NNNN"])[0] == 0.5


def test_dinucleotide_shuffle_preserves_dinucleotide_counts():
    rng = np.random.default_rng(1)
    changed = 0
    for n in (3, 5, 20, 60, 300):
        seq = "".join(rng.choice(list("ACGTN"), n, p=[.3, .2, .2, .25, .05]))
        for _ in range(5):
            out = dinucleotide_shuffle(seq, rng)
            assert dinucleotide_counts(out) == dinucleotide_counts(seq)
            assert out[0] == seq[0] and out[-1] == seq[-1] and len(out) == len(seq)
            changed += out != seq
    assert changed > 15  # it shuffles
    a = dinucleotide_shuffle("ACGTTGCAACGT" * 5, np.random.default_rng(7))
    assert a == dinucleotide_shuffle("ACGTTGCAACGT" * 5, np.random.default_rng(7))


def test_splice_dataset_matches_its_page(splice):
    assert splice.shape == (3190, 0)
    meta = splice.uns["czbench"]
    assert meta["modality"] == "sequence" and meta["row_unit"] == "sequence"
    assert meta["sequence_lengths"] == {"min": 60, "median": 60, "max": 60}
    assert splice.obs["cell_type"].value_counts().to_dict() == {"N": 1655, "IE": 768, "EI": 767}
    # the page's GC means per class, from obs['gc_content'] and from our baseline
    gc = gc_baseline(splice)[:, 0]
    np.testing.assert_allclose(gc, splice.obs["gc_content"].to_numpy(), atol=1e-6)
    means = {c: round(float(gc[splice.obs["cell_type"] == c].mean()), 3) for c in
             ("EI", "IE", "N")}
    assert means == {"EI": 0.560, "IE": 0.530, "N": 0.507}
    onehot = onehot_baseline(splice)
    assert onehot.shape == (3190, 240)
    donors = (splice.obs["cell_type"] == "EI").to_numpy()
    gt = (onehot[:, 30 * 4 + 2] == 1) & (onehot[:, 31 * 4 + 3] == 1)  # G at 31, T at 32
    assert round(gt[donors].mean() * 100, 2) == 98.96
    assert kmer_baseline(splice, kmer_k=2).shape == (3190, 16)


def test_hostile_sequences():
    with pytest.warns(CZBenchWarning, match="lower-case"):
        assert check_sequences(["acgtNNNN", "ACGT"]) == ["ACGTNNNN", "ACGT"]
    with pytest.raises(InputError, match=r"^sequence: row #1 contains U \(RNA\)"):
        check_sequences(["ACGT", "ACGU"])
    with pytest.raises(InputError, match="^sequence: row 'b' is an empty sequence"):
        check_sequences(["ACGT", "  "], names=["a", "b"])
    with pytest.raises(InputError, match="^sequence: row #0 contains '-'"):
        check_sequences(["AC-GT"])
    with pytest.raises(InputError, match="is not a string"):
        check_sequences([float("nan")])
    long = "ACGT" * 25_000  # 100 kb: k-mers and GC fine, one-hot refused beyond the limit
    assert kmer_spectrum([long], 4).sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match="use baseline:kmer"):
        one_hot([long] * 600)


def test_sequence_files(tmp_path):
    fasta = tmp_path / "mine.fa"
    fasta.write_text(">s1 label=EI some words\nacgtac\nGT\n>s2 label=N\nACGTNN\n"
                     ">s3 label=N\nGGGCCC\n>s4 label=EI\nTTTAAA\n")
    with pytest.warns(CZBenchWarning, match="lower-case"):
        adata = ds.load(fasta)
    assert adata.uns["czbench"]["modality"] == "sequence"
    assert adata.obs["sequence"].tolist()[0] == "ACGTACGT"
    assert adata.obs["cell_type"].tolist() == ["EI", "N", "N", "EI"]
    assert adata.obs.loc["s1", "description"] == "some words"
    assert adata.uns["czbench"]["sequence_lengths"] == {"min": 6, "median": 6, "max": 8}
    fasta.write_text(">s1\nACGT\n>s2\nACGA\n>s1\nAAAA\n")
    with pytest.raises(InputError, match="FASTA ID 's1' twice"):
        ds.load(fasta)
    fasta.write_text(">s1\nACGU\n>s2\nACGT\n")
    with pytest.raises(InputError, match="U \\(RNA\\)"):
        ds.load(fasta)
    table = tmp_path / "mine.tsv"
    table.write_text("id\tseq\tclass\na\tACGT\tx\nb\tTTGA\ty\n")
    adata = ds.load(table, sequence_key="seq", label_key="class")
    assert adata.obs_names.tolist() == ["a", "b"]
    assert adata.obs["sequence"].tolist() == ["ACGT", "TTGA"]
    with pytest.raises(InputError, match="^sequence_key: column 'sequence' not in"):
        ds.load(table)
    with pytest.raises(InputError, match="^sequence_key: only for sequence data"):
        ds.load("pbmc_3chemistries_symphony", sequence_key="x")


def test_from_anndata_hashes_the_sequences(splice):
    a = ds.from_anndata(splice[:50].copy(), modality="sequence")
    b = splice[:50].copy()
    b.obs["sequence"] = b.obs["sequence"].str.replace("A", "C", n=1)
    assert a.uns["czbench"]["sha256"] != ds.from_anndata(b, modality="sequence").uns[
        "czbench"]["sha256"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.modality_of(a).name == "sequence"
