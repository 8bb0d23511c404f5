"""What the hostile modules share: run the CLI in-process and assert a one-line error
(``from hostile_helpers import ...``: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import re

import numpy as np

from czbench.cli import main
from czbench.datasets.synthetic import gaussian_mixture


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, err
    assert re.search(pattern, errors[0]), errors[0]


def small_files(root) -> dict[str, str]:
    """A 200-cell dataset (.h5ad) and its embedding (.npy) under ``root``."""
    adata = gaussian_mixture(200, 8, n_types=4, n_batches=2, seed=3)
    paths = {"small": str(root / "small.h5ad"), "emb": str(root / "emb.npy")}
    adata.write_h5ad(paths["small"])
    np.save(paths["emb"], adata.obsm["X_emb"].astype(np.float32))
    return paths
