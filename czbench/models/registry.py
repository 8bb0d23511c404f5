"""The model registry: ``model:NAME`` specs and ``--model NAME`` resolve here.

Built-in names are the reference integration methods (imported on first use; each needs the
``czbench[methods]`` extra). ``mlflow:PATH_OR_URI`` loads an MLflow package instead
(:mod:`czbench.models.mlflow_model`). Contributors add theirs with :func:`register_model`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from czbench.errors import InputError
from czbench.registry import Registry, check_name

if TYPE_CHECKING:
    from czbench.models.base import Model

#: built-in models: name -> "module:Class", imported on first use
BUILTIN_MODELS: dict[str, str] = {
    "harmony": "czbench.models.methods.harmony:Harmony",
    "scvi": "czbench.models.methods.scvi:SCVI",
    "scanorama": "czbench.models.methods.scanorama:Scanorama",
    "combat": "czbench.models.methods.combat:Combat",
}
def _adopt(name: str, factory: Any) -> Callable[..., Model]:
    from czbench.models.base import Model

    if not isinstance(name, str) or not name or ":" in name:
        raise InputError(f"model: expected a name without ':', got {name!r}")
    if isinstance(factory, type) and not issubclass(factory, Model):
        raise InputError(f"model '{name}': {factory.__name__} is not a czbench.models.Model "
                         f"subclass")
    if isinstance(factory, type):
        check_name("model", name, getattr(factory, "name", name))
    if not callable(factory):
        raise InputError(f"model '{name}': expected a Model subclass or a factory returning "
                         f"one, got {type(factory).__name__}")
    return factory


REGISTRY: Registry[Callable[..., Model]] = Registry(
    "model", BUILTIN_MODELS, group="czbench.models", adopt=_adopt,
    hint=" (or mlflow:PATH_OR_URI)")
#: spec prefixes that mean a model: ``model:NAME`` and ``mlflow:PATH_OR_URI``
MODEL_PREFIXES = ("model:", "mlflow:")


def register_model(name: str, factory: Callable[..., Model], *,
                   replace: bool = False) -> None:
    """Make ``model:<name>`` (``--model <name>``) build ``factory(**params)`` (or, from a
    package, a ``czbench.models`` entry point)."""
    REGISTRY.register(name, _adopt(name, factory), replace=replace)


def unregister_model(name: str) -> None:
    REGISTRY.unregister(name)


def list_models() -> list[str]:
    """Names of the registered models (``mlflow:URI`` packages are not listed)."""
    return REGISTRY.names()


def check_model_spec(spec: str) -> str:
    """``spec`` as ``model:NAME`` or ``mlflow:URI`` (a bare name means a registered model),
    checked without importing the model; a one-line error otherwise."""
    if spec.startswith("mlflow:"):
        if not spec[len("mlflow:"):].strip():
            raise InputError("model: mlflow: needs a path or URI, e.g. mlflow:./my_model")
        return spec
    name = spec[len("model:"):] if spec.startswith("model:") else spec
    if name not in REGISTRY:
        raise REGISTRY.unknown(name)
    return f"model:{name}"


def model_factory(name: str) -> Callable[..., Model]:
    return REGISTRY.get(name)


def get_model(spec: str | Model, **params: Any) -> Model:
    """A model from a name (``harmony``), ``model:NAME``, ``mlflow:URI`` or an instance."""
    from czbench.models.base import Model

    if isinstance(spec, Model):
        return spec
    if not isinstance(spec, str):
        raise InputError(f"model: expected a name, mlflow:URI or a czbench.models.Model, got "
                         f"{type(spec).__name__}")
    if spec.startswith("mlflow:"):
        from czbench.models.mlflow_model import MLflowModel

        return MLflowModel(spec[len("mlflow:"):], **params)
    name = spec[len("model:"):] if spec.startswith("model:") else spec
    try:
        return model_factory(name)(**params)
    except TypeError as err:
        raise InputError(f"model {name}: {err}") from err
