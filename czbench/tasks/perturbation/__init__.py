"""The perturbation expression prediction task and what it owns (docs/tasks_perturbation.md).

* :mod:`.task` -- the task; :mod:`.truth` -- its DE ground truth; :mod:`.prediction` -- reading
  and scoring predictions; :mod:`.baselines` -- ``observed``, ``no_change``, ``mean_effect``.
"""

from czbench.tasks.perturbation.baselines import (
    BASELINES,
    baseline_mean_effect,
    baseline_no_change,
    baseline_observed,
)
from czbench.tasks.perturbation.task import PerturbationExpressionPredictionTask, PerturbationTruth
from czbench.tasks.perturbation.truth import (
    EPS,
    TARGET_RULES,
    condition_effect,
    dataset_digest,
    predicted_effect,
    resolve_control,
    resolve_exclude,
)

__all__ = ["BASELINES", "EPS", "TARGET_RULES", "PerturbationExpressionPredictionTask",
           "PerturbationTruth",
           "baseline_mean_effect", "baseline_no_change", "baseline_observed", "condition_effect",
           "dataset_digest", "predicted_effect", "resolve_control", "resolve_exclude"]
