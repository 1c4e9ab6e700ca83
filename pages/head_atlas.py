"""Head atlas: every layer x head coloured by an evidence-based statistic, plus the full table."""

from __future__ import annotations

import streamlit as st

from core.requests.charts import OverviewGrid, StatisticValues
from ui import cache, page, presenter, state
from ui.heatmap_panel import chart_scroll_box
from ui.tables import closed_grid, readable

# statistic -> (label, what it says in plain words, the method notes' section). Formulas are in
# "How it is computed" (docs/methods.md).
STATS = {
    "entropy_norm": ("Normalised entropy", "How spread out a head's attention is: 1 = spread evenly over every "
                     "token it can see, 0 = all on one token (Clark et al. 2019).", "entropy"),
    "distance_ratio": ("Mean distance ÷ uniform", "How far a head looks, compared with spreading evenly: below 1 "
                       "it looks at nearby tokens, above 1 at distant ones.", "mean-distance"),
    "cls_share": ("Share to [CLS]", "How much of its attention goes to the [CLS] token, on average over the "
                  "tokens (Clark et al. 2019).", "token-set-shares"),
    "sep_share": ("Share to [SEP]", "How much of its attention goes to [SEP]. Clark et al. read heavy [SEP] "
                  "attention as a head with nothing to do.", "token-set-shares"),
    "punct_share": ("Share to punctuation", "How much of its attention goes to punctuation (Clark et al. 2019).",
                    "token-set-shares"),
    "prev_score": ("Previous-token score", "How much each token looks at the token just before it "
                   "(Clark et al. 2019).", "positional-scores"),
    "next_score": ("Next-token score", "How much each token looks at the token just after it "
                   "(Clark et al. 2019).", "positional-scores"),
    "self_score": ("Self score", "How much each token looks at itself.", "positional-scores"),
    "confidence": ("Confidence", "How strongly a head picks one real word: its largest weight to a word, "
                   "special tokens left out (Voita et al. 2019).", "confidence"),
    "sink_ratio": ("Attention sink (first token)", "How many times more attention the first token gets than "
                   "it would if each token spread its attention evenly: 1 = no preference, large = an attention "
                   "sink (Xiao et al. 2024).", "first-token-share"),
}

sel = page.header(
    "Head atlas",
    "Each cell is one head (rows = layers, columns = heads), coloured by the statistic you choose. "
    "Click a cell (or a row of the table) to open that head on the single-head page; the table below has "
    "every statistic.",
)
result = page.result_or_stop(sel)
chart_scroll_box()  # a grid wider than a narrow window scrolls in its own box
stats = cache.head_statistics(result)
page.describe(where="every layer × head")

state.control("stat", "entropy_norm", state.parse_choice(list(STATS)), label="statistic")
stat = st.selectbox("Colour by", list(STATS), key="stat", format_func=lambda s: STATS[s][0], width=360)
st.caption(f"**{STATS[stat][0]}**: {STATS[stat][1]}")
page.how_computed(STATS[stat][2])


def atlas() -> None:
    chart = cache.chart(OverviewGrid(StatisticValues(result, stat), title=STATS[stat][0], value_label=STATS[stat][0]))
    presenter.chart(chart, key="atlas_chart", width="content", marked=(sel.layer, sel.head),
                    on_select=state.select_from_chart("atlas_chart", page="single_head"))


page.guard(atlas, "atlas")
st.page_link("pages/head_importance.py", label="Which of these heads does the output need? Head importance",
             icon=":material/leaderboard:")

st.subheader("Every head's statistics")
closed_grid("Every head's statistics (table: click a row to open that head)", stats, hide_index=True,
            width="stretch", height=360, key="atlas_table", selection_mode="single-row",
            on_select=state.select_from_table("atlas_table", stats, page="single_head"),
            column_config=readable(stats.columns))
page.downloads(None, {"csv": (lambda: stats.to_csv(index=False).encode(), "text/csv")},
               f"{page.slug(sel)}_head_statistics", key="atlas_dl")
if result.causal:
    st.caption("Causal model: each token sees only the tokens before it, so evenness and distance are measured "
               "against what that token can see, and the attention sink leaves out the first row (the first "
               "token can only look at itself).")
page.caveat()
