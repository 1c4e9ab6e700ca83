"""The attention-flow panel: flow from one query to every input token, beside rollout."""

from __future__ import annotations

import streamlit as st

from core.analysis import lenses, tables
from core.attention.result import AttentionResult
from core.render import bars
from ui import cache, presenter
from ui.tables import closed_grid, readable


def flow_panel(result: AttentionResult, layer: int, query: int) -> None:
    """Attention flow for one query row at `layer`, with rollout of the same row in the table."""
    n = result.n_tokens
    if n > lenses.FLOW_MAX_TOKENS:
        st.warning(f"Attention flow solves a max-flow problem per input token; it is offered up to "
                   f"{lenses.FLOW_MAX_TOKENS} tokens (this text has {n}). Shorten the text, or use rollout, "
                   "which the paper found correlates well with flow.", icon=":material/speed:")
        return
    if query < 0:
        st.info("Pick a query (row) above, or click a cell in another lens: flow is computed for one query.",
                icon=":material/touch_app:")
        return
    bar = None

    def progress(fraction: float) -> None:  # drawn only when flow is computed, not on a cache hit
        nonlocal bar
        if bar is None:
            bar = st.progress(0.0, text="Solving max-flow for each input token…")
        bar.progress(min(max(fraction, 0.0), 1.0))

    flow = cache.flow(result, layer, query, progress=progress)
    if bar is not None:
        bar.empty()
    tokens = list(result.display_tokens)
    chart = bars.bar_chart_for_tokens(flow, tokens, f"Flow from '{tokens[query]}' at layer {layer}")
    presenter.chart(chart, width="stretch")
    table = tables.flow_table(flow, cache.rollout(result)[layer, query], tokens)
    closed_grid("Flow and rollout per token (table)", table, hide_index=True, width="stretch",
                column_config=readable(table.columns))
