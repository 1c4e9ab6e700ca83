"""Compare: two heads, or one head on two texts, side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import analysis, charts
from ui import cache, page, state, views

sel = page.header(
    "Compare",
    "A is the current selection; for B pick another layer and head, and optionally another text. "
    "With the same tokens in both, the difference B − A (red: B looks less, blue: B looks more) shows what changed.",
)
result = page.result_or_stop(sel)

state.url_value("cl", min(sel.layer + 1, sel.num_layers - 1), state.parse_int(0, sel.num_layers - 1), label="layer B")
state.url_value("ch", sel.head, state.parse_int(0, sel.num_heads - 1), label="head B")
state.url_value("ctext", "", lambda raw: str(raw)[: state.MAX_TEXT_CHARS], state._text_serializer, label="text B")
c1, c2, c3 = st.columns([1, 1, 3])
c1.selectbox("Layer B", list(range(sel.num_layers)), key="cl")
c2.selectbox("Head B", list(range(sel.num_heads)), key="ch")
c3.text_input("Text B (empty = same text)", key="ctext")
other_text = st.session_state["ctext"].strip() or sel.text


BUDGET = charts.CELL_BUDGET // 3  # three heatmaps share one page's budget


def sides() -> None:
    other = cache.get_result(sel.model_id, other_text, sel.text_pair if other_text == sel.text else None)
    a = result.head(sel.layer, sel.head)
    b = other.head(int(st.session_state["cl"]), int(st.session_state["ch"]))
    # Stacked, not side by side: two heatmaps with legends do not fit one screen width.
    views.heatmap_panel(views.Shown(a, list(result.display_tokens), None, [], result.special_mask),
                        title=f"A · layer {sel.layer}, head {sel.head}", key="cmp_a",
                        stem=f"{page.slug(sel)}_A", max_cells=BUDGET)
    views.heatmap_panel(views.Shown(b, list(other.display_tokens), None, [], other.special_mask),
                        title=f"B · layer {st.session_state['cl']}, head {st.session_state['ch']}", key="cmp_b",
                        stem=f"{page.slug(sel)}_B", max_cells=BUDGET,
                        memo_key=(other, ("B", st.session_state["cl"], st.session_state["ch"])))
    if other.tokens == result.tokens:
        st.subheader("Difference (B − A)")
        diff = (b - a).astype(np.float32)
        views.heatmap_panel(views.Shown(diff, list(result.display_tokens), None, [], result.special_mask),
                            title="B − A", key="cmp_d", value_label="Difference", stem=f"{page.slug(sel)}_diff",
                            max_cells=BUDGET, scheme="redblue", symmetric=True)
        js = analysis.jensen_shannon(a, b)
        st.caption(f"Mean Jensen–Shannon divergence between the heads' rows: {float(np.mean(js)):.3f} nats "
                   "(0 = identical, ln 2 ≈ 0.693 = no overlap).")
    else:
        st.caption("The texts tokenize differently, so no cell-by-cell difference is drawn.")


page.guard(sides, "comparison")
views.caveat()
