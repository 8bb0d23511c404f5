"""The page renderers without a browser: autoescaping, link targets, the contract checks, and
that a page asks nothing of any other host."""

from __future__ import annotations

import copy
import math
import re

import pytest

from czbench.errors import InputError
from czbench.pages import asset, check_board, leaderboard, render_leaderboard, render_team
from czbench.pages._render import number, safe_href

HOSTILE = '<script>alert("x")</script>'


def _board(**row_fields) -> dict:
    row = {"id": "s1", "kind": "submission", "team": "alpha", "name": "model one",
           "submitted_at": "2026-12-01T10:00:00Z", "scores": {"embedding/clisi_knn": 0.5},
           "aggregates": {"mean_normalized": None}, "document_url": "/documents/s1.json"}
    row.update(row_fields)
    return {"challenge": {"id": "c1", "name": "challenge", "dataset": "d", "dataset_sha256":
                          "0" * 64, "tasks": ["embedding"], "hold_out": ["technology"],
                          "seed": 0, "public_fraction": 0.5, "deadline": None,
                          "quota_per_day": 3, "quota_total": 10, "state": "open", "digits": 3},
            "metrics": [{"key": "embedding/clisi_knn", "task": "embedding",
                         "metric": "clisi_knn", "higher_is_better": True}],
            "aggregates": [{"key": "mean_normalized", "higher_is_better": True}],
            "rows": [row], "generated_at": "2026-12-08T00:00:00Z"}


def test_what_a_user_wrote_is_escaped_never_run():
    html = render_leaderboard(_board(name=HOSTILE, team=HOSTILE), figures=False)
    assert HOSTILE not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # the package's own script only


@pytest.mark.parametrize("url, expected", [
    ("/documents/s1.json", "https://board.example/documents/s1.json"),
    ("documents/s1.json", "documents/s1.json"),
    ("https://elsewhere.example/a.json", "https://elsewhere.example/a.json"),
    ("javascript:alert(1)", None), ("data:text/html,x", None), ("//evil.example/x", None),
    ("", None), (None, None)])
def test_links_lead_only_to_pages(url, expected):
    assert safe_href(url, "https://board.example/") == expected


def test_a_script_link_is_shown_as_text():
    html = render_leaderboard(_board(document_url="javascript:alert(1)"), figures=False)
    assert "javascript:" not in html and ">model one</th>" in html


def test_numbers_missing_or_not_finite_show_a_dash():
    assert number(0.123456, 3) == ("0.123", 0.123456)
    assert number(None, 3) == ("—", None) and number(math.nan, 3) == ("—", None)
    assert number(True, 3) == ("—", None)


@pytest.mark.parametrize("change, message", [
    (lambda b: b.pop("rows"), r"^board: missing 'rows'$"),
    (lambda b: b["challenge"].pop("deadline"), r"^board.challenge: missing 'deadline'$"),
    (lambda b: b["rows"][0].update(kind="team"), r"^board.rows\[0\].kind: expected"),
    (lambda b: b["challenge"].update(digits=-1), r"^board.challenge.digits: expected"),
    (lambda b: b["metrics"].append({"key": "x"}), r"^board.metrics\[1\]: missing "
                                                  r"'higher_is_better'$")])
def test_a_board_off_the_contract_is_one_line_naming_the_field(change, message):
    board = _board()
    change(board)
    with pytest.raises(InputError, match=message):
        render_leaderboard(board)
    check_board(_board())


def test_team_page_checks_states():
    team = {"team": "t", "quota": {"used_today": 0, "per_day": 3, "used_total": 0, "total": 9},
            "submissions": [{"id": "1", "challenge": "c1", "state": "lost", "reason": None,
                             "submitted_at": None, "scored_at": None, "sha256": None,
                             "scores": None}]}
    with pytest.raises(InputError, match=r"^team.submissions\[0\].state: expected one of"):
        render_team(team)
    team["submissions"][0]["state"] = "queued"
    assert "3 of 3" in render_team(team)


def test_pages_ask_nothing_of_another_host():
    board = _board()
    board["rows"] += [copy.deepcopy(board["rows"][0]) | {"id": "s2", "team": "beta",
                                                         "submitted_at": "2026-12-02T10:00Z"}]
    html = render_leaderboard(board)
    for text in (asset("czbench.css"), asset("czbench.js")):
        assert not re.search(r"https?:|//[a-z]|@import|url\(", text)
    # every src is inline; the only URLs are the rows' links
    assert set(re.findall(r'src="([a-z]+):', html)) == {"data"}
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    leaderboard._drawn.cache_clear()  # drawn again, not read from the cache
    assert html == render_leaderboard(board)  # same board, same bytes (figures included)
