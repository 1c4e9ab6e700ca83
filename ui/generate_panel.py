"""What the Generate and Translation pages share: which models can do the page's job here (ready,
downloadable or unavailable, and why, with the model kit command that fetches them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from ui.glossary_links import escape


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


