"""The one Jinja2 environment of the pages (autoescape on), the inlined assets and small
formatting helpers shared by the report, the leaderboard and the team page."""

from __future__ import annotations

import math
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

STATIC = files("czbench.pages") / "static"


@lru_cache(maxsize=1)
def environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("czbench.pages", "templates"),
        autoescape=True)


@cache
def asset(name: str) -> str:
    """The text of ``czbench/pages/static/<name>`` (inlined into every page)."""
    return (STATIC / name).read_text(encoding="utf-8")


def render(template: str, **context: Any) -> str:
    """Render ``template`` with the stylesheet and script inlined: a page that needs no server
    for its assets and fetches nothing from elsewhere."""
    from markupsafe import Markup

    from czbench import __version__

    context.setdefault("poll_seconds", 0)
    context.setdefault("generated_at", None)
    return environment().get_template(template).render(
        css=Markup(asset("czbench.css")), js=Markup(asset("czbench.js")),  # the package's own
        version=__version__, **context)


def number(value: Any, digits: int) -> tuple[str, float | None]:
    """(text, sort value) of a score: ``—`` and None for a missing or non-finite one."""
    if value is None or isinstance(value, bool):
        return "—", None
    value = float(value)
    if not math.isfinite(value):
        return "—", None
    return f"{value:.{digits}f}", value


def safe_href(url: Any, base_url: str = "") -> str | None:
    """A link target that can only lead to a page: http(s) or a relative path (``base_url``
    prefixes a root-relative one); None for anything else (``javascript:``, ``data:``...)."""
    if not url or not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if parts.scheme or parts.netloc:
        return None
    return base_url.rstrip("/") + url if url.startswith("/") else url
