"""Single head: one head's attention as an annotated heatmap, with lenses and token controls."""

from __future__ import annotations

import streamlit as st

from ui import lenses, page

lens = lenses.chosen_lens("lens", per_head=True)
sel = page.header(
    "Single head",
    "Each row is a query token and shows how it spreads its attention over the keys (columns); "
    f"under the {lenses.LENSES[lens]} lens {lenses.ROW_SUMS[lens]}. "
    "Darker means more; click a cell to focus that query.",
)
result = page.result_or_stop(sel)
lenses.lens_page(sel, result, per_head=True)
if result.causal:
    st.caption(":material/block: Grey cells are keys after the query: a causal model cannot see them "
               "(masked, not zero attention).")
page.caveat()
