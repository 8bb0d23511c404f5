"""Helpers of the page tests (``from pages_helpers import ...``: pytest puts this folder on
``sys.path``): a leaderboard dict (the server's contract, docs/pages.md) built from a real czbench
results document (each submission an embedding the run scored, each reference row a baseline
or control of the same run; no number typed by hand) and the screenshots."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: screenshots the tests take (CI keeps this folder)
SCREENSHOTS = Path(os.environ.get("CZBENCH_SCREENSHOTS", ROOT / "results" / "screenshots"))
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

AGGREGATES = ("mean_normalized", "avg_bio")


def plain_means(doc: dict) -> dict[str, dict[str, float]]:
    """{embedding: {"task/metric": seed mean}} of the unparametrised summary rows."""
    means: dict[str, dict[str, float]] = {}
    for row in doc["summary"]:
        if not row["params"]:
            means.setdefault(row["embedding"], {})[f"{row['task']}/{row['metric']}"] = row["mean"]
    return means


def board_from_document(doc: dict, submissions: list[dict], references: list[str], *,
                        base_url: str = "", digits: int = 4) -> dict:
    """``submissions``: ``{"embedding", "team", "name", "submitted_at"}`` each."""
    means = plain_means(doc)
    keys = list(dict.fromkeys(k for per in means.values() for k in per))
    higher = {f"{r['task']}/{r['metric']}": r["higher_is_better"] for r in doc["summary"]}
    aggs = {a["embedding"]: a for a in doc["aggregates"]}

    def row(embedding: str, kind: str, team: str | None, name: str, at: str | None) -> dict:
        return {"id": f"{kind[:3]}-{name}", "kind": kind, "team": team, "name": name,
                "submitted_at": at, "scores": {k: means[embedding].get(k) for k in keys},
                "aggregates": {k: aggs[embedding].get(k) for k in AGGREGATES},
                "document_url": f"/documents/{name}.json"}

    rows = [row(s["embedding"], "submission", s["team"], s["name"], s["submitted_at"])
            for s in submissions]
    rows.sort(key=lambda r: -(r["aggregates"]["mean_normalized"] or 0.0))
    rows += [row(e, "reference", None, e, None) for e in references]
    dataset = doc["dataset"]
    tasks = list(dict.fromkeys(k.split("/")[0] for k in keys))
    return {
        "challenge": {"id": "pbmc-1", "name": f"{dataset['name']} embedding challenge",
                      "dataset": dataset["name"], "dataset_sha256": dataset.get("sha256") or "",
                      "tasks": tasks, "hold_out": ["technology"], "seed": doc["seeds"][0],
                      "public_fraction": 0.5, "deadline": "2027-01-31T23:59:00Z",
                      "quota_per_day": 3, "quota_total": 20, "state": "open",
                      "digits": digits},
        "metrics": [{"key": k, "task": k.split("/")[0], "metric": k.split("/")[1],
                     "higher_is_better": higher[k]}
                    for k in keys],
        "aggregates": [{"key": k, "higher_is_better": True} for k in AGGREGATES],
        "rows": rows,
        "generated_at": "2026-12-08T00:00:00Z"}


def screenshots(page, name: str) -> list[Path]:
    """Full-page screenshots of ``page`` at desktop (1280 px) and phone (390 px) widths; the
    page must not scroll sideways at either (wide tables scroll inside their own box)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} at {width} px scrolls sideways ({overflow} px)"
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)
    page.set_viewport_size({"width": 1280, "height": 900})
    return written
