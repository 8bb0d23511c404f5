"""The conformance report, its error, and the runner that records each check's outcome.

Every check runs even when an earlier one failed: an unexpected exception in a check is that
check's failure (its type and the first line of its message), never the end of the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from czbench.errors import describe_error as _describe

T = TypeVar("T")


class ConformanceError(AssertionError):
    """Raised by ``check_*`` when a check fails; the message lists every failed check, one line
    each: ``- <check>: <what went wrong>; fix: <what to do>``. ``report`` holds the details."""

    def __init__(self, report: ConformanceReport) -> None:
        self.report = report
        super().__init__(report.message())


@dataclass
class ConformanceReport:
    """What ``check_*`` found about one asset.

    Attributes:
        kind: ``task``, ``metric``, ``dataset`` or ``model``.
        name: the asset's name.
        passed: the checks that passed, in the order they ran.
        skipped: check -> why it did not apply.
        failed: check -> ``<what went wrong>; fix: <what to do>``.
    """

    kind: str
    name: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return not self.failed

    def message(self) -> str:
        """One header line, then one line per failed check."""
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        head = (f"{self.kind} '{self.name}': {len(self.failed)} of "
                f"{len(self.failed) + len(self.passed)} checks failed{skipped}")
        return "\n".join([head, *(f"- {check}: {text}" for check, text in self.failed.items())])

    def __str__(self) -> str:
        lines = [f"{self.kind} '{self.name}': {len(self.passed)} passed, "
                 f"{len(self.skipped)} skipped, {len(self.failed)} failed"]
        lines += [f"  PASS {c}" for c in self.passed]
        lines += [f"  SKIP {c}: {why}" for c, why in self.skipped.items()]
        lines += [f"  FAIL {c}: {text}" for c, text in self.failed.items()]
        return "\n".join(lines)


class Failed(Exception):
    """Raised inside a check: what went wrong, and (optionally) a more specific fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


class Skipped(Exception):
    """Raised inside a check that does not apply; the message is the reason."""


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_error(err: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    return one_line(_describe(err))


class Checks:
    """Runs named checks and records each outcome in a :class:`ConformanceReport`."""

    def __init__(self, kind: str, name: str) -> None:
        self.report = ConformanceReport(kind, name)

    def run(self, check: str, fn: Callable[[], T], fix: str,
            needs: tuple[str, ...] = ()) -> T | None:
        """Run ``fn``; returns its value (None when it failed or was skipped). ``needs``: checks
        whose failure makes this one meaningless (it is skipped, saying so)."""
        broken = [n for n in needs if n in self.report.failed or n in self.report.skipped]
        if broken:
            self.report.skipped[check] = f"needs '{broken[0]}', which did not pass"
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = fn()
        except Skipped as why:
            self.report.skipped[check] = one_line(why)
            return None
        except Failed as failure:
            self.report.failed[check] = f"{one_line(failure.problem)}; fix: {failure.fix or fix}"
            return None
        except Exception as err:  # noqa: BLE001 - any error is this check's failure
            self.report.failed[check] = f"{describe_error(err)}; fix: {fix}"
            return None
        self.report.passed.append(check)
        return value

    def finish(self, raise_on_failure: bool) -> ConformanceReport:
        """The report; raises :class:`ConformanceError` when a check failed and asked to."""
        if raise_on_failure and self.report.failed:
            raise ConformanceError(self.report)
        return self.report
