"""czbench's scib-metrics set equals scib-metrics 0.5.10 itself on the same exact neighbours:
to 1e-3, kBET to 0.01 (benchmarks/scib_parity.py; the reference values were computed by
scib-metrics 0.5.10 and are stored in benchmarks/results/scib_metrics_reference.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "scib_parity.py"


def test_scib_set_equals_scib_metrics_on_exact_neighbours():
    parity = load_script(SCRIPT)
    reference = json.loads(parity.REFERENCE.read_text())
    assert reference["scib_metrics_version"] == "0.5.10"
    ours = parity.czbench_values()
    for case, values in reference["values"].items():
        for metric, expected in values.items():
            tolerance = parity.TOLERANCE.get(metric, parity.DEFAULT_TOLERANCE)
            assert ours[case][metric] == pytest.approx(expected, abs=tolerance), (case, metric)
