"""Model output: what the model itself outputs for the text, live: the fills of a masked word, the
next token at a position, or (the bundled sentence model) the embedding and its cosine to a
second text. Every page of "Does it matter?" explains this output."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.requests.explain import InputHeatmap, TopKChart
from ui import cache, explain_panel, page, presenter
from ui.glossary_links import term_help
from ui.heatmap_panel import chart_scroll_box

sel = page.header(
    "Model output",
    "What the model itself produces for your text, beside where its heads look. Pick the word to mask (or the "
    "position to predict after): the chart shows the model's top guesses, and the heatmap the attention of the "
    "input as the model read it.",
)
result = page.result_or_stop(sel)
facts = explain_panel.facts_or_stop(sel)
st.caption(f":material/info: {facts.what_it_is_for}")
chart_scroll_box()


def answer() -> None:
    """The output to explain (a word to mask, a position, a second text) and the model's answer: a
    pick reruns only this."""
    request = explain_panel.prediction(sel, facts)
    output = page.value_or_stop(request)
    problem = output.problem
    page.describe(where=explain_panel.output_label(problem))

    if output.predictions:
        pred = output.predictions[0]
        cols = st.columns(3)
        cols[0].metric("Top fill" if output.kind == "masked" else "Top next token", pred.tokens[0],
                       f"{pred.probabilities[0]:.1%}", delta_color="off")
        if pred.target_token is not None:
            cols[1].metric("Original word" if output.kind == "masked" else "Actual next token", pred.target_token,
                           f"{pred.target_probability:.1%}", delta_color="off")
            cols[2].metric("Its rank", f"{pred.target_rank:,}",
                           help=term_help("model_output", "1 = the model's first guess."))
        title = f"Top {len(pred.tokens)} for {explain_panel.output_label(problem)}"
        page.guard(lambda: presenter.chart(cache.chart(TopKChart(request, title)), key="output_topk"),
                   "prediction chart")
        if len(output.predictions) > 1:
            st.caption(f"The word is {len(output.predictions)} tokens; all are masked, and the chart shows the first.")
        table = pd.DataFrame({"rank": range(1, len(pred.tokens) + 1), "token": pred.tokens,
                              "probability": pred.probabilities})
    else:
        cols = st.columns(2)
        cols[0].metric("Embedding size", f"{len(output.embedding):,} numbers")
        if output.cosine is not None:
            cols[1].metric("Cosine to the second text", f"{output.cosine:.3f}",
                           help=term_help("model_output", "1 = the same direction, 0 = unrelated, below 0 = opposite."))
        else:
            st.caption("Type a second text above to see how similar the model finds the two.")
        table = pd.DataFrame({"dimension": range(len(output.embedding)), "value": output.embedding})

    heatmap = InputHeatmap(request, sel.layer, sel.head, f"Layer {sel.layer}, head {sel.head}: attention of the input "
                                                         "as the model read it")
    page.guard(lambda: presenter.chart(cache.chart(heatmap), key="output_heatmap"), "attention heatmap")
    page.downloads(None, {"csv": (lambda: table.to_csv(index=False).encode(), "text/csv")}, f"{page.slug(sel)}_output",
                   key="output_dl")
    st.page_link("pages/interventions.py", label="Switch heads off or mask words: Interventions", icon=":material/tune:")
    st.page_link("pages/attribution.py", label="Which words matter: Attribution", icon=":material/insights:")
    page.how_computed("model-outputs", "the-score-each-method-explains")
    page.caveat()


page.fragment(answer)
