"""scikit-learn front doors to the benchmark tasks: estimators for Pipelines and model selection.

>>> from sklearn.decomposition import PCA
>>> from sklearn.model_selection import GridSearchCV, KFold
>>> from sklearn.pipeline import Pipeline
>>> from czbench.estimators import ClusteringBenchmark
>>> pipe = Pipeline([("pca", PCA(random_state=0)), ("bench", ClusteringBenchmark())])
>>> search = GridSearchCV(pipe, {"pca__n_components": [10, 20]},
...                       cv=KFold(3, shuffle=True, random_state=0))
>>> search.fit(X, cell_types)                                   # doctest: +SKIP

Each estimator is a thin wrapper: it validates its inputs, builds the cells' obs table from
``y`` (cell types, times or conditions) and ``batch`` / ``species``, and calls the core task
from ``czbench.tasks`` (no metric is computed here). Task options are the estimators'
parameters, with the tasks' defaults; ``random_state`` is the seed of the run's
:class:`~czbench.context.RunContext`.

* ``ClusteringBenchmark``, ``EmbeddingBenchmark``, ``BatchIntegrationBenchmark``,
  ``SequentialOrganizationBenchmark`` and the cross-species ones score the embedding ``X``
  itself: ``fit`` runs the task on ``X`` and stores ``results_``; ``score`` runs it on the given
  ``X`` and returns the primary metric (``primary_metric``).
* ``LabelPredictionBenchmark`` is a classifier: ``fit`` trains the task's classifiers on ``X, y``
  (small classes dropped) and stores the task's cross-validated ``results_``; ``predict``,
  ``predict_proba`` and ``score`` (accuracy) use ``primary_classifier``.
* ``ReplicateRetrievalBenchmark`` scores profiles ``X`` (Cell Painting wells, pseudo-bulks)
  by how well each perturbation's replicates (``y``) are retrieved ahead of the controls.
* ``TaskBenchmark("name")`` runs any registered embedding task -- plugins' included -- with
  ``y`` as its target column and ``batch`` as its ``batch_key``.
* ``NicheCompositionBenchmark`` and ``SpatialDomainsBenchmark`` score an embedding of cells
  whose coordinates are passed as ``spatial``.
* ``PerturbationExpressionPredictionBenchmark`` learns the ground truth from counts in ``fit``
  and scores predicted expression in ``score``.

See docs/estimators.md.
"""

from __future__ import annotations

from czbench.estimators.base import InputTypeError, results_frame
from czbench.estimators.cross_species import (
    CrossSpeciesIntegrationBenchmark,
    CrossSpeciesLabelPredictionBenchmark,
)
from czbench.estimators.embedding_scores import (
    BatchIntegrationBenchmark,
    ClusteringBenchmark,
    EmbeddingBenchmark,
)
from czbench.estimators.generic import TaskBenchmark
from czbench.estimators.label_prediction import LabelPredictionBenchmark
from czbench.estimators.perturbation import PerturbationExpressionPredictionBenchmark
from czbench.estimators.retrieval import ReplicateRetrievalBenchmark
from czbench.estimators.sequence import SequenceClassificationBenchmark
from czbench.estimators.sequential import SequentialOrganizationBenchmark
from czbench.estimators.spatial import NicheCompositionBenchmark, SpatialDomainsBenchmark

__all__ = [
    "BatchIntegrationBenchmark",
    "ClusteringBenchmark",
    "CrossSpeciesIntegrationBenchmark",
    "CrossSpeciesLabelPredictionBenchmark",
    "EmbeddingBenchmark",
    "InputTypeError",
    "LabelPredictionBenchmark",
    "NicheCompositionBenchmark",
    "PerturbationExpressionPredictionBenchmark",
    "ReplicateRetrievalBenchmark",
    "SequenceClassificationBenchmark",
    "SequentialOrganizationBenchmark",
    "SpatialDomainsBenchmark",
    "TaskBenchmark",
    "results_frame",
]
