"""Across layers: the same head number in every layer, and every layer x head at once."""

from __future__ import annotations

import copy

import streamlit as st

from core import charts
from ui import cache, page, views

sel = page.header(
    "Across layers",
    "Top: the tutorial's grid of one head number in every layer, on one colour scale. Bottom: every "
    "layer × head as a thumbnail; click one to select that layer and head on every page.",
)
result = page.result_or_stop(sel)

st.subheader(f"Head {sel.head} in every layer")


def grid() -> None:
    chart = charts.head_grid(result.attention[:, sel.head], list(result.display_tokens), head=sel.head,
                             columns=3)
    st.altair_chart(charts.unvalidated(chart), width="content")
    page.downloads(lambda: charts.head_grid(result.attention[:, sel.head], list(result.display_tokens),
                                            head=sel.head, columns=3),
                   {}, f"{page.slug(sel)}_head{sel.head}_layers", key="al_grid")


page.guard(grid, "layer grid")

st.subheader("Every layer × head")
st.caption("Each thumbnail is one head (rows = layers, columns = heads). Click a thumbnail to select it.")


def overview() -> None:
    # The grid of every head does not depend on the selected head: build it once per text.
    chart = cache.memo(result, "thumbnail_grid", None,
                       lambda: charts.thumbnail_grid(result.attention, list(result.display_tokens)))
    st.altair_chart(charts.unvalidated(copy.copy(chart)), key="al_thumbs", on_select=lambda: views.select_from_chart("al_thumbs"),
                    width="content")


page.guard(overview, "overview")
st.caption(f"Selected: layer {sel.layer}, head {sel.head}.")
