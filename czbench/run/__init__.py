"""The run layer: plan a grid, execute it (serially or on Dask), keep run directories, and
build the one results document.

* :func:`benchmark`, :func:`benchmark_grid` (:mod:`.api`) -- the entry points; they build a
  :class:`RunConfig` (:mod:`.config`: the run's frozen, validated settings) and call
  :func:`run_config`.
* :mod:`.plan` -- datasets, tasks and inputs checked before any work.
* :mod:`.inputs` -- what is scored: identities, kinds (embedding / expression), baselines.
* :mod:`.execute`, :mod:`.rundir` -- cells, serial or Dask, resumable run directories.
* :mod:`.score` -- one input on its tasks, one shared kNN graph (also used by the callback).
* :mod:`.document`, :mod:`.summary`, :mod:`.result` -- the results document and its views.
"""

from czbench.run.api import benchmark, benchmark_grid, run_config
from czbench.run.config import RunConfig, check_seeds
from czbench.run.document import read_json, strip_volatile, validate, write_json
from czbench.run.result import BenchmarkResult

__all__ = ["BenchmarkResult", "RunConfig", "benchmark", "benchmark_grid", "check_seeds",
           "read_json", "run_config",
           "strip_volatile", "validate", "write_json"]
