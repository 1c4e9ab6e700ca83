"""Pattern breakdown: the tutorial's categories of strong head-averaged connections, per layer."""

from __future__ import annotations

import streamlit as st

from core.render import bars
from core.requests.analysis import CategoryBreakdown
from ui import cache, page, presenter, state
from ui.tables import closed_grid, readable

DEFAULTS = {"relative": 2.0, "absolute": 0.1, "cumulative": 0.7}
TABLE_ROWS = 500  # the chart counts every edge; the table ships only the strongest

sel = page.header(
    "Pattern breakdown",
    "The tutorial's sorting of strong head-averaged connections (a token to itself left out) into positional "
    "(to the next or previous token), special-token ([CLS]/[SEP] involved), syntactic (from 'the', 'a' or 'an') "
    "and semantic (everything else), counted per layer. 'Semantic' is a leftover bucket, not evidence of meaning.",
)
result = page.result_or_stop(sel)
page.describe(where="every layer, heads averaged")
# Uniform attention: 1/n for an encoder; a causal model's token i sees only i + 1 tokens, so 1/(i+1)
# (core.analysis.compare passes result.causal to the threshold).
uniform = "1/(i+1)" if result.causal else "1/n"
MODES = {
    "relative": f"× uniform ({uniform})",
    "absolute": "absolute weight",
    "cumulative": "cumulative share per row (exBERT)",
}

c1, c2 = st.columns(2)
state.control("pb_mode", "relative", state.parse_choice(list(MODES)), label="threshold mode")
mode = c1.radio("Threshold", list(MODES), key="pb_mode", format_func=MODES.get, horizontal=True)
state.control(f"pb_t_{mode}", DEFAULTS[mode], state.parse_float(0.0, 100.0 if mode == "relative" else 1.0),
              label="threshold")
threshold = c2.number_input(
    {"relative": f"Multiple of uniform attention ({uniform})", "absolute": "Weight above",
     "cumulative": "Share of each row kept"}[mode],
    0.0, 100.0 if mode == "relative" else 1.0, step=0.05 if mode != "relative" else 0.5, key=f"pb_t_{mode}")
if result.causal:
    why = ("Why not the tutorial's fixed 0.1? A causal model's token i sees only the i + 1 tokens up to itself, so "
           "spreading evenly gives each of them 1/(i+1): early tokens pass 0.1 by construction. 'Relative' keeps "
           "connections above a multiple of each token's own 1/(i+1); 'cumulative' keeps each row's largest "
           "connections until they cover the chosen share.")
else:
    why = ("Why not the tutorial's fixed 0.1? Spreading evenly gives every token 1/n, so for fewer than 10 tokens "
           f"every even connection already passes 0.1. Here n = {result.n_tokens}, so 1/n = "
           f"{1 / result.n_tokens:.3f}: 'relative' keeps connections above a multiple of that; 'cumulative' keeps "
           "each row's largest connections until they cover the chosen share.")
st.caption(why)
page.how_computed("tutorial-categories")


def breakdown() -> None:
    conns, counts = cache.get(CategoryBreakdown(result, float(threshold), mode))
    presenter.chart(bars.category_chart(counts), width="content")
    if len(conns) > TABLE_ROWS:
        st.caption(f"The {TABLE_ROWS} strongest of {len(conns):,} connections; the CSV has all of them.")
    closed_grid("Connections and their category (table)", conns.sort_values("weight", ascending=False).head(TABLE_ROWS),
                hide_index=True, width="stretch", height=280, column_config=readable(conns.columns))
    page.downloads(lambda: bars.category_chart(counts), {"csv": (lambda: conns.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_patterns", key="pb_dl")


page.guard(breakdown, "breakdown")

st.subheader("The six sentence types side by side")
st.caption("Same model, same threshold rule, the tutorial's six example sentences.")


def examples() -> None:
    table = cache.examples_breakdown(sel.model_id, float(threshold), mode)
    presenter.chart(bars.category_compare_chart(table), width="content")
    closed_grid("The examples' shares (table)", table, hide_index=True, width="stretch",
                column_config=readable(table.columns))


page.guard(examples, "comparison")
page.caveat()
