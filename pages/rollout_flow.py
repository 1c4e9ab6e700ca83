"""Rollout and flow: how attention composes through the layers to the input tokens."""

from __future__ import annotations

import streamlit as st

from core.analysis import tables
from core.render.matrix import DrawMatrix
from ui import cache, page
from ui.flow_panel import flow_panel
from ui.heatmap_panel import heatmap_panel, query_picker

sel = page.header(
    "Rollout and flow",
    "Raw attention in upper layers mixes already-mixed tokens. Rollout and flow (Abnar & Zuidema 2020) "
    "trace it back to the input: row i says how much each input token contributes to token i after a layer.",
)
result = page.result_or_stop(sel)
query = query_picker(result)


def rollout() -> None:
    roll = cache.rollout(result)
    dm = DrawMatrix.of(roll[sel.layer], result.display_tokens, special=result.special_mask)
    heatmap_panel(dm, title=f"Rollout through layers 0–{sel.layer}", key="rf", value_label="Rollout attribution",
                  focus=query, stem=f"{page.slug(sel)}_rollout_L{sel.layer}")
    if query >= 0:
        st.caption(f"How the attribution of query {query} ('{result.display_tokens[query]}') to each input "
                   "token evolves with depth.")
        st.dataframe(tables.rollout_by_layer(roll, query, result.display_tokens), hide_index=True, width="stretch")


page.guard(rollout, "rollout")
st.subheader("Attention flow for the focused query")
page.guard(lambda: flow_panel(result, sel.layer, query), "attention flow")
page.caveat()
