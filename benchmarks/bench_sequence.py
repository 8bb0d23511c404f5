"""Speed of the sequence modality's encodings: k-mer spectrum, one-hot, GC content and the
dinucleotide shuffle, on the splice data (3,190 x 60 nt) and on long random sequences.

Prints one JSON line per (input, encoding): seconds (best of ``--repeats``) and sequences per
second.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_sequence.py --long 20x100000
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

import czbench.datasets as ds
from czbench.datasets.dna import dinucleotide_shuffle, gc_content, kmer_spectrum, one_hot


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", default="20x100000", help="COUNTxLENGTH random sequences")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    count, length = (int(v) for v in args.long.split("x"))
    rng = np.random.default_rng(0)
    inputs = {"splice_60nt": ds.load("splice_junctions_primate_uci").obs["sequence"].tolist(),
              f"random_{length}nt": ["".join(rng.choice(list("ACGT"), length))
                                     for _ in range(count)]}
    for name, seqs in inputs.items():
        encodings = {
            "kmer_k4": lambda s=seqs: kmer_spectrum(s, 4),
            "kmer_k6": lambda s=seqs: kmer_spectrum(s, 6),
            "gc": lambda s=seqs: gc_content(s),
            "onehot": lambda s=seqs: one_hot(s),
            "dinucleotide_shuffle": lambda s=seqs: [
                dinucleotide_shuffle(x, np.random.default_rng(0)) for x in s],
        }
        for encoding, fn in encodings.items():
            seconds = timed(fn, args.repeats)
            print(json.dumps({"input": name, "n": len(seqs), "encoding": encoding,
                              "seconds": round(seconds, 4),
                              "sequences_per_s": round(len(seqs) / seconds, 1),
                              "machine": platform.machine()}))


if __name__ == "__main__":
    main()
