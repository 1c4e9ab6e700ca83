"""Pattern classes: Kovaleva et al.'s five classes by a transparent rule, and template scores."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core import analysis, charts
from ui import page, state, views

sel = page.header(
    "Pattern classes",
    "Each head gets one of Kovaleva et al.'s (2019) classes: vertical (stripes on [CLS]/[SEP]), diagonal "
    "(previous/next/self), both, block (within a segment) or heterogeneous. The rule and its thresholds "
    "are shown and editable; the scores behind every label are in the table.",
)
result = page.result_or_stop(sel)
stats = views.statistics(result)

defaults = analysis.PatternThresholds()
with st.expander("Thresholds (edit to re-label)", expanded=False, icon=":material/tune:"):
    values = {}
    cols = st.columns(3)
    for i, field in enumerate(dataclasses.fields(defaults)):
        key = f"pc_{field.name}"
        state.url_value(key, float(getattr(defaults, field.name)), state.parse_float(0.0, 1.0), label=field.name)
        values[field.name] = cols[i % 3].number_input(field.name.replace("_", " "), 0.0, 1.0, step=0.05, key=key)
    st.caption("V = share of attention to [CLS] and [SEP]; D = mass on |i−j| ≤ 1. Vertical if V ≥ v_min and "
               "D < d_max_for_vertical; diagonal if D ≥ d_min and V < v_max_for_diagonal; both if V + D ≥ "
               "sum_min with each ≥ each_min; block if within-segment share minus its uniform expectation ≥ "
               "block_min (sentence pairs only); else heterogeneous. The paper used a small CNN; this rule is "
               "its transparent stand-in.")
thresholds = dataclasses.replace(defaults, **{k: type(getattr(defaults, k))(v) for k, v in values.items()})


def classes() -> None:
    summary = analysis.pattern_summary(stats, thresholds)
    c1 = c2 = st.container()  # stacked: the grid's legend needs the full width
    c1.dataframe(summary.counts, hide_index=True, width="content")
    c1.caption("Kovaleva et al. report 32–61% of BERT-base heads heterogeneous, depending on the task.")
    grid = charts.overview_grid(summary.codes, title="Pattern class per head", value_label="class",
                                selected=(sel.layer, sel.head), categories=list(analysis.PATTERN_CLASSES))
    c2.altair_chart(charts.unvalidated(grid), key="pc_grid", on_select=lambda: views.select_from_chart("pc_grid"), width="content")
    st.dataframe(summary.labelled, hide_index=True, width="stretch", height=300)
    page.downloads(None, {"csv": (lambda: summary.labelled.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_pattern_classes", key="pc_dl")


page.guard(classes, "pattern classes")

st.subheader("Template scores")
st.caption("For a 0/1 template P, score = Σ(A·P) / Σ(A), as TransformerLens' head detector ('mul'): the share "
           "of a head's attention that falls on the template.")
c1, c2 = st.columns(2)
state.url_value("pc_nofirst", False, state.parse_bool, lambda v: "1" if v else "0")
state.url_value("pc_nodiag", False, state.parse_bool, lambda v: "1" if v else "0")
c1.toggle("Leave out the first token", key="pc_nofirst")
c2.toggle("Leave out the diagonal", key="pc_nodiag")


def templates() -> None:
    punct = analysis.punctuation_mask(list(result.display_tokens))
    tokens = list(result.tokens)
    templates_ = analysis.make_templates(
        result.n_tokens, cls=analysis.cls_mask(tokens, result.special_mask),
        sep=analysis.sep_mask(tokens, result.special_mask), punct=punct, segment_ids=result.segment_ids,
        causal=result.causal)
    scores = analysis.template_scores(result.attention, templates_,
                                      exclude_first=st.session_state["pc_nofirst"],
                                      exclude_diagonal=st.session_state["pc_nodiag"])
    st.dataframe(scores, hide_index=True, width="stretch", height=300)


page.guard(templates, "template scores")
views.caveat()
