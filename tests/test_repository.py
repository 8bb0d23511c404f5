"""The repository is self-contained: no absolute paths, no tracker numbers, no reference to a file
that is not in it, and the shipped metric specification covers every metric czbench reports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from czbench.tasks import list_tasks, task_class

ROOT = Path(__file__).resolve().parent.parent
TEXT = (".py", ".md", ".json", ".toml", ".cfg", ".txt", ".yml", ".yaml", "")
#: an absolute path on some machine: a root folder such as home or tmp, or a drive letter
ABSOLUTE = re.compile(r"(?:^|[\s\"'`(=:,])(/(?:work|home|root|tmp|Users|opt|usr|var|mnt|srv|"
                      r"scratch|data|private)/[^\s\"'`)]*)|\b[A-Z]:\\\\")
TRACKER = re.compile(r"\b(?:[Ii]ssues?|[Tt]icket|[Tt]racker) ?#\d+|\bMETRICS\.md\b")
#: repository paths mentioned in text (``czbench/metrics/silhouette.py``, a spec.md section)
MENTIONED = re.compile(r"(?<![\w./-])((?:czbench|docs|benchmarks|tests|examples|\.ci)/"
                       r"[\w./-]*\.(?:py|md|json|h5ad|png|toml|sh)\b(?:#[\w-]+)?)")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    files = [ROOT / f for f in out if Path(f).suffix in TEXT and (ROOT / f).is_file()]
    return [f for f in files if f.name != "LICENSE"]


@pytest.fixture(scope="module")
def texts() -> dict[Path, str]:
    return {f: f.read_text(errors="replace") for f in tracked_text_files()}


def test_no_absolute_paths(texts):
    found = []
    for path, text in texts.items():
        for number, line in enumerate(text.splitlines(), 1):
            if number == 1 and line.startswith("#!"):
                continue  # a shebang names the interpreter, not a file of a machine
            if ABSOLUTE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "absolute paths:\n" + "\n".join(found)


def test_no_tracker_numbers_or_outside_files(texts):
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
             for path, text in texts.items() if path.name != "test_repository.py"
             for number, line in enumerate(text.splitlines(), 1) if TRACKER.search(line)]
    assert not found, "tracker numbers or files outside the repository:\n" + "\n".join(found)


def test_every_mentioned_repository_path_exists(texts):
    missing = []
    for path, text in texts.items():
        for match in MENTIONED.finditer(text):
            mention = match.group(1).split("#")[0].rstrip(".")
            if any(c in mention for c in "*<>{}") or mention.endswith("/"):
                continue
            target = ROOT / mention
            if not target.exists():
                missing.append(f"{path.relative_to(ROOT)}: {mention}")
    assert not missing, "mentioned but not in the repository:\n" + "\n".join(sorted(set(missing)))


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_between_docs_resolve(texts):
    broken = []
    for path, text in texts.items():
        if path.suffix != ".md":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file) if file else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and \
                    anchor not in _anchors(resolved.read_text()):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    for path, text in texts.items():  # docstrings and comments pointing at spec.md sections
        for anchor in re.findall(r"docs/spec\.md#([\w-]+)", text):
            if path.name == "test_repository.py":
                continue
            if anchor not in _anchors((ROOT / "docs" / "spec.md").read_text()):
                broken.append(f"{path.relative_to(ROOT)}: docs/spec.md#{anchor}")
    assert not broken, "broken links:\n" + "\n".join(sorted(set(broken)))


def test_the_specification_covers_every_metric():
    spec = (ROOT / "docs" / "spec.md").read_text()
    headings = "\n".join(re.findall(r"^#+ .+$", spec, re.M))
    from czbench.tasks.registry import REGISTRY

    builtin = [n for n in list_tasks() if REGISTRY.origin(n).source == "builtin"]  # not plugins
    missing = [f"{name}/{metric.name}" for name in builtin
               for metric in task_class(name).metrics if metric.name not in headings]
    sections = [name for name in builtin if f"Task {name}" not in headings]
    assert not missing and not sections, f"spec.md lacks {missing} {sections}"
