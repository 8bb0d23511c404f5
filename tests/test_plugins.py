"""Plugins by entry point: discovery, reports, refusals, origins, and the template plugin.

The in-process tests put real distributions (a ``*.dist-info`` folder with ``entry_points.txt``
beside their modules) on ``sys.path`` -- the mechanism pip's installs use -- and make the
registries discover again. The template test installs ``examples/plugin`` with pip and drives it
from fresh interpreters, as a user would.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import czbench.plugins  # noqa: F401 - every registry imported
from czbench.cli import main
from czbench.registry import REGISTRIES, PluginReport

ROOT = Path(__file__).resolve().parents[1]
PY = Path(sys.executable)

GOOD_MODULE = '''
import numpy as np
from czbench.metrics import MetricInfo
from czbench.models import Model
from czbench.tasks import MetricSpec, Task


def centroid_spread(embedding, labels):
    """Mean distance of the label centroids to their overall mean."""
    labels = np.asarray(labels)
    centres = np.stack([embedding[labels == v].mean(axis=0) for v in np.unique(labels)])
    return float(np.linalg.norm(centres - centres.mean(axis=0), axis=1).mean())


SPREAD = MetricInfo("centroid_spread", centroid_spread, ("embedding", "labels"),
                    "Mean distance of label centroids to their mean")


class SpreadTask(Task):
    name = "centroid_spread_task"
    description = "How far apart the label centroids are"
    metrics = (MetricSpec("centroid_spread", "centroid spread"),)

    def _run(self, values, obs, knn, context):
        from czbench.metrics import compute
        value = compute("centroid_spread", values, labels=obs[self.label_key].to_numpy())
        return self._output([self._result("centroid_spread", value)])


class NotATask:
    name = "not_a_task"


class NeedsArgsTask(SpreadTask):
    name = "needs_args_task"

    def __init__(self, label_key):
        self.label_key = label_key


class Rows(Model):
    name = "rows_model"

    def _embed(self, adata, seed):
        return np.asarray(adata.X[:, :4].todense())
'''


def _distribution(site: Path, name: str, version: str, groups: dict[str, dict[str, str]],
                  modules: dict[str, str]) -> None:
    """Write an installed distribution into ``site``: its modules and its dist-info."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        for group, points in groups.items()))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A site folder with a good plugin, a broken one, one colliding with a built-in and two
    claiming the same name; registries rediscover, and are restored afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    _distribution(site, "good-plugin", "1.2.0", {
        "czbench.metrics": {"centroid_spread": "good_plugin_mod:SPREAD"},
        "czbench.tasks": {"centroid_spread_task": "good_plugin_mod:SpreadTask",
                          "not_a_task": "good_plugin_mod:NotATask",
                          "needs_args_task": "good_plugin_mod:NeedsArgsTask"},
        "czbench.models": {"rows_alias": "good_plugin_mod:Rows"},
    }, {"good_plugin_mod": GOOD_MODULE})
    _distribution(site, "broken-plugin", "0.0.1", {
        "czbench.tasks": {"broken_task": "broken_plugin_mod:BrokenTask",
                          "exiting_task": "exiting_plugin_mod:Task"},
        "czbench.models": {"broken_model": "broken_plugin_mod:Model"},
    }, {"broken_plugin_mod": "import a_package_that_is_not_installed\n",
        "exiting_plugin_mod": "raise SystemExit('configuration missing')\n"})
    _distribution(site, "greedy-plugin", "2.0", {
        "czbench.tasks": {"clustering": "good_plugin_mod:SpreadTask"},
        "czbench.datasets": {"shared_name": "good_plugin_mod:SPREAD"},
    }, {})
    _distribution(site, "rival-plugin", "1.0", {
        "czbench.datasets": {"shared_name": "good_plugin_mod:SPREAD"},
    }, {})
    states = {kind: registry.snapshot() for kind, registry in REGISTRIES.items()}
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    for registry in REGISTRIES.values():
        registry.restore_builtins()
    yield site
    for kind, state in states.items():
        REGISTRIES[kind].restore(state)
    for module in ("good_plugin_mod", "broken_plugin_mod", "exiting_plugin_mod"):
        sys.modules.pop(module, None)


def _reports() -> dict[str, PluginReport]:
    return {f"{r.distribution}/{r.name}": r for r in czbench.plugins.list_plugins()}


def test_a_working_plugin_is_loaded_with_its_origin(plugins):
    from czbench.metrics.registry import REGISTRY as METRICS
    from czbench.tasks import list_tasks, task_class
    from czbench.tasks.registry import REGISTRY as TASKS

    assert "centroid_spread_task" in list_tasks()
    assert task_class("centroid_spread_task").__module__ == "good_plugin_mod"
    origin = TASKS.origin("centroid_spread_task")
    assert (origin.source, origin.distribution, origin.version) == ("plugin", "good-plugin",
                                                                    "1.2.0")
    assert METRICS.origin("centroid_spread").entry_point == "good_plugin_mod:SPREAD"
    reports = _reports()
    assert reports["good-plugin/centroid_spread_task"].status == "loaded"
    assert reports["good-plugin/centroid_spread"].status == "loaded"


