"""Pattern classes: Kovaleva et al.'s five classes by a transparent rule, and template scores."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.analysis import patterns
from core.requests.analysis import PatternSummary, TemplateScores
from core.requests.charts import OverviewGrid, PatternCodes
from ui import cache, page, presenter, state
from ui.heatmap_panel import chart_scroll_box
from ui.tables import closed_grid, readable, small_table

# The thresholds' fields, in words (the rule itself is in "How it is computed").
THRESHOLD_LABELS = {
    "vertical_min_v": "Vertical: share to [CLS]/[SEP] at least",
    "vertical_max_d": "Vertical: near-diagonal share below",
    "diagonal_min_d": "Diagonal: near-diagonal share at least",
    "diagonal_max_v": "Diagonal: share to [CLS]/[SEP] below",
    "both_min_sum": "Both: the two shares together at least",
    "both_min_each": "Both: each share at least",
    "block_min": "Block: within-sentence excess at least",
}

sel = page.header(
    "Pattern classes",
    "Each head gets one of Kovaleva et al.'s (2019) classes: vertical (stripes on [CLS]/[SEP]), diagonal "
    "(previous/next/self), both, block (within a segment) or heterogeneous. The rule and its thresholds "
    "are shown and editable; the scores behind every label are in the table.",
)
result = page.result_or_stop(sel)
chart_scroll_box()  # a grid wider than a narrow window scrolls in its own box
stats = cache.head_statistics(result)

defaults = patterns.PatternThresholds()
with st.expander("Thresholds (edit to re-label)", expanded=False, icon=":material/tune:"):
    values = {}
    cols = st.columns(3)
    for i, field in enumerate(dataclasses.fields(defaults)):
        key = f"pc_{field.name}"
        state.control(key, float(getattr(defaults, field.name)), state.parse_float(0.0, 1.0), label=field.name)
        values[field.name] = cols[i % 3].number_input(
            THRESHOLD_LABELS.get(field.name, field.name.replace("_", " ")), 0.0, 1.0, step=0.05, key=key)
    st.caption("Two shares decide most labels: how much attention goes to [CLS] and [SEP] (vertical stripes) and "
               "how much stays on or next to the diagonal (diagonal). The first rule that fits wins; 'block' "
               "needs a sentence pair. The paper used a small neural network; this rule is its transparent "
               "stand-in.")
thresholds = dataclasses.replace(defaults, **{k: type(getattr(defaults, k))(v) for k, v in values.items()})
page.how_computed("pattern-classes")
page.describe(where="every layer × head")


def classes() -> None:
    summary = cache.get(PatternSummary(result, thresholds))
    small_table(summary.counts)
    st.caption("Kovaleva et al. report 32–61% of BERT-base heads heterogeneous, depending on the task. "
               "Each cell of the grid carries its class's letter, as the legend does: V vertical, D diagonal, "
               "V+D vertical+diagonal, B block, H heterogeneous.")
    grid = cache.chart(OverviewGrid(PatternCodes(result, thresholds), title="Pattern class per head",
                                    value_label="class", categories=tuple(patterns.PATTERN_CLASSES)))
    presenter.chart(grid, key="pc_grid", on_select=state.select_from_chart("pc_grid"), marked=(sel.layer, sel.head),
                    width="content")
    closed_grid("Every head's class and scores (table)", summary.labelled, hide_index=True, width="stretch",
                height=300, column_config=readable(summary.labelled.columns))
    page.downloads(None, {"csv": (lambda: summary.labelled.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_pattern_classes", key="pc_dl")


page.guard(classes, "pattern classes")

st.subheader("Template scores")
st.caption("How much of each head's attention falls on a simple pattern: itself, the previous or next token, "
           "[CLS], [SEP], punctuation, or its own sentence. 1 = all of it, 0 = none (as TransformerLens' head "
           "detector).")
page.how_computed("template-scores")
c1, c2 = st.columns(2)
state.control("pc_nofirst", False, state.parse_bool, state.bool_text)
no_first = c1.toggle("Leave out the first token", key="pc_nofirst")
state.control("pc_nodiag", False, state.parse_bool, state.bool_text)
no_diagonal = c2.toggle("Leave out the diagonal", key="pc_nodiag")


def templates() -> None:
    scores = cache.get(TemplateScores(result, no_first, no_diagonal))
    closed_grid("Template scores of every head (table)", scores, hide_index=True, width="stretch", height=300,
                column_config=readable(scores.columns))


page.guard(templates, "template scores")
page.caveat()
