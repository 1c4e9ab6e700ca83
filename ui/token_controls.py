"""The token controls popover: hide special tokens, merge subwords, prune each row.

Widgets only: the values become a core.render.controls.TokenControls, and
core.render.controls.apply_controls does the work. Every value is a control of ui.state
(kept across pages, bound to the link under `{prefix}hide`, `{prefix}words`, ...).
"""

from __future__ import annotations

import streamlit as st

from core.render.controls import TokenControls
from ui import state
from ui.glossary_links import term_help

PRUNE_LABELS = {"none": "Keep all", "top_k": "Top k per row", "cumulative": "Cumulative share per row"}


def token_controls(prefix: str) -> TokenControls:
    """Draw the popover and return the chosen controls."""
    flag = state.parse_bool
    with st.popover("Token controls", icon=":material/tune:"):
        hide = state.control(f"{prefix}hide", False, flag, state.bool_text)
        st.toggle("Hide special tokens ([CLS], [SEP], <s>…)", key=f"{prefix}hide")
        renorm = state.control(f"{prefix}renorm", True, flag, state.bool_text)
        st.toggle("Renormalise the remaining keys", key=f"{prefix}renorm", disabled=not hide,
                  help=term_help("special_tokens", "Dropping special-token columns leaves rows that no longer sum to "
                                "1. On: rows are rescaled to 1 again. Off: the weights are shown as they were "
                                "(exBERT's choice)."))
        words = state.control(f"{prefix}words", False, flag, state.bool_text)
        st.toggle("Merge subwords into words", key=f"{prefix}words",
                  help=term_help("word_merge", "Clark et al. 2019, §4.1: attention TO a word is the SUM over its "
                                "pieces, attention FROM a word the MEAN over its pieces, so rows still sum to 1."))
        prune = state.control(f"{prefix}prune", "none", state.parse_choice(list(PRUNE_LABELS)))
        st.radio("Connections per row", list(PRUNE_LABELS), format_func=PRUNE_LABELS.get, key=f"{prefix}prune",
                 horizontal=True)
        # Both stay in the link (and keep their value) while the other pruning mode is shown.
        k = state.control(f"{prefix}k", 3, state.parse_int(1, 50), draw=prune == "top_k")
        share = state.control(f"{prefix}share", 0.7, state.parse_float(0.05, 1.0), draw=prune == "cumulative")
        if prune == "top_k":
            k = st.number_input("k", 1, 50, key=f"{prefix}k")
        elif prune == "cumulative":
            share = st.slider("Share of each row's mass to keep", 0.05, 1.0, step=0.05, key=f"{prefix}share",
                              help="exBERT keeps each row's largest edges until they cover this share (0.7).")
    return TokenControls(hide_special=bool(hide), renormalise=bool(renorm), merge_words=bool(words),
                         prune=str(prune), k=int(k), share=float(share))
