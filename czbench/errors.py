"""Errors czbench raises: one line, naming the field and what was expected."""


class CZBenchError(ValueError):
    """Bad input to czbench (a missing column, a wrong shape, a file that is not h5ad...)."""


class InputError(CZBenchError):
    """An input field does not hold what the task or dataset needs."""


class MetricError(CZBenchError):
    """A metric could not be computed on these inputs (e.g. it evaluated to NaN)."""


class CZBenchWarning(UserWarning):
    """Something czbench computed is defined but may mislead (recorded in results files)."""


def describe_error(err: BaseException) -> str:
    """``ExceptionType: first line of the message`` (an error reported on one line)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
