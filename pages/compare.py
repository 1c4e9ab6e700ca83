"""Compare: two heads, or one head on two texts, side by side."""

from __future__ import annotations

import streamlit as st

from core.analysis import compare
from core.render.matrix import CELL_BUDGET, DrawMatrix
from ui import cache, page, state
from ui.heatmap_panel import heatmap_panel

sel = page.header(
    "Compare",
    "A is the current selection; for B pick another layer and head, and optionally another text. "
    "With the same tokens in both, the difference B − A (red: B looks less, blue: B looks more) shows what changed.",
)
result = page.result_or_stop(sel)

BUDGET = CELL_BUDGET // 3  # three heatmaps share one page's budget

c1, c2, c3 = st.columns([1, 1, 3])
layer_b = state.control("cl", min(sel.layer + 1, sel.num_layers - 1), state.parse_int(0, sel.num_layers - 1),
                        label="layer B")
c1.selectbox("Layer B", list(range(sel.num_layers)), key="cl")
head_b = state.control("ch", sel.head, state.parse_int(0, sel.num_heads - 1), label="head B")
c2.selectbox("Head B", list(range(sel.num_heads)), key="ch")
state.control("ctext", "", state.parse_text, state.text_for_link, label="text B")
text_b = c3.text_input("Text B (empty = same text)", key="ctext").strip() or sel.text


def sides() -> None:
    other = cache.result(sel.model_id, text_b, sel.text_pair if text_b == sel.text else None)
    a = result.head(sel.layer, sel.head)
    # Stacked, not side by side: two heatmaps with legends do not fit one screen width.
    heatmap_panel(DrawMatrix.of(a, result.display_tokens, special=result.special_mask),
                  title=f"A · layer {sel.layer}, head {sel.head}", key="cmp_a", stem=f"{page.slug(sel)}_A",
                  max_cells=BUDGET)
    heatmap_panel(DrawMatrix.of(other.head(layer_b, head_b), other.display_tokens, special=other.special_mask),
                  title=f"B · layer {layer_b}, head {head_b}", key="cmp_b", stem=f"{page.slug(sel)}_B",
                  max_cells=BUDGET, fixed_head=(other, layer_b, head_b))
    if other.tokens != result.tokens:
        st.caption("The texts tokenize differently, so no cell-by-cell difference is drawn.")
        return
    st.subheader("Difference (B − A)")
    found = compare.compare_heads(a, other.head(layer_b, head_b))
    heatmap_panel(DrawMatrix.of(found.difference, result.display_tokens, special=result.special_mask),
                  title="B − A", key="cmp_d", value_label="Difference", stem=f"{page.slug(sel)}_diff",
                  max_cells=BUDGET, scheme="redblue", symmetric=True)
    st.caption(f"Mean Jensen–Shannon divergence between the heads' rows: {found.mean_divergence:.3f} nats "
               "(0 = identical, ln 2 ≈ 0.693 = no overlap).")


page.guard(sides, "comparison")
page.caveat()
