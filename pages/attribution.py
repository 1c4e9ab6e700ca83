"""Attribution: which words the output depends on, by gradient x input, integrated gradients
(Captum) and blank-out, beside the lenses (raw attention per layer, rollout, flow, norm-based), as
ranks in one chart and one table; then faithfulness: how well each lens agrees with blank-out
and gradients, for this sentence and over a corpus (a background run with progress and Stop),
beside Abnar & Zuidema's (2020) table."""

from __future__ import annotations

import streamlit as st

from core.corpus import sources
from core.errors import AttentionDashboardError
from core.explain.faithfulness import LENS_NAMES, LENSES, REFERENCES, reading
from core.explain.lenses import FLOW_MAX_TOKENS
from core.requests.explain import (CORPUS_MAX_TOKENS, AttributionOf, CorpusFaithfulnessChart,
                                   CorpusFaithfulnessOf, RankChart, SentenceFaithfulnessChart,
                                   SentenceFaithfulnessOf)
from ui import cache, explain_panel, page, presenter, state
from ui.glossary_links import term_help
from ui.heatmap_panel import chart_scroll_box
from ui.tables import closed_grid

JOB = "faithfulness_job"  # session key: (corpus key, job)
REFERENCE = {"blank-out": "Blank-out (the output's drop when a word is masked)",
             "gradient": "Gradient (|gradient × input| per word)"}

sel = page.header(
    "Attribution",
    "Which words does the output depend on? Three attribution methods measure it (gradients, integrated gradients, "
    "blank-out); the lenses say where attention points. Each row of the chart ranks the words: 1 = most important.",
)
result = page.result_or_stop(sel)
facts = explain_panel.facts_or_stop(sel)
request = explain_panel.prediction(sel, facts)
problem = page.value_or_stop(request).problem
chart_scroll_box()
page.describe(where=explain_panel.output_label(problem))

attribution = AttributionOf(request)
# Integrated gradients and blank-out take seconds on a long text: say what is being waited for.
with st.spinner(f"Ranking the words: integrated gradients ({attribution.ig_steps} steps) and blank-out (one "
                "pass per word)…", show_time=True):
    found = page.value_or_stop(attribution, "attribution")
if not len(found.words):
    st.info("This output has no other word to rank: type a longer sentence.", icon=":material/edit_note:")
    page.caveat()
    page.stop()
page.guard(lambda: presenter.chart(cache.chart(RankChart(attribution, f"Word ranks for {explain_panel.output_label(problem)}")),
                                   key="attr_ranks"), "rank chart")
st.caption(f"Integrated gradients: {found.ig.steps} steps; the attributions add up to the output's change from the "
           f"baseline within {found.ig.relative_error:.1%} (completeness).")
table = found.table()
closed_grid("Every method's score and rank, word by word (table)", table, hide_index=True, width="stretch")
page.downloads(None, {"csv": (lambda: table.to_csv(index=False).encode(), "text/csv")},
               f"{page.slug(sel)}_attribution", key="attr_dl")

st.subheader("Faithfulness: does each lens agree with the output?")
state.control("reference", "blank-out", state.parse_choice(list(REFERENCES)), label="reference")
reference = st.radio("Compare the lenses with", list(REFERENCES), key="reference", format_func=REFERENCE.get,
                     horizontal=True)
sentence = SentenceFaithfulnessOf(request)
one = page.value_or_stop(sentence, "faithfulness")
page.guard(lambda: presenter.chart(cache.chart(SentenceFaithfulnessChart(
    sentence, reference, "This sentence: Spearman ρ of each lens by layer")), key="attr_faith"), "faithfulness chart")
ri = REFERENCES.index(reference)
last = {LENS_NAMES[lens]: float(one.rho[li, -1, ri]) for li, lens in enumerate(LENSES)}
shown = ", ".join(f"{name} {value:.2f}" for name, value in last.items() if value == value)
missing = [name for name, value in last.items() if value != value]
why = ""
if LENS_NAMES["flow"] in missing and problem.sentence.n_tokens > FLOW_MAX_TOKENS:
    why = (f" {LENS_NAMES['flow']} is left out above {FLOW_MAX_TOKENS} tokens (one max-flow problem per token and "
           f"layer; this text has {problem.sentence.n_tokens}).")
