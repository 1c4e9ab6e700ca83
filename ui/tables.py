"""The strongest-connections table: a lazy expander that lists one matrix's largest weights."""

from __future__ import annotations

import streamlit as st

from core.analysis import tokens
from core.render.matrix import DrawMatrix
from ui import state


def strongest_table(dm: DrawMatrix, key: str) -> None:
    """The strongest connections of what the heatmap draws, in an expander that computes and
    draws them only when open (a data grid is the heaviest thing a first paint could draw).
    Open or closed, and k, are part of the link."""
    box_key, topk = f"{key}strong", f"{key}topk"
    # An older link with a top k but no open/closed flag: open, so its k is kept.
    older = st.query_params.get(topk) is not None and st.query_params.get(box_key) is None
    state.control(box_key, older, state.parse_bool, lambda v: "1" if v else None, label="strongest connections")
    with st.expander("Strongest connections (table)", key=box_key, on_change="rerun",
                     icon=":material/format_list_numbered:") as box:
        k = state.control(topk, 5, state.parse_int(1, 100), label="top k", draw=box.open, link=box.open)
        if not box.open:
            return
        k = st.number_input("Strongest connections to list (self excluded)", 1, 100, key=topk)
        table = tokens.strongest_connections(dm.matrix, list(dm.tokens), int(k), exclude_self=True,
                                             allowed=dm.allowed, positions=dm.positions)
        st.dataframe(table, hide_index=True, width="stretch")
