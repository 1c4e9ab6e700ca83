"""Shared AppTest helpers: build the app on a page with URL parameters, read what it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from ui import page_table

ROOT = Path(__file__).resolve().parents[2]
ENTRY = str(ROOT / "streamlit_app.py")
# Every page from the one page table (ui/page_table.py), as the path AppTest.switch_page takes.
ROWS = page_table.PAGES
PAGES = [row.file for row in ROWS]
DEFAULT_PAGE = page_table.DEFAULT.file
CHART_PAGES = [row.file for row in ROWS if row.charts]  # draw a Vega-Lite chart on a first visit
TIMEOUT = 120  # a first model load in a cold process takes seconds


def make_app(page: str | None = None, **params: Any) -> AppTest:
    """Open `page` (path from the root; None = the default page) with `params` in the URL,
    as a shared link would: the first run is already on that page."""
    at = AppTest.from_file(ENTRY, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = str(value)
    if page and page != DEFAULT_PAGE:
        at.switch_page(page)
    at.run()
    return at


def exceptions_of(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception]


def errors_of(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def texts_of(at: AppTest) -> list[str]:
    out: list[str] = []
    for kind in ("title", "caption", "info", "warning", "error", "markdown", "toast"):
        out.extend(str(getattr(e, "value", "")) for e in getattr(at, kind, []))
    return out


def charts_of(at: AppTest) -> list[Any]:
    """The vega-lite chart elements (AppTest shows them as UnknownElement 'vega_lite_chart')."""
    return [e for e in at.get("vega_lite_chart")]
