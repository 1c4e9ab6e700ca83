"""Rollout and flow: how attention composes through the layers to the input tokens."""

from __future__ import annotations

import streamlit as st

from core.analysis import tables
from core.render.matrix import DrawMatrix
from ui import cache, page, state
from ui.flow_panel import flow_panel
from ui.glossary_links import term_help
from ui.heatmap_panel import heatmap_panel, query_picker
from ui.tables import closed_grid, readable

sel = page.header(
    "Rollout and flow",
    "Raw attention in upper layers mixes already-mixed tokens. Rollout and flow (Abnar & Zuidema 2020) "
    "trace it back to the input: row i says how much each input token contributes to token i after a layer. "
    "Both average the heads, so the sidebar's head does not apply here.",
)
result = page.result_or_stop(sel)

c1, c2 = st.columns([1, 2])
with c1:  # its own layer: a first visit shows the whole stack, whatever layer the sidebar holds
    last = sel.num_layers - 1
    layer = int(state.control("rf_layer", last, state.parse_int(0, last), label="rollout layer"))
    st.selectbox("Through layer", list(range(sel.num_layers)), key="rf_layer", width=200,
                 format_func=lambda i: f"{i} (the last)" if i == last else str(i),
                 help=term_help("rollout", "Rollout multiplies the layers from 0 up to this one; the last layer is "
                                "the whole model."))
with c2:
    query = query_picker(result)
page.how_computed("rollout", "attention-flow")
page.describe(where=f"layers 0–{layer}, heads averaged", lens="rollout")


def rollout() -> None:
    roll = cache.rollout(result)
    dm = DrawMatrix.of(roll[layer], result.display_tokens, special=result.special_mask)
    heatmap_panel(dm, title=f"Rollout through layers 0–{layer}, heads averaged", key="rf",
                  value_label="Rollout attribution", focus=query, stem=f"{page.slug(sel)}_rollout_L{layer}")
    if query >= 0:
        st.caption(f"How the attribution of query {query} ('{result.display_tokens[query]}') to each input "
                   "token evolves with depth.")
        table = tables.rollout_by_layer(roll, query, result.display_tokens)
        closed_grid("Attribution by layer (table)", table, hide_index=True, width="stretch",
                    column_config=readable(table.columns))


page.guard(rollout, "rollout")
st.subheader("Attention flow for the focused query")
page.describe(where=f"layer {layer}" + (f", query {query}" if query >= 0 else ""), lens="attention flow")
page.guard(lambda: flow_panel(result, layer, query), "attention flow")
page.caveat()
