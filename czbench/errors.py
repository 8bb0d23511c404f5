"""Errors czbench raises for bad input: one line, naming the field and what was expected."""


class CZBenchError(ValueError):
    """Bad input to czbench (a missing column, a wrong shape, a file that is not h5ad...)."""


class InputError(CZBenchError):
    """An input field does not hold what the task or dataset needs."""
