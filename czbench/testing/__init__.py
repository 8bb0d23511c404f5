"""A conformance kit for contributed assets, like scikit-learn's ``check_estimator``.

>>> from czbench.testing import check_task, check_metric, check_dataset, check_model
>>> check_task(MyTask)                          # doctest: +SKIP
>>> report = check_metric("bras", raise_on_failure=False)   # doctest: +SKIP

Each ``check_*`` runs every check of its asset's contract, even after a failure, and raises
:class:`ConformanceError` listing each failed check on one line with what to fix (or, with
``raise_on_failure=False``, returns the :class:`ConformanceReport`). :func:`example_data` is
the synthetic dataset ``check_task`` uses by default.
"""

from czbench.testing.data import example_data, spatial_example_data
from czbench.testing.dataset_checks import check_dataset
from czbench.testing.metric_checks import check_metric
from czbench.testing.model_checks import check_model
from czbench.testing.report import ConformanceError, ConformanceReport
from czbench.testing.task_checks import check_task

__all__ = ["ConformanceError", "ConformanceReport", "check_dataset", "check_metric",
           "check_model", "check_task", "example_data", "spatial_example_data"]