def test_broken_and_refused_plugins_are_reported_and_the_rest_works(plugins):
    reports = _reports()
    broken = reports["broken-plugin/broken_task"]
    assert broken.status == "error"
    assert broken.error == "ModuleNotFoundError: No module named 'a_package_that_is_not_installed'"
    assert reports["broken-plugin/broken_model"].status == "error"
    contract = reports["good-plugin/not_a_task"]
    assert contract.status == "error" and "subclass of czbench.tasks.Task" in contract.error
    needs = reports["good-plugin/needs_args_task"]
    assert needs.status == "error" and "needs label_key" in needs.error
    alias = reports["good-plugin/rows_alias"]
    assert alias.status == "error" and "model's own ('rows_model')" in alias.error
    exiting = reports["broken-plugin/exiting_task"]
    assert exiting.error == "SystemExit: configuration missing"
    clash = reports["greedy-plugin/clustering"]
    assert clash.status == "refused" and "built-in task" in clash.error
    for dist in ("greedy-plugin", "rival-plugin"):
        shared = reports[f"{dist}/shared_name"]
        assert shared.status == "refused"
        assert "claimed by greedy-plugin, rival-plugin" in shared.error
    # nothing refused or broken reached a registry, and the built-in clustering is intact
    from czbench.datasets import list_datasets
    from czbench.models import list_models
    from czbench.tasks import task_class

    assert "shared_name" not in list_datasets() and "broken_model" not in list_models()
    assert task_class("clustering").__module__ == "czbench.tasks.clustering"
    # and a run with a plugin task next to a built-in one works
    import czbench

    result = czbench.benchmark("pbmc68k_reduced", embeddings=["obsm:X_pca"],
                               tasks=["centroid_spread_task", "embedding"])
    result = result[0] if isinstance(result, list) else result
    values = {r["metric"]: r["value"] for r in result.document["results"]}
    adata = czbench.datasets.load("pbmc68k_reduced")
    x, labels = adata.obsm["X_pca"], adata.obs["cell_type"].to_numpy()
    centres = np.stack([x[labels == v].mean(axis=0) for v in np.unique(labels)])
    expected = np.linalg.norm(centres - centres.mean(axis=0), axis=1).mean()
    assert values["centroid_spread"] == pytest.approx(expected, rel=1e-5)
    origins = result.document["origins"]
    assert origins["tasks"]["centroid_spread_task"]["distribution"] == "good-plugin"
    assert origins["metrics"]["centroid_spread_task/centroid_spread"]["version"] == "1.2.0"
    assert origins["tasks"]["embedding"]["source"] == "builtin"


def test_cli_lists_plugins_and_origins(plugins, capsys):
    assert main(["list", "plugins"]) in (0, None)
    out = capsys.readouterr().out
    for text in ("broken-plugin", "ModuleNotFoundError", "refused", "loaded", "good-plugin"):
        assert text in out
    assert main(["list", "tasks"]) in (0, None)
    out = capsys.readouterr().out
    assert "plugin: good-plugin 1.2.0" in out and "built-in" in out


def test_plugins_can_be_turned_off(plugins, monkeypatch):
    from czbench.tasks import list_tasks

    monkeypatch.setenv("CZBENCH_DISABLE_PLUGINS", "1")
    for registry in REGISTRIES.values():
        registry.restore_builtins()
    assert "centroid_spread_task" not in list_tasks()
    assert czbench.plugins.list_plugins() == []


def test_register_refuses_a_name_a_plugin_owns(plugins):
    from czbench.errors import InputError
    from czbench.metrics import MetricInfo, register_metric

    with pytest.raises(InputError, match="already registered .plugin: good-plugin 1.2.0"):
        register_metric(MetricInfo("centroid_spread", np.mean, ("embedding",), "x"))


def test_other_threads_wait_for_discovery(tmp_path, monkeypatch):
    """While one thread imports a slow plugin, another looking a name up waits for it instead
    of seeing a half-filled registry."""
    import threading

    from czbench.tasks import task_class

    site = tmp_path / "slow_site"
    site.mkdir()
    _distribution(site, "slow-plugin", "1.0", {
        "czbench.tasks": {"slow_task": "slow_plugin_mod:SlowTask"}}, {"slow_plugin_mod": '''
        import time
        from czbench.tasks.embedding import EmbeddingTask
        time.sleep(0.5)

        class SlowTask(EmbeddingTask):
            name = "slow_task"
        '''})
    state = {kind: registry.snapshot() for kind, registry in REGISTRIES.items()}
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    REGISTRIES["task"].restore_builtins()
    found = {}
    try:
        first = threading.Thread(target=lambda: found.update(a=task_class("slow_task")))
        first.start()
        import time

        time.sleep(0.1)  # the first thread is importing the plugin now
        found["b"] = task_class("slow_task")
        first.join()
        assert found["a"] is found["b"] and found["a"].name == "slow_task"
    finally:
        for kind, saved in state.items():
            REGISTRIES[kind].restore(saved)
        sys.modules.pop("slow_plugin_mod", None)