st.markdown(f"At the last layer: {shown or 'no lens has a value (too few words)'}.{why} One sentence of "
            f"{len(one.words)} words is a noisy sample; the corpus run below averages many.")
st.caption("What this shows: whether a lens ranks the words in the order the output depends on them (1 = the same "
           "order, 0 = unrelated). What it does not show: that attention explains the output, or that blank-out "
           "is the truth (a masked word is also an unusual input).")

st.subheader("Over a corpus")
SOURCES = {"builtin": "Built-in set", "paste": "Paste sentences"}
state.control("faith_source", "builtin", state.parse_choice(list(SOURCES)), label="sentences")
source = st.radio("Sentences", list(SOURCES), key="faith_source", format_func=SOURCES.get, horizontal=True)
if source == "paste":
    state.control("faith_lines", "", lambda raw: raw, link=False)
    raw = st.text_area("One sentence per line", key="faith_lines", height=140)
    try:
        corpus = sources.from_text(raw) if raw.strip() else None
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
        corpus = None
    if corpus is None:
        st.caption("Paste a few sentences, one per line, to run them.")
        page.how_computed("token-attribution", "lenses-as-word-importances", "faithfulness")
        page.caveat()
        page.stop()
else:
    state.control("faith_set", "tutorial", state.parse_choice(list(sources.BUILTINS)), label="set")
    name = st.selectbox("Set", list(sources.BUILTINS), key="faith_set", format_func=sources.BUILTINS.get)
    corpus = sources.builtin(name)
key = (sel.model_id, corpus.digest)
run = cache.find(CorpusFaithfulnessOf(sel.model_id, corpus))
kept = state.recall(JOB)
job = kept[1] if kept is not None and kept[0] == key else None
if run is None and job is not None and job.running:
    @st.fragment(run_every=0.5)
    def progress() -> None:
        if not job.running:
            st.rerun()
        done, total = job.progress or (0, len(corpus))
        st.progress(done / max(total, 1), text=f"{done:,} of {total:,} sentences")
        st.button("Stop", icon=":material/stop:", key="faith_stop", on_click=job.cancel,
                  help=term_help("faithfulness", "Stops after the sentences in flight; what is done is shown."))
    progress()
elif run is None and job is not None and job.failed:
    st.error(job.error, icon=":material/error:")
elif run is None and job is not None:
    run = job.result
if run is None and (job is None or not job.running):
    def start() -> None:
        try:
            state.remember(JOB, (key, cache.start_faithfulness_run(sel.model_id, corpus)))
        except AttentionDashboardError as err:
            state.note(str(err))
    st.button(f"Run {len(corpus):,} sentences", type="primary", icon=":material/play_arrow:", key="faith_run",
              on_click=start, help=term_help("faithfulness", f"Each sentence (up to {CORPUS_MAX_TOKENS} tokens): lenses, "
              "blank-out, gradients and their correlations. A progress bar shows how far it is; Stop keeps what is done."))
if run is not None:
    if run.cancelled:
        st.info(f"Stopped after {run.n_done:,} of {run.n_sentences:,} sentences: the numbers are for those.",
                icon=":material/pause_circle:")
    page.guard(lambda: presenter.chart(cache.chart(CorpusFaithfulnessChart(
        run, reference, f"{run.n_used:,} sentences: mean Spearman ρ ± its standard deviation")),
        key="attr_corpus"), "corpus faithfulness chart")
    st.markdown(reading(run, reference))
    closed_grid("Mean, spread and count per lens and layer, beside the paper (table)", run.table(), hide_index=True,
                width="stretch")
    if run.skipped:
        st.caption(f"{len(run.skipped)} sentences skipped, e.g. {run.skipped[0]}")
page.how_computed("token-attribution", "lenses-as-word-importances", "faithfulness")
page.caveat()
