"""BertViz: the interactive head view and model view, offline, escaped and size-bounded."""

from __future__ import annotations

import streamlit as st

from core import bertviz_embed
from ui import page, state
from ui.bertviz_component import bertviz_view

sel = page.header(
    "BertViz",
    "Jesse Vig's BertViz views. Head view: lines join each token (left) to the tokens it attends to (right); "
    "pick layers and heads at the top. Model view: every layer × head as a thumbnail; click one to select it "
    "on every page.",
)
result = page.result_or_stop(sel)

state.url_value("bv_view", "head", state.parse_choice(["head", "model"]), label="view")
view_kind = st.segmented_control("View", ["head", "model"], key="bv_view",
                                 format_func={"head": "Head view", "model": "Model view"}.get) or "head"


def draw() -> None:
    build = bertviz_embed.build_head_view if view_kind == "head" else bertviz_embed.build_model_view
    view = build(result)
    for note in view.notes:
        st.info(note, icon=":material/compress:")
    st.caption(f"{view.nbytes / 1e6:.2f} MB of HTML; all scripts are served from this app (no CDN).")
    clicked = bertviz_view(view, key=f"bv_{view_kind}")
    # Act on each click once (the component keeps returning its last value on later reruns).
    if isinstance(clicked, dict) and "layer" in clicked and clicked.get("nonce") != st.session_state.get("_bv_nonce"):
        st.session_state["_bv_nonce"] = clicked.get("nonce")
        state.request_select(int(clicked["layer"]), int(clicked.get("head", sel.head)))


page.guard(draw, "BertViz view")
st.caption(f"Selected on every page: layer {sel.layer}, head {sel.head}.")
