"""Pattern breakdown: the tutorial's categories of strong head-averaged connections, per layer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import analysis, charts
from ui import cache, page, state, views

MODES = {
    "relative": "× uniform (1/n)",
    "absolute": "absolute weight",
    "cumulative": "cumulative share per row (exBERT)",
}
DEFAULTS = {"relative": 2.0, "absolute": 0.1, "cumulative": 0.7}
TABLE_ROWS = 500  # the chart counts every edge; the table ships only the strongest

sel = page.header(
    "Pattern breakdown",
    "The tutorial's sorting of strong head-averaged connections (self excluded) into positional (|i−j| = 1), "
    "special-token ([CLS]/[SEP] involved), syntactic (from a determiner) and semantic (everything else), "
    "counted per layer. 'Semantic' is a leftover bucket, not evidence of meaning.",
)
result = page.result_or_stop(sel)

state.url_value("pb_mode", "relative", state.parse_choice(list(MODES)), label="threshold mode")
c1, c2 = st.columns(2)
mode = c1.radio("Threshold", list(MODES), key="pb_mode", format_func=MODES.get, horizontal=True)
state.url_value(f"pb_t_{mode}", DEFAULTS[mode], state.parse_float(0.0, 100.0), label="threshold")
threshold = c2.number_input(
    {"relative": "Multiple of 1/n", "absolute": "Weight above", "cumulative": "Share of each row kept"}[mode],
    0.0, 100.0 if mode == "relative" else 1.0, step=0.05 if mode != "relative" else 0.5, key=f"pb_t_{mode}")
st.caption(
    "Why not the tutorial's fixed 0.1? Uniform attention is 1/n, so for fewer than 10 tokens every uniform edge "
    f"already passes 0.1. Here n = {result.n_tokens}, so 1/n = {1 / result.n_tokens:.3f}: 'relative' keeps edges "
    "above a multiple of that; 'cumulative' keeps each row's largest edges until they cover the chosen share.")


def breakdown() -> None:
    avg = analysis.head_average(result.attention)
    conns = analysis.categorise_connections(avg, list(result.display_tokens), result.special_mask,
                                            float(threshold), mode)
    counts = analysis.category_counts(conns, result.num_layers)
    st.altair_chart(charts.unvalidated(charts.category_chart(counts)), width="content")
    shown = conns.sort_values("weight", ascending=False).head(TABLE_ROWS)
    if len(conns) > TABLE_ROWS:
        st.caption(f"The {TABLE_ROWS} strongest of {len(conns):,} connections; the CSV has all of them.")
    st.dataframe(shown, hide_index=True, width="stretch", height=280)
    page.downloads(lambda: charts.category_chart(counts),
                   {"csv": (lambda: conns.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_patterns", key="pb_dl")


page.guard(breakdown, "breakdown")

st.subheader("The six sentence types side by side")
st.caption("Same model, same threshold rule, the tutorial's six example sentences.")


def compare() -> None:
    frames = []
    for name, text in state.EXAMPLES.items():
        res = cache.get_result(sel.model_id, text, None)
        avg = analysis.head_average(res.attention)
        conns = analysis.categorise_connections(avg, list(res.display_tokens), res.special_mask,
                                                float(threshold), mode)
        counts = analysis.category_counts(conns, res.num_layers)
        counts.insert(0, "sentence", f"{name}: {text}")
        frames.append(counts)
    table = pd.concat(frames, ignore_index=True)
    st.altair_chart(charts.unvalidated(charts.category_compare_chart(table)), width="content")
    st.dataframe(table, hide_index=True, width="stretch")


page.guard(compare, "comparison")
views.caveat()