def test_an_unregistered_task_under_a_builtin_name_is_not_credited_to_czbench():
    import czbench
    from czbench.tasks.embedding import EmbeddingTask

    class MyEmbedding(EmbeddingTask):
        """Not the registered 'embedding' task, though it has its name."""

    result = czbench.benchmark("pbmc68k_reduced", embeddings=["obsm:X_pca"],
                               tasks=[MyEmbedding(batch_key=None)])
    result = result[0] if isinstance(result, list) else result
    origin = result.document["origins"]["tasks"]["embedding"]
    assert origin["source"] == "unregistered"
    assert origin["entry_point"].endswith("MyEmbedding")
    assert result.document["origins"]["metrics"]["embedding/silhouette_score"] == origin


# --------------------------------------------------------------------------------------------
# the template plugin, installed as its own distribution
# --------------------------------------------------------------------------------------------

def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "1000"}  # rich tables unwrapped
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """``pip install -e examples/plugin`` (offline: no build isolation, no dependencies),
    uninstalled afterwards unless it was installed before."""
    from importlib import metadata

    try:
        metadata.version("czbench-plugin-example")
        before = True
    except metadata.PackageNotFoundError:
        before = False
    _run(str(PY), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-e", str(ROOT / "examples" / "plugin"), cwd=ROOT)
    yield tmp_path_factory.mktemp("template")
    if not before:
        _run(str(PY), "-m", "pip", "uninstall", "--quiet", "-y", "czbench-plugin-example",
             cwd=ROOT)


@pytest.mark.slow
def test_template_plugin_from_the_cli(template):
    czbench_cli = PY.parent / "czbench"
    listed = _run(str(czbench_cli), "list", "plugins", cwd=template).stdout
    for name in ("lung_mixology_3cl", "label_knn_purity", "neighbourhood_purity",
                 "random_projection"):
        assert name in listed
    assert listed.count("loaded") == 4 and "czbench-plugin-example" in listed
    datasets = _run(str(czbench_cli), "list", "datasets", cwd=template).stdout
    assert "plugin: czbench-plugin-example 0.1.0" in datasets
    out = template / "run.json"
    _run(str(czbench_cli), "run", "--dataset", "lung_mixology_3cl", "--model",
         "random_projection", "--output", str(out), cwd=template)
    document = json.loads(out.read_text())
    tasks = {r["task"] for r in document["results"]}
    assert "neighbourhood_purity" in tasks and "clustering" in tasks  # the dataset's + defaults
    origins = document["origins"]
    for kind, name in (("datasets", "lung_mixology_3cl"), ("tasks", "neighbourhood_purity"),
                       ("metrics", "neighbourhood_purity/label_knn_purity"),
                       ("models", "random_projection")):
        assert origins[kind][name] == {
            "source": "plugin", "distribution": "czbench-plugin-example", "version": "0.1.0",
            "entry_point": origins[kind][name]["entry_point"]}
    assert origins["tasks"]["clustering"]["source"] == "builtin"
    assert origins["metrics"]["clustering/adjusted_rand_index"]["source"] == "builtin"


@pytest.mark.slow
def test_template_plugin_from_the_api_callback_and_estimator(template):
    done = _run(str(PY), str(ROOT / "tests" / "plugins" / "use_template_plugin.py"),
                cwd=template)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["licence"] == "MIT"
    # 3 well-separated cell lines: PCA's neighbourhoods are near pure, a random projection's
    # less so, both far above the ~0.34 of random neighbours
    assert out["api"]["baseline:pca"] > 0.95
    assert 0.5 < out["api"]["model:random_projection"] < out["api"]["baseline:pca"]
    assert out["estimator"] == out["api"]["model:random_projection"]  # same numbers, bit for bit
    assert out["finite"] and 0.0 < out["callback"]["label_knn_purity"] <= 1.0
    assert out["callback_origins"]["tasks"]["neighbourhood_purity"]["source"] == "plugin"
    assert out["origins"]["baselines"]["pca"]["source"] == "builtin"


@pytest.mark.slow
def test_template_plugin_passes_the_conformance_kit(template):
    _run(str(PY), "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         str(ROOT / "examples" / "plugin" / "tests"), cwd=template)
