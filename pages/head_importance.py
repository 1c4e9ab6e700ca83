"""Head importance: for this sentence's output, every head at once: the output change when the head
alone is switched off, and Michel et al.'s (2019) gradient score, each a layer x head grid that
opens the head on click, beside the head atlas's statistics."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.requests.charts import OverviewGrid
from core.requests.explain import IMPORTANCE_VALUES, HeadImportanceOf, ImportanceValues
from ui import cache, explain_panel, page, presenter, state
from ui.heatmap_panel import chart_scroll_box
from ui.tables import closed_grid, readable

sel = page.header(
    "Head importance",
    "Which heads does this output need? Top: how much the output changes when each head alone is switched off. "
    "Bottom: the gradient score of Michel et al. (2019), which asks the same with one backward pass. Darker "
    "matters more; click a head to open it.",
)
result = page.result_or_stop(sel)
facts = explain_panel.facts_or_stop(sel)
if not facts.heads_editable:
    st.info("This model's heads cannot be switched off here (this app reaches head outputs only for BERT, "
            "RoBERTa, DistilBERT and GPT-2 style models).", icon=":material/info:")
    page.caveat()
    page.stop()
request = explain_panel.prediction(sel, facts)
problem = page.value_or_stop(request).problem
mode = explain_panel.ablation_kind()
asked = HeadImportanceOf(request, mode)
found = page.value_or_stop(asked, "head importance")
chart_scroll_box()
page.describe(where=f"every layer × head · {explain_panel.output_label(problem)}")
change = "KL divergence of the prediction" if problem.kind != "embedding" else "1 − cosine to the original embedding"
st.caption(f"Output: {explain_panel.output_label(problem)}. Change when a head is switched off: {change}.")

for which in ("ablation", "gradient"):
    title, label = IMPORTANCE_VALUES[which]
    grid = OverviewGrid(ImportanceValues(asked, which), title=title, value_label=label, scheme="purples")
    page.guard(lambda g=grid, k=f"imp_{which}": presenter.chart(
        cache.chart(g), key=k, width="content", marked=(sel.layer, sel.head),
        on_select=state.select_from_chart(k, page="single_head")), f"{which} grid")

ablation, gradient = np.asarray(found.ablation, float), np.asarray(found.gradient, float)
top_a = np.unravel_index(int(np.argmax(ablation)), ablation.shape)
top_g = np.unravel_index(int(np.argmax(gradient)), gradient.shape)
agree = np.corrcoef(np.argsort(np.argsort(ablation.ravel())), np.argsort(np.argsort(gradient.ravel())))[0, 1]
st.markdown(f"Most important by switching off: **layer {top_a[0]}, head {top_a[1]}**; by gradient: **layer "
            f"{top_g[0]}, head {top_g[1]}**. The two rankings of all {ablation.size} heads agree with a rank "
            f"correlation of **{agree:.2f}** (1 = the same order). The gradient is a straight-line estimate made "
            "with every head on; switching a head off measures the change itself, so where the two disagree, the top grid is the "
            "measured one.")

stats = cache.head_statistics(result)
table = stats.assign(ablation=ablation.ravel(), score_drop=np.asarray(found.score_drop).ravel(),
                     gradient=gradient.ravel())
table = table[["layer", "head", "ablation", "score_drop", "gradient",
               *[c for c in stats.columns if c not in ("layer", "head")]]]
closed_grid("Importance beside the head atlas's statistics (table: click a row to open that head)", table,
            hide_index=True, width="stretch", height=360, key="imp_table", selection_mode="single-row",
            on_select=state.select_from_table("imp_table", table, page="single_head"),
            column_config={**readable(table.columns), "ablation": "Output change (switched off)",
                           "score_drop": "Score drop", "gradient": "Gradient importance"})
page.downloads(None, {"csv": (lambda: table.to_csv(index=False).encode(), "text/csv")},
               f"{page.slug(sel)}_head_importance", key="imp_dl")
st.page_link("pages/head_atlas.py", label="Head atlas: what each head looks like", icon=":material/analytics:")
page.how_computed("head-importance", "head-ablation")
page.caveat()
