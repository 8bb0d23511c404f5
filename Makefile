# The README's two commands. Each one works on a fresh clone by itself.
#   make run   - benchmark the PCA baseline on the default shipped dataset
#   make test  - install the dev extras and run the whole test suite (in file order; the suite
#                also passes shuffled by pytest-randomly: `.venv/bin/python -m pytest`)
#
# TORCH_SPEC picks the torch build installed before czbench. The default is the CPU build;
# GPU users pass their own pip arguments, e.g. TORCH_SPEC="torch==2.13.0 --index-url URL".

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.czbench-installed

.PHONY: run test install lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/czbench run --controls --output results/pbmc_3chemistries_symphony.json --overwrite

test: $(STAMP)
	$(PY) -m pytest -q -p no:randomly

lint: $(STAMP)
	$(VENV)/bin/ruff check czbench tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/bench_tasks.py

clean:
	rm -rf $(VENV) results .pytest_cache
