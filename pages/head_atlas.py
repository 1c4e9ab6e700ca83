"""Head atlas: every layer x head coloured by an evidence-based statistic, plus the full table."""

from __future__ import annotations

import streamlit as st

from core.render import heatmaps, vega
from ui import cache, page, state

STATS = {
    "entropy_norm": ("Normalised entropy", "H_i / ln(m_i), mean over rows: 1 = uniform, 0 = one key "
                     "(Clark et al. 2019; normalised because raw entropy grows with length)."),
    "distance_ratio": ("Mean distance ÷ uniform", "Σ_j A_ij |i−j| over rows, divided by the uniform "
                       "baseline (n²−1)/(3n): < 1 local, > 1 long-range (Clark et al. 2019)."),
    "cls_share": ("Share to [CLS]", "(1/n) Σ_i A_i,CLS (Clark et al. 2019)."),
    "sep_share": ("Share to [SEP]", "(1/n) Σ_i Σ_{j∈SEP} A_ij — Clark et al. read heavy [SEP] attention as a no-op."),
    "punct_share": ("Share to punctuation", "(1/n) Σ_i Σ_{j∈punct} A_ij (Clark et al. 2019)."),
    "prev_score": ("Previous-token score", "mean_{i≥1} A_{i,i−1} (Clark et al. 2019)."),
    "next_score": ("Next-token score", "mean_{i≤n−2} A_{i,i+1} (Clark et al. 2019)."),
    "self_score": ("Self score", "mean_i A_ii."),
    "confidence": ("Confidence", "mean over rows of max_j A_ij, special-token keys excluded (Voita et al. 2019)."),
    "first_token_share": ("First-token (sink) share", "mean share of the first key; an attention sink in "
                          "causal models (Xiao et al. 2024)."),
}

sel = page.header(
    "Head atlas",
    "Each cell is one head (rows = layers, columns = heads), coloured by the statistic you choose. "
    "Click a cell (or a row of the table) to open that head on the single-head page; the table below has "
    "every statistic.",
)
result = page.result_or_stop(sel)
stats = cache.head_statistics(result)

state.control("stat", "entropy_norm", state.parse_choice(list(STATS)), label="statistic")
stat = st.selectbox("Colour by", list(STATS), key="stat", format_func=lambda s: STATS[s][0], width=360)
st.caption(f"**{STATS[stat][0]}**: {STATS[stat][1]}")


def atlas() -> None:
    values = stats.pivot(index="layer", columns="head", values=stat).to_numpy()
    chart = heatmaps.overview_grid(values, title=STATS[stat][0], value_label=STATS[stat][0],
                                   selected=(sel.layer, sel.head))
    st.altair_chart(vega.unvalidated(chart), key="atlas_chart", width="content",
                    on_select=state.select_from_chart("atlas_chart", page="single_head"))


page.guard(atlas, "atlas")

st.subheader("Every head's statistics")
st.dataframe(stats, hide_index=True, width="stretch", height=360, key="atlas_table", selection_mode="single-row",
             on_select=state.select_from_table("atlas_table", stats, page="single_head"))
page.downloads(None, {"csv": (lambda: stats.to_csv(index=False).encode(), "text/csv")},
               f"{page.slug(sel)}_head_statistics", key="atlas_dl")
if result.causal:
    st.caption("Causal model: entropy is normalised by each row's receptive field (i+1 keys), and the "
               "distance baseline is the per-row uniform expectation.")
page.caveat()
