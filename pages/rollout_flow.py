"""Rollout and flow: how attention composes through the layers to the input tokens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import page, views

sel = page.header(
    "Rollout and flow",
    "Raw attention in upper layers mixes already-mixed tokens. Rollout and flow (Abnar & Zuidema 2020) "
    "trace it back to the input: row i says how much each input token contributes to token i after a layer.",
)
result = page.result_or_stop(sel)
query = views.query_picker(result)


def rollout() -> None:
    roll = views.rollout_stack(result)
    shown = views.Shown(roll[sel.layer], list(result.display_tokens), None, [], result.special_mask)
    views.heatmap_panel(shown, title=f"Rollout through layers 0–{sel.layer}", key="rf",
                        value_label="Rollout attribution", focus=query, stem=f"{page.slug(sel)}_rollout_L{sel.layer}")
    if query >= 0:
        table = pd.DataFrame(np.round(roll[:, query, :].T, 4),
                             columns=[f"layer {l}" for l in range(result.num_layers)])
        table.insert(0, "input token", [f"{i} · {t}" for i, t in enumerate(result.display_tokens)])
        st.caption(f"How the attribution of query {query} ('{result.display_tokens[query]}') to each input "
                   "token evolves with depth.")
        st.dataframe(table, hide_index=True, width="stretch")


page.guard(rollout, "rollout")
st.subheader("Attention flow for the focused query")
page.guard(lambda: views.flow_panel(result, sel.layer, query, "rf_flow"), "attention flow")
views.caveat()
