"""Across layers: the same head number in every layer, and every layer x head at once."""

from __future__ import annotations

import streamlit as st

from core.render import grids
from core.requests.analysis import HeadOverview
from core.requests.charts import ThumbnailGrid
from ui import cache, page, presenter, state
from ui.heatmap_panel import chart_scroll_box, layers_table_view, table_box
from ui.tables import readable

sel = page.header(
    "Across layers",
    "Top: the tutorial's grid of one head number in every layer, on one colour scale. Bottom: every "
    "layer × head as a thumbnail; click one to select that layer and head on every page.",
)
result = page.result_or_stop(sel)
chart_scroll_box()  # a grid wider than a narrow window scrolls in its own box

st.subheader(f"Head {sel.head} in every layer")


def grid() -> None:
    def make():
        return grids.head_grid(result.attention[:, sel.head], list(result.display_tokens), head=sel.head,
                                  allowed_mask=result.allowed_mask() if result.causal else None)
    presenter.chart(make(), width="content")
    page.downloads(make, {}, f"{page.slug(sel)}_head{sel.head}_layers", key="al_grid")
    layers_table_view(result, sel.head, "al_grid")


page.guard(grid, "layer grid")

st.subheader("Every layer × head")
st.caption("Each thumbnail is one head (rows = layers, columns = heads). Click a thumbnail to select it.")


def overview() -> None:
    # The grid is the engine's memo (one per text); the outline, so a click shows where it landed,
    # is moved to the selected head in the drawn spec.
    chart = cache.chart(ThumbnailGrid(result))
    presenter.chart(chart, key="al_thumbs", width="content", on_select=state.select_from_chart("al_thumbs"),
                    marked=(sel.layer, sel.head))


page.guard(overview, "overview")
st.caption(f"Selected: layer {sel.layer}, head {sel.head}.")


def overview_table() -> None:
    # Built only while open (every head's strongest connections).
    with table_box("al_thumbs", "The overview as a table") as box:
        if not box.open:
            return
        table = cache.get(HeadOverview(result))
        st.caption("One row per head: its strongest connection to another token (position in brackets) and how "
                   "evenly it spreads (1 = evenly over every token, 0 = on one token).")
        st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
                     column_config=readable(table.columns,
                                            strongest_weight=st.column_config.NumberColumn("Weight", format="%.3f"),
                                            entropy_norm=st.column_config.NumberColumn("Evenness", format="%.2f")))


page.guard(overview_table, "overview table")
