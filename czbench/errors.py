"""Errors czbench raises: one line, naming the field and what was expected."""


class CZBenchError(ValueError):
    """Bad input to czbench (a missing column, a wrong shape, a file that is not h5ad...)."""


class InputError(CZBenchError):
    """An input field does not hold what the task or dataset needs."""


class MetricError(CZBenchError):
    """A metric could not be computed on these inputs (e.g. it evaluated to NaN)."""


class CZBenchWarning(UserWarning):
    """Something czbench computed is defined but may mislead (recorded in results files)."""
