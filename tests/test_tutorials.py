"""The tutorials in docs/tutorials run top to bottom in a fresh kernel, and are committed
stripped (no outputs, no execution counts).

Every ``docs/tutorials/*.ipynb`` is picked up. Each one runs with nbclient in a kernel of this
interpreter (a kernelspec written for the test, so a ``python3`` kernel registered elsewhere on
the machine is never used), from an empty temporary folder as its working directory and with
``TMPDIR`` in the test's own folder (what the notebooks write is cleaned up with it); a failing
cell fails the test with the cell's source and traceback.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
KERNEL = "python3"
#: an appended cell (never in the committed notebook): the kernel reports its interpreter
WHICH_PYTHON = "import sys; print(sys.prefix)"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A folder of kernelspecs holding ``python3`` = this interpreter (``sys.executable``)."""
    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / KERNEL)
    return kernels


def execute(nb: nbformat.NotebookNode, kernel_dir: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` (in place) in a fresh kernel of this interpreter, in ``cwd``;
    raises :class:`CellExecutionError` at the first failing cell."""
    km = KernelManager(kernel_name=KERNEL,
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = NotebookClient(nb, km=km, timeout=600, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _installed() -> set[str]:
    """Names of the distributions installed in this environment."""
    importlib.invalidate_caches()
    return {d.metadata["Name"] for d in metadata.distributions()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_runs(path, kernel_dir, tmp_path, monkeypatch):
    cwd, scratch = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the kernel's tempfile.mkdtemp() lands here
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHICH_PYTHON))
    before = _installed()
    try:
        execute(nb, kernel_dir, cwd)
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell failed\n{err}", pytrace=False)
    finally:  # a notebook that installs a package (the plugin tutorial) leaves none behind
        left = sorted(_installed() - before)
        if left:
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", *left],
                           check=False)
    prefix = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert Path(prefix).resolve() == Path(sys.prefix).resolve(), \
        f"the kernel ran {prefix}, not this interpreter's environment {sys.prefix}"
    assert list(cwd.iterdir()) == [], "the notebook wrote into its working directory"


def test_a_failing_cell_fails_with_its_error(kernel_dir, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("x / 0")])
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        execute(nb, kernel_dir, tmp_path)


def test_tutorials_are_committed_stripped():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS.relative_to(ROOT)}"
    dirty = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL, path.name
        for number, cell in enumerate(nb.cells, 1):
            if cell.cell_type != "code":
                continue
            if cell.outputs or cell.execution_count is not None:
                dirty.append(f"{path.name}: cell {number}")
    assert not dirty, "notebooks with outputs or execution counts (clear them before " \
                      "committing):\n" + "\n".join(dirty)
