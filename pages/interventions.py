"""Interventions: switch heads off (zero or mean ablation) and mask or drop words, and see how the
model's output moves (KL, the original top guess's probability and rank; cosine for embeddings)
and how attention moves."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.explain.interventions import Intervention
from core.requests.charts import OverviewGrid
from core.requests.explain import (AttentionBeforeAfter, BeforeAfterPanels, InputHeatmap, InterventionOf,
                                   InterventionTopKChart, ShiftValues, TopKChart)
from ui import cache, explain_panel, page, presenter, state
from ui.glossary_links import term_help
from ui.heatmap_panel import chart_scroll_box, draw_overview, draw_panels

sel = page.header(
    "Interventions",
    "Change the model and watch its output: switch heads off, mask words (the model sees [MASK]) or drop them "
    "(the model never sees them). The numbers say how far the output moved; the heatmaps how attention moved.",
)
result = page.result_or_stop(sel)
facts = explain_panel.facts_or_stop(sel)
request = explain_panel.prediction(sel, facts)
output = page.value_or_stop(request)
problem = output.problem
chart_scroll_box()


def changes() -> None:
    """The heads and words to change, and what the change does: a pick reruns only this."""
    picked: list[str] = []
    mode = "zero"
    if facts.heads_editable:
        picked = explain_panel.heads_to_switch_off(sel)
        mode = explain_panel.ablation_kind()
    else:
        st.info("This model's heads cannot be switched off here (its architecture is not one whose head outputs this "
                "app can reach); masking and dropping words still work.", icon=":material/info:")
    masked = explain_panel.words_to_change(problem, "maskw", "Words to mask", "Each is replaced by [MASK] ([UNK] "
                                           "where the model has no mask token): the model still sees that a word was "
                                           "there.")
    dropped = explain_panel.words_to_change(problem, "dropw", "Words to drop", "Each is removed from the input: the "
                                            "sentence gets shorter.")
    change = Intervention(explain_panel.heads_of(picked), mode, tuple(masked), tuple(dropped))  # type: ignore[arg-type]
    page.describe(where=explain_panel.output_label(problem))

    if not (picked or masked or dropped):
        st.info("Pick heads to switch off, or words to mask or drop: the output and attention before and after appear "
                "here.", icon=":material/tune:")
        heatmap = InputHeatmap(request, sel.layer, sel.head, f"Layer {sel.layer}, head {sel.head}: attention now")
        page.guard(lambda: presenter.chart(cache.chart(heatmap), key="iv_now"), "attention heatmap")
        page.how_computed("head-ablation", "the-score-each-method-explains")
        page.caveat()
        page.stop()

    asked = InterventionOf(request, change)
    found = page.value_or_stop(asked, "intervention")
    cols = st.columns(3)
    if problem.kind == "embedding":
        what = "Cosine to the second text" if problem.pair_embedding is not None else "Cosine to the original embedding"
        before = found.score_before if problem.pair_embedding is not None else 1.0
        after = found.score_after if problem.pair_embedding is not None else found.cosine_to_original
        cols[0].metric(what, f"{after:.3f}", f"{after - before:+.3f} (was {before:.3f})")
        cols[1].metric("Embedding moved by", f"{1 - found.cosine_to_original:.3f}",
                       help=term_help("ablation", "1 − cosine between the embeddings before and after: 0 = unchanged."))
    else:
        top1 = output.predictions[0].tokens[0]
        cols[0].metric("KL divergence", f"{found.kl:.3f} nats",
                       help=term_help("ablation", "How far the whole prediction moved (0 = unchanged)."))
        cols[1].metric(f"P(‘{top1}’), the original top guess", f"{found.top1_probability_after:.1%}",
                       f"{found.top1_probability_after - found.top1_probability_before:+.1%}", delta_color="off")
        cols[2].metric(f"Rank of ‘{top1}’", f"{found.top1_rank_after:,}",
                       help=term_help("ablation", "1 = still the first guess."))
        left, right = st.columns(2)
        with left:
            page.guard(lambda: presenter.chart(cache.chart(TopKChart(request, "Before")), key="iv_before"), "top-k")
        with right:
            page.guard(lambda: presenter.chart(cache.chart(InterventionTopKChart(asked, "After")), key="iv_after"),
                       "top-k")

    before_after = AttentionBeforeAfter(asked, sel.layer, sel.head)
    page.guard(lambda: draw_panels(BeforeAfterPanels(before_after), before_after, key="iv_att"),
               "attention before and after")
    if dropped:
        st.caption("Dropped words leave the before view too (its rows renormalised), so the two can be compared cell by "
                   "cell.")
    shift = OverviewGrid(ShiftValues(asked), title="How far each head's attention moved", value_label="Attention moved",
                         scheme="greens")
    page.guard(lambda: draw_overview(shift, key="iv_shift", marked=(sel.layer, sel.head),
                                     on_select=state.select_from_chart("iv_shift")), "attention shift")
    st.caption("Each cell: half the summed absolute change of a head's attention rows, averaged over rows (0 = the same, "
               "1 = entirely elsewhere). Click a head to see it above.")
    table = pd.DataFrame({"heads off": [", ".join(picked)], "ablation": [mode], "score before": [found.score_before],
                          "score after": [found.score_after], "KL": [found.kl]})
    page.downloads(None, {"csv": (lambda: table.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_intervention", key="iv_dl")
    page.how_computed("head-ablation", "the-score-each-method-explains")
    page.caveat()


page.fragment(changes)
