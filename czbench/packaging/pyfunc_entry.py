"""The model code of a czbench package (MLflow "models from code"): ``package_model`` hands this
file to ``mlflow.pyfunc.save_model``, which copies it into the package and runs it on loading.
Nothing is pickled, so a package loads under any Python that has czbench installed."""

from mlflow.models import set_model

from czbench.packaging.embedder import CheckpointEmbedder

set_model(CheckpointEmbedder())
