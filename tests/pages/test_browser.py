"""The pages in headless Chromium: sorting, the team filter, a failed submission's reason, the
report opened from a file against its results JSON, a new row without a reload, contrast,
no console error and no request beyond 127.0.0.1 (checked by the ``page`` fixture)."""

from __future__ import annotations

import json
import re

import pytest
from pages_helpers import board_from_document, plain_means, screenshots

from czbench.cli import main
from czbench.pages import render_leaderboard, render_team
from czbench.utils.params import format_params

SUBMISSIONS = [
    {"embedding": "alpha-pca10", "team": "alpha", "name": "alpha-pca10",
     "submitted_at": "2026-12-01T10:00:00Z"},
    {"embedding": "alpha-pca30", "team": "alpha", "name": "alpha-pca30",
     "submitted_at": "2026-12-03T09:30:00Z"},
    {"embedding": "beta-noisy", "team": "beta", "name": "beta-noisy",
     "submitted_at": "2026-12-02T16:45:00Z"},
]
REFERENCES = ["pca", "control:shuffled", "control:random"]

# WCAG 2 contrast of every element's own text against the background it is drawn on
CONTRAST = """() => {
  const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number)
      .map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const opaque = (c) => !/rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent';
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('[hidden], .visually-hidden, script, style')) continue;
    let bg = el, color = getComputedStyle(el).color;
    while (bg && !opaque(getComputedStyle(bg).backgroundColor)) bg = bg.parentElement;
    const back = bg ? getComputedStyle(bg).backgroundColor : 'rgb(255, 255, 255)';
    const [a, b] = [lum(color), lum(back)].sort((x, y) => y - x);
    out.push({text: el.textContent.trim().slice(0, 30), ratio: (a + 0.05) / (b + 0.05)});
  }
  return out; }"""


def _references(doc: dict) -> list[str]:
    names = {a["embedding"] for a in doc["aggregates"]}
    return [r for r in REFERENCES if r in names]


@pytest.fixture
def board(scored):
    result, _ = scored
    return board_from_document(result.document, SUBMISSIONS, _references(result.document))


def _keys(page) -> list[str | None]:
    """The score key of each column of the board (None for name, team, submitted)."""
    return page.eval_on_selector_all("#board-table thead th",
                                     "h => h.map(x => x.getAttribute('data-key'))")


def _column(page, key: str) -> list[float | None]:
    raw = page.eval_on_selector_all(
        "#board-body tr:not([hidden])",
        "(rows, i) => rows.map(r => r.cells[i].getAttribute('data-value'))",
        _keys(page).index(key))
    return [None if v == "" else float(v) for v in raw]


def _low_contrast(page) -> list[dict]:
    return [c for c in page.evaluate(CONTRAST) if c["ratio"] < 4.5]


def test_leaderboard_sorts_by_any_column_with_mouse_or_keyboard(page, site, board):
    site.put("/challenges/pbmc-1", render_leaderboard(board, poll_seconds=0))
    page.goto(site.url + "/challenges/pbmc-1")
    assert page.locator("html").get_attribute("lang") == "en"
    key = "clustering/adjusted_rand_index"
    header = page.locator("#board-table thead th", has=page.locator(
        "button", has_text="adjusted_rand_index"))
    before = _column(page, key)
    header.locator("button").click()  # higher is better: best first
    after = _column(page, key)
    numbers = [v for v in after if v is not None]
    assert numbers == sorted(numbers, reverse=True) and sorted(numbers) == sorted(
        v for v in before if v is not None)
    assert header.get_attribute("aria-sort") == "descending"
    header.locator("button").focus()
    page.keyboard.press("Enter")
    numbers = [v for v in _column(page, key) if v is not None]
    assert numbers == sorted(numbers) and header.get_attribute("aria-sort") == "ascending"
    # the first column sorts by name; each row links to its results document
    page.locator("#board-table thead button", has_text="name").click()
    names = page.eval_on_selector_all("#board-body tr th", "c => c.map(x => x.textContent)")
    assert names == sorted(names)
    links = page.eval_on_selector_all("#board-body tr th a", "a => a.map(x => x.href)")
    assert sorted(links) == sorted(site.url + r["document_url"] for r in board["rows"])
    assert _low_contrast(page) == []
    screenshots(page, "leaderboard")


def test_leaderboard_shows_the_numbers_of_the_board(page, site, board, scored):
    result, _ = scored
    site.put("/b", render_leaderboard(board, poll_seconds=0))
    page.goto(site.url + "/b")
    means = plain_means(result.document)
    aggregates = {a["embedding"]: a for a in result.document["aggregates"]}
    by_name = {s["name"]: s["embedding"] for s in SUBMISSIONS}
    checked = 0
    keys = _keys(page)
    for row in page.locator("#board-body tr").all():
        embedding = by_name.get(name := row.locator("th").inner_text(), name)
        for key, cell in zip(keys, row.locator("th, td").all(), strict=True):
            if key is None:
                continue
            value = means[embedding][key] if "/" in key else aggregates[embedding][key]
            if value is None:
                assert (cell.get_attribute("data-value"), cell.inner_text()) == ("", "—")
                continue
            assert float(cell.get_attribute("data-value")) == value
            assert cell.inner_text() == f"{value:.4f}"
            checked += 1
    assert checked >= len(board["rows"]) * len(board["metrics"])
    images = page.eval_on_selector_all("figure img", "i => i.map(x => [x.naturalWidth, x.alt])")
    assert len(images) == 3 and all(w > 300 and alt for w, alt in images)


