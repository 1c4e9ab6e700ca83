"""BertViz: the interactive head view and model view, offline, escaped and size-bounded, in the
viewer's light or dark theme."""

from __future__ import annotations

import dataclasses

import streamlit as st

from ui import cache, page, state
from ui.bertviz_component import (
    active_theme,
    bertviz_view,
    follow_theme,
    plain_view_toggle,
    selection_text,
    subset_controls,
)

sel = page.header(
    "BertViz",
    "Jesse Vig's BertViz views. Head view: lines join each token (left) to the tokens it attends to (right); "
    "pick a layer at the top and click head colours to show them. Model view: every layer × head as a "
    "thumbnail; click one to select it on every page.",
)
result = page.result_or_stop(sel)

KINDS = {"head": "Head view", "model": "Model view"}
c1, c2 = st.columns([3, 2])
with c1:
    # The head view first, as in the tutorial; it is also the lighter one (one layer's lines, where
    # the model view draws every layer's).
    chosen = state.control("bv_view", "head", state.parse_choice(list(KINDS)), label="view")
    kind = st.segmented_control("View", list(KINDS), key="bv_view", format_func=KINDS.get) or chosen
with c2:
    plain = plain_view_toggle("bv_plain")
theme = active_theme()


def draw() -> None:
    options = subset_controls(kind, result.n_tokens, result.num_layers, result.num_heads, key=f"bv_{kind}_subset")
    view = cache.bertviz_view(result, kind, dataclasses.replace(options, display_mode=theme))
    clicked = bertviz_view(view, key=f"bv_{kind}", plain=plain, layer=sel.layer)
    with st.expander("Technical details", icon=":material/info:"):
        st.caption(f"{view.nbytes / 1e6:.2f} MB of HTML, {view.lines:,} attention lines, {theme} theme. Every "
                   "script is served by this app (no CDN), and every token is escaped.")
    if clicked is not None:
        state.select(layer=clicked["layer"], head=clicked.get("head"))  # head None: a layer-only pick


page.guard(draw, "BertViz view")
st.caption(selection_text(sel.layer, sel.head) + " (shared by every page).")
follow_theme(theme)  # the menu's theme switch does not rerun the app: this rebuilds the view
