"""Pattern classes: Kovaleva et al.'s five classes by a transparent rule, and template scores."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.analysis import patterns, tokens
from core.render import heatmaps, vega
from ui import cache, page, state

sel = page.header(
    "Pattern classes",
    "Each head gets one of Kovaleva et al.'s (2019) classes: vertical (stripes on [CLS]/[SEP]), diagonal "
    "(previous/next/self), both, block (within a segment) or heterogeneous. The rule and its thresholds "
    "are shown and editable; the scores behind every label are in the table.",
)
result = page.result_or_stop(sel)
stats = cache.head_statistics(result)

defaults = patterns.PatternThresholds()
with st.expander("Thresholds (edit to re-label)", expanded=False, icon=":material/tune:"):
    values = {}
    cols = st.columns(3)
    for i, field in enumerate(dataclasses.fields(defaults)):
        key = f"pc_{field.name}"
        state.control(key, float(getattr(defaults, field.name)), state.parse_float(0.0, 1.0), label=field.name)
        values[field.name] = cols[i % 3].number_input(field.name.replace("_", " "), 0.0, 1.0, step=0.05, key=key)
    st.caption("V = share of attention to [CLS] and [SEP]; D = mass on |i−j| ≤ 1. Vertical if V ≥ v_min and "
               "D < d_max_for_vertical; diagonal if D ≥ d_min and V < v_max_for_diagonal; both if V + D ≥ "
               "sum_min with each ≥ each_min; block if within-segment share minus its uniform expectation ≥ "
               "block_min (sentence pairs only); else heterogeneous. The paper used a small CNN; this rule is "
               "its transparent stand-in.")
thresholds = dataclasses.replace(defaults, **{k: type(getattr(defaults, k))(v) for k, v in values.items()})


def classes() -> None:
    summary = patterns.pattern_summary(stats, thresholds)
    st.dataframe(summary.counts, hide_index=True, width="content")  # stacked: the grid's legend needs the width
    st.caption("Kovaleva et al. report 32–61% of BERT-base heads heterogeneous, depending on the task.")
    grid = heatmaps.overview_grid(summary.codes, title="Pattern class per head", value_label="class",
                                  selected=(sel.layer, sel.head), categories=list(patterns.PATTERN_CLASSES))
    st.altair_chart(vega.unvalidated(grid), key="pc_grid", on_select=state.select_from_chart("pc_grid"),
                    width="content")
    st.dataframe(summary.labelled, hide_index=True, width="stretch", height=300)
    page.downloads(None, {"csv": (lambda: summary.labelled.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_pattern_classes", key="pc_dl")


page.guard(classes, "pattern classes")

st.subheader("Template scores")
st.caption("For a 0/1 template P, score = Σ(A·P) / Σ(A), as TransformerLens' head detector ('mul'): the share "
           "of a head's attention that falls on the template.")
c1, c2 = st.columns(2)
state.control("pc_nofirst", False, state.parse_bool, state.bool_text)
no_first = c1.toggle("Leave out the first token", key="pc_nofirst")
state.control("pc_nodiag", False, state.parse_bool, state.bool_text)
no_diagonal = c2.toggle("Leave out the diagonal", key="pc_nodiag")


def templates() -> None:
    names = list(result.tokens)
    masks = patterns.make_templates(
        result.n_tokens, cls=tokens.cls_mask(names, result.special_mask),
        sep=tokens.sep_mask(names, result.special_mask),
        punct=tokens.punctuation_mask(list(result.display_tokens)), segment_ids=result.segment_ids,
        causal=result.causal)
    scores = patterns.template_scores(result.attention, masks, exclude_first=no_first, exclude_diagonal=no_diagonal)
    st.dataframe(scores, hide_index=True, width="stretch", height=300)


page.guard(templates, "template scores")
page.caveat()
