"""Tables as students read them: readable column labels for the machine-friendly names the
data (and its CSV) keeps, and the strongest-connections table (a lazy expander that lists one
matrix's largest weights)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st

from core.analysis import tokens
from core.render.matrix import DrawMatrix
from ui import state

# Column name (as in the data and its CSV) -> the label a table shows. Names not listed are shown
# with their underscores as spaces and a capital first letter.
LABELS: dict[str, str] = {
    # the token table
    "position": "Position", "token": "Token", "raw": "As the tokenizer writes it", "id": "Vocabulary id",
    "word": "Word", "segment": "Sentence", "special": "Special token",
    # head statistics and pattern classes
    "layer": "Layer", "head": "Head", "entropy": "Entropy (nats)", "entropy_norm": "Normalised entropy",
    "mean_distance": "Mean distance (tokens)", "distance_ratio": "Distance ÷ uniform",
    "cls_share": "Share to [CLS]", "sep_share": "Share to [SEP]", "special_share": "Share to special tokens",
    "punct_share": "Share to punctuation", "self_score": "Self score", "prev_score": "Previous-token score",
    "next_score": "Next-token score", "confidence": "Confidence", "first_token_share": "Share to the first token",
    "sink_ratio": "Attention sink (× uniform)", "vertical_score": "Vertical score (V)",
    "diagonal_score": "Diagonal score (D)", "block_score": "Block score (B)", "pattern": "Pattern class",
    "broad": "Broad", "attends_previous": "Attends to previous", "attends_next": "Attends to next",
    "attends_special": "Attends to special tokens", "clark_label": "Clark et al. label",
    "heads": "Heads", "share": "Share of heads",
    # template scores
    "self": "Self", "previous": "Previous token", "next": "Next token", "cls": "[CLS]", "sep": "[SEP]",
    "punctuation": "Punctuation", "same_segment": "Same sentence",
    # connections (pattern breakdown, strongest connections)
    "rank": "Rank", "from": "From (position)", "to": "To (position)", "from_token": "From token",
    "to_token": "To token", "weight": "Weight", "category": "Category", "positional": "Positional", "syntactic": "Syntactic",
    "semantic": "Semantic", "total": "Total", "sentence": "Sentence",
    # flow and rollout
    "flow": "Flow", "rollout": "Rollout", "input token": "Input token",
}


def label(name: str) -> str:
    """The readable label of a column name."""
    if name in LABELS:
        return LABELS[name]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def readable(columns: Iterable[Any], **overrides: Any) -> dict[str, Any]:
    """`column_config` for st.dataframe: every column under its readable label (the data and any
    CSV keep the machine-friendly names). `overrides` replace a column's config."""
    config: dict[str, Any] = {str(c): st.column_config.Column(label(str(c))) for c in columns}
    config.update(overrides)
    return config


def closed_grid(title: str, table: Any, *, icon: str = ":material/table_view:", **kwargs: Any) -> Any:
    """`st.dataframe(table, **kwargs)` inside a closed expander titled `title`; returns what
    st.dataframe returns. A data grid, even a small one, slows a page's paint noticeably
    (docs/performance.md); closed, it costs nothing until the reader opens it."""
    with st.expander(title, icon=icon):
        return st.dataframe(table, **kwargs)


def small_table(table: pd.DataFrame) -> None:
    """A few rows as a plain table (st.table: static HTML, no grid to load), under readable labels."""
    st.table(table.rename(columns={c: label(str(c)) for c in table.columns}), hide_index=True)


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
        st.dataframe(table, hide_index=True, width="stretch", column_config=readable(table.columns))
