"""Single head: one head's attention as an annotated heatmap, with lenses and token controls."""

from __future__ import annotations

import streamlit as st

from ui import page, views

sel = page.header(
    "Single head",
    "Each row is a query token and shows how it spreads its attention over the keys (columns); "
    "every row sums to 1. Darker means more attention; click a cell to focus that query.",
)
result = page.result_or_stop(sel)

left, right = st.columns([3, 1])
with left:
    lens = views.lens_picker("lens", per_head=True)
with right:
    controls = views.token_controls("sh_")
query = views.query_picker(result)
st.caption(views.LENS_HELP[lens])

if lens == "flow":
    page.guard(lambda: views.flow_panel(result, sel.layer, query, "sh_flow"), "attention flow")
else:
    def draw() -> None:
        matrix, value_label, caption = views.lens_matrix(result, lens, sel.layer, sel.head, per_head=True)
        shown = views.apply_controls(matrix, result, controls,
                                     allowed=result.allowed_mask() if result.causal else None)
        st.caption(caption)
        views.heatmap_panel(shown, title=f"{views.LENSES[lens]} · layer {sel.layer}, head {sel.head}",
                            key="sh", value_label=value_label, focus=query if not controls.merge_words else -1,
                            stem=f"{page.slug(sel)}_L{sel.layer}H{sel.head}_{lens}", result=result)
        if lens == "norm":
            views.norm_finding(result, sel.layer, sel.head)
        st.subheader("Strongest connections")
        views.strongest_table(shown.matrix, shown.labels, "sh_")
    page.guard(draw, "heatmap")
if result.causal:
    st.caption(":material/block: Grey cells are keys after the query: a causal model cannot see them "
               "(masked, not zero attention).")
views.caveat()
