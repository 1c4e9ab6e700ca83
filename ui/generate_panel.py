"""What the Generate and Translation pages share: which models can do the page's job here (ready,
downloadable or unavailable, and why, with the model kit command that fetches them), and a
request's value or a sentence instead of a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.errors import AttentionDashboardError
from ui import cache, page
from ui.glossary_links import escape

log = logging.getLogger("attention_dashboard")

KIT_COMMAND = ".venv/bin/python scripts/model_kit.py --models generation"
BADGE = {"ready": "✓", "downloadable": "↓", "unavailable": "✗"}


def models_box(statuses: Sequence[tuple[str, str, str, str]], *, use: Callable[[str], None] | None = None,
               key: str = "gen_models") -> None:
    """Each model (id, name, availability, reason) with ✓ / ↓ / ✗ and why, as the sidebar's
    picker marks them; a button per usable one when `use` is given; the model kit command when
    any is unavailable."""
    for mid, name, avail, reason in statuses:
        cols = st.columns([4, 1]) if use is not None and avail != "unavailable" else [st.container()]
        cols[0].markdown(f"{BADGE.get(avail, '?')} **{escape(name)}**: {escape(avail)}, {escape(reason)}.")
        if len(cols) > 1:
            cols[1].button("Use it" if avail == "ready" else "Download", key=f"{key}_{mid}", on_click=use,
                           args=(mid,), icon=":material/check:" if avail == "ready" else ":material/download:")
    if any(avail == "unavailable" for _, _, avail, _ in statuses):
        st.caption("To fetch these models for a room without network, run once while online, then start the app "
                   "again (with ATTENTION_DASHBOARD_OFFLINE=1 where there is no network):")
        # Inline code, not st.code: its highlighted block fails contrast (2.8:1) and is an unfocusable
        # scroll region at 420 px.
        st.markdown(f"`{KIT_COMMAND}`")


def value_or_stop(request: Any, what: str, quiet: tuple[type[Exception], ...] = (),
                  then: Callable[[], None] | None = None) -> Any:
    """The request's value, or its error as one sentence and page.stop(). The errors in `quiet` (a
    choice to make, e.g. a model that cannot generate, rather than a failure) are an info box and
    `then()`, and the value is None: the page goes on without stopping, so the router still writes
    the link of what is on screen."""
    try:
        return cache.get(request)
    except quiet as err:
        st.info(str(err), icon=":material/block:")
        if then is not None:
            then()
        return None
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
    except Exception:  # noqa: BLE001 - never a traceback on screen; the log has it
        log.exception("%s failed", what)
        st.error(f"The {what} could not be computed for this input. Try a shorter or different text.",
                 icon=":material/error:")
    page.caveat()
    page.stop()
