"""Shared AppTest helpers: build the app on a page with URL parameters, read what it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
ENTRY = str(ROOT / "streamlit_app.py")
PAGES = [
    "pages/single_head.py",
    "pages/model_tokens.py",
    "pages/layer_average.py",
    "pages/compare.py",
    "pages/across_layers.py",
    "pages/head_atlas.py",
    "pages/rollout_flow.py",
    "pages/pattern_breakdown.py",
    "pages/pattern_classes.py",
    "pages/bertviz_views.py",
    "pages/about.py",
]
TIMEOUT = 120  # a first model load in a cold process takes seconds


def make_app(page: str | None = None, **params: Any) -> AppTest:
    """Open `page` (path from the root; None = the default page) with `params` in the URL,
    as a shared link would: the first run is already on that page."""
    at = AppTest.from_file(ENTRY, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = str(value)
    if page and page != PAGES[0]:
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
