"""Layer average: the mean over a layer's heads, and the layer-level lenses."""

from __future__ import annotations

import streamlit as st

from ui import page, views

sel = page.header(
    "Layer average",
    "The average of all heads in the selected layer: a summary of where the layer as a whole looks. "
    "Averaging hides specialised heads, so compare with the single-head and atlas pages.",
)
result = page.result_or_stop(sel)

left, right = st.columns([3, 1])
with left:
    lens = views.lens_picker("llens", per_head=False)
with right:
    controls = views.token_controls("la_")
query = views.query_picker(result)
st.caption(views.LENS_HELP[lens])

if lens == "flow":
    page.guard(lambda: views.flow_panel(result, sel.layer, query, "la_flow"), "attention flow")
else:
    def draw() -> None:
        matrix, value_label, caption = views.lens_matrix(result, lens, sel.layer, sel.head, per_head=False)
        shown = views.apply_controls(matrix, result, controls,
                                     allowed=result.allowed_mask() if result.causal else None)
        st.caption(caption)
        views.heatmap_panel(shown, title=f"{views.LENSES[lens]} · layer {sel.layer}", key="la",
                            value_label=value_label, focus=query if not controls.merge_words else -1,
                            stem=f"{page.slug(sel)}_L{sel.layer}_{lens}", result=result)
        st.subheader("Strongest connections")
        views.strongest_table(shown.matrix, shown.labels, "la_")
    page.guard(draw, "heatmap")
views.caveat()