def test_leaderboard_filters_by_team(page, site, board):
    site.put("/b", render_leaderboard(board, poll_seconds=0))
    page.goto(site.url + "/b")
    page.get_by_label("Team").select_option("beta")
    teams = page.eval_on_selector_all(
        "#board-body tr:not([hidden])", "r => r.map(x => [x.dataset.kind, x.dataset.team])")
    assert ["submission", "beta"] in teams
    assert all(team == "beta" for kind, team in teams if kind == "submission")
    assert sum(kind == "reference" for kind, _ in teams) == len(_references_in(board))
    shown = len(teams)
    assert page.locator("#filter-status").inner_text() == f"{shown} of {len(board['rows'])} " \
                                                          "rows shown"
    page.get_by_label("Team").select_option("")
    assert page.locator("#board-body tr:not([hidden])").count() == len(board["rows"])


def _references_in(board: dict) -> list[dict]:
    return [r for r in board["rows"] if r["kind"] == "reference"]


def test_new_row_appears_without_a_reload(page, site, board, scored):
    result, _ = scored
    site.put("/challenges/pbmc-1", render_leaderboard(board, poll_seconds=1))
    page.goto(site.url + "/challenges/pbmc-1")
    page.evaluate("window.notReloaded = true")
    page.evaluate("document.querySelector('#board-body tr').dataset.mark = 'kept'")
    page.wait_for_timeout(2500)  # two polls of an unchanged board leave the rows alone
    assert page.locator("#board-body tr[data-mark=kept]").count() == 1
    later = board_from_document(result.document, [*SUBMISSIONS, {
        "embedding": "gamma-pca5", "team": "gamma", "name": "gamma-pca5",
        "submitted_at": "2026-12-04T08:00:00Z"}], _references(result.document))
    site.put("/challenges/pbmc-1", render_leaderboard(later, poll_seconds=1))
    page.wait_for_selector('#board-body tr[data-id="sub-gamma-pca5"]', timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#team-filter option[value=gamma]").count() == 1


def test_team_page_shows_a_failed_submissions_reason(page, site, scored):
    result, reason = scored
    means = plain_means(result.document)["alpha-pca30"]
    team = {"team": "beta", "quota": {"used_today": 2, "per_day": 3, "used_total": 5,
                                      "total": 20},
            "submissions": [
                {"id": "s-7", "challenge": "pbmc-1", "state": "failed", "reason": reason,
                 "submitted_at": "2026-12-02T17:00:00Z", "scored_at": None,
                 "sha256": "ab" * 32, "scores": None},
                {"id": "s-6", "challenge": "pbmc-1", "state": "scored", "reason": None,
                 "submitted_at": "2026-12-02T16:45:00Z", "scored_at": "2026-12-02T16:50:00Z",
                 "sha256": "cd" * 32, "scores": means},
                {"id": "s-8", "challenge": "pbmc-1", "state": "queued", "reason": None,
                 "submitted_at": "2026-12-02T17:05:00Z", "scored_at": None,
                 "sha256": "ef" * 32, "scores": None}]}
    site.put("/teams/me", render_team(team, poll_seconds=0))
    page.goto(site.url + "/teams/me")
    failed = page.locator('#submissions-body tr[data-state="failed"]')
    assert failed.locator('td[data-role="reason"]').inner_text() == reason
    assert "rows" in reason  # the run's own one-line error about the wrong row count
    assert page.locator('tr[data-state="queued"] td[data-role="state"]').inner_text() == "queued"
    assert "1 of 3" in page.locator("#quota-facts").inner_text()
    assert "15 of 20" in page.locator("#quota-facts").inner_text()
    assert _low_contrast(page) == []
    screenshots(page, "team")


def test_report_from_a_file_shows_the_results_json(page, scored, tmp_path):
    result, _ = scored
    path = result.write_json(tmp_path / "run.json")
    assert main(["report", str(path), "--output", str(tmp_path / "report"), "--html"]) == 0
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.html"]
    doc = json.loads(path.read_text())  # the file, not the object that wrote it
    page.goto((tmp_path / "report" / "report.html").as_uri())
    expected = {(r["embedding"], r["task"], r["metric"], format_params(r["params"])): r["mean"]
                for r in doc["summary"]}
    cells = page.eval_on_selector_all(
        "td[data-task]", "c => c.map(x => [x.dataset.label, x.dataset.task, x.dataset.metric,"
                         " x.dataset.params, x.dataset.value, x.textContent])")
    seen = {}
    for label, task, metric, params, value, text in cells:
        if value == "":
            continue
        seen[(label, task, metric, params)] = float(value)
        assert re.match(rf"{expected[(label, task, metric, params)]:.4f}( ± |$| \()", text)
    assert seen == expected
    aggregates = page.eval_on_selector_all(
        "td[data-aggregate]", "c => c.map(x => [x.dataset.label, x.dataset.aggregate,"
                              " x.dataset.value])")
    by_embedding = {a["embedding"]: a for a in doc["aggregates"]}
    assert len(aggregates) == 3 * len(by_embedding)
    for label, key, value in aggregates:
        assert (None if value == "" else float(value)) == by_embedding[label][key]
    widths = page.eval_on_selector_all("figure img", "i => i.map(x => x.naturalWidth)")
    assert len(widths) >= 3 and min(widths) > 300  # inline figures decoded
    assert _low_contrast(page) == []
    screenshots(page, "report")
