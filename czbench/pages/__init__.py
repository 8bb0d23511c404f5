"""Pages people look at: the report, the leaderboard of a challenge and a team's page.

One Jinja2 template family (``templates/``, autoescape on) with its stylesheet and script
(``static/``) inlined into every page: a page opens from a file or behind a firewall and asks
nothing of any other host. Figures are PNG ``data:`` URIs drawn with matplotlib.
"""

from czbench.pages._render import STATIC, asset
from czbench.pages.leaderboard import check_board, render_leaderboard, render_login, render_team
from czbench.pages.report import render_report

__all__ = ["STATIC", "asset", "check_board", "render_leaderboard", "render_login",
           "render_report", "render_team"]
