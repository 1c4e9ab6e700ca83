"""Corpus atlas: every head statistic over many sentences, with its spread, the pattern-class
share of each head, and each head's most and least typical sentences (a click opens one in
Single head). Thin: choices, a run with progress and Cancel; every number comes from
core.corpus through ui.cache."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis.patterns import PATTERN_CLASSES
from core.corpus import sources
from core.corpus.batch import DEFAULT_CORPUS_MAX_TOKENS
from core.corpus.run import CorpusRun, CorpusRunError
from core.errors import AttentionDashboardError
from core.examples import EXAMPLES
from core.requests.charts import OverviewGrid
from core.requests.runs import CorpusPatternCodes, CorpusRunOf, CorpusValues, CorpusZScores
from ui import cache, page, presenter, state
from ui.heatmap_panel import chart_scroll_box
from ui.tables import LABELS, readable

MAX_TOKENS = DEFAULT_CORPUS_MAX_TOKENS
RUN_NOW = 16  # a corpus this small runs in the page's own run (the six sentences: well under a second)
BATCH_SIZES = [1, 8, 16, 32, 64]
SOURCES = {"builtin": "Built-in set", "paste": "Paste sentences", "upload": "Upload a file",
           "hub": "Hugging Face dataset", "saved": "Open a saved run"}
STATS = {  # statistic -> what it says in plain words (the table and the CSV have every statistic)
    "entropy_norm": "How evenly a head spreads its attention: 1 = evenly over every token, 0 = on one token.",
    "distance_ratio": "How far a head looks compared with spreading evenly: below 1 near, above 1 far.",
    "prev_score": "How much each token looks at the token just before it.",
    "next_score": "How much each token looks at the token just after it.",
    "self_score": "How much each token looks at itself.",
    "special_share": "How much attention goes to special tokens ([CLS], [SEP]).",
    "punct_share": "How much attention goes to punctuation.",
    "confidence": "How strongly a head picks one real word (its largest weight to a word).",
    "sink_ratio": "How many times more attention the first token gets than under even spreading.",
    "broad": "The share of sentences in which the head is broad (Clark et al.'s label).",
}
SPREAD = {"mean": "Mean over the sentences", "sd": "Standard deviation across sentences"}
JOB, SHOWN, PARSED = "corpus_job", "corpus_shown", "corpus_parsed"  # session keys: (corpus key, value)

sel = page.header(
    "Corpus atlas",
    "The Head atlas for many sentences at once. Bring a corpus (one sentence per line); every sentence "
    "goes through the model, and each cell below is one head's statistic averaged over the sentences, "
    "with how much it varies from sentence to sentence. Pick a head to see the sentences it treats most "
    "and least typically, and open one in Single head.",
)

chart_scroll_box()  # a grid wider than a narrow window scrolls in its own box

# --- 1. the corpus ------------------------------------------------------------------------------

st.caption(f"Limits here: {sources.MAX_SENTENCES:,} sentences of up to {sources.MAX_CHARS_PER_LINE:,} characters "
           f"(longer lines are cut, empty ones skipped; both counted); files up to {sources.MAX_FILE_MB} MB "
           f"(.txt, .csv, .jsonl); {MAX_TOKENS} tokens per sentence. Bigger corpora: the command line "
           "`python -m core.corpus` (see the README), whose runs open here.")
state.control("corpus_source", "builtin", state.parse_choice(list(SOURCES)), label="corpus")
source = st.radio("Corpus", list(SOURCES), key="corpus_source", format_func=SOURCES.get, horizontal=True)


def _parsed(key: tuple, read) -> sources.Corpus:  # noqa: ANN001 - a function that reads the corpus
    """Read a corpus once per input (an upload is parsed once, not on every rerun)."""
    kept = state.recall(PARSED)
    if kept is not None and kept[0] == key:
        return kept[1]
    corpus = read()
    state.remember(PARSED, (key, corpus))
    return corpus


def choose_corpus() -> sources.Corpus | CorpusRun | None:
    """The corpus the user chose (or a saved run); None when there is nothing to run yet."""
    if source == "builtin":
        state.control("corpus_builtin", "tutorial", state.parse_choice(list(sources.BUILTINS)), label="set")
        name = st.selectbox("Set", list(sources.BUILTINS), key="corpus_builtin", format_func=sources.BUILTINS.get)
        return _parsed(("builtin", name), lambda: sources.builtin(name))
    if source == "paste":
        state.control("corpus_lines", "\n".join(EXAMPLES.values()), lambda raw: raw, link=False)
        raw = st.text_area("One sentence per line", key="corpus_lines", height=180)
        return sources.from_text(raw) if raw.strip() else None
    if source == "upload":
        upload = st.file_uploader("A .txt (one sentence per line), .csv or .jsonl file", key="corpus_file",
                                  type=["txt", "csv", "tsv", "jsonl", "ndjson"])
        if upload is None:
            return None
        data = upload.getvalue()
        column = None
        if sources.format_of(upload.name) != "txt":
            names = (sources.csv_columns(data, upload.name) if sources.format_of(upload.name) == "csv"
                     else sources.jsonl_fields(data, upload.name))
            guess = sources.text_column(data, upload.name)
            column = st.selectbox("Column with the sentences", names, index=names.index(guess) if guess else None,
                                  key="corpus_column")
        return _parsed(("upload", upload.file_id, column),
                       lambda: sources.from_file(upload.name, data, column))
    if source == "hub":
        usable, reason = cache.hub_dataset_status()
        if not usable:
            st.info(f"Hugging Face datasets are not available here: {reason}.", icon=":material/cloud_off:")
            return None
        c1, c2, c3, c4 = st.columns(4)
        dataset = c1.text_input("Dataset", key="corpus_hub_name", placeholder="owner/name")
        config = c2.text_input("Configuration", key="corpus_hub_config", placeholder="(default)")
        split = c3.text_input("Split", key="corpus_hub_split", value="train")
        column = c4.text_input("Column", key="corpus_hub_column", value="text")
        if not dataset.strip():
            return None
        return cache.hub_corpus(dataset, config, split, column)
    upload = st.file_uploader("A run saved from this page or by `python -m core.corpus` (.parquet)",
                              key="corpus_saved", type=["parquet"])
    return None if upload is None else CorpusRun.load(upload.getvalue())


try:
    chosen = choose_corpus()
except (AttentionDashboardError, CorpusRunError) as err:  # a bad file or column: say so, keep the last run
    st.error(str(err), icon=":material/error:")
    chosen = None
except (KeyError, OSError):
    st.error("That corpus could not be read.", icon=":material/error:")
    chosen = None

# --- 2. the run ---------------------------------------------------------------------------------

run: CorpusRun | None = None
if isinstance(chosen, CorpusRun):
    run = chosen
elif isinstance(chosen, sources.Corpus):
    corpus = chosen
    for note in corpus.notes():
        st.caption(f":material/info: {note}")
    key = (sel.model_id, corpus.digest, MAX_TOKENS)
    run = cache.stored_corpus_run(sel.model_id, corpus, MAX_TOKENS)
    kept_job = state.recall(JOB)
    job = kept_job[1] if kept_job is not None and kept_job[0] == key else None
    if run is not None:
        st.caption(f":material/history: {len(corpus):,} sentences · this corpus was run with {sel.model_id} "
                   "before: opened at once.")
    elif job is not None:
        status = job.status()
        if status.running:
            @st.fragment(run_every=0.5)
            def progress() -> None:
                now = job.status()
                if not now.running:
                    st.rerun()  # the whole page: draw the results
                if now.phase == "loading the model":
                    st.progress(0.0, text=f"Loading {sel.model_id}… (first use only)")
                else:
                    left = f" · about {now.eta_s:,.0f} s left" if np.isfinite(now.eta_s) else ""
                    st.progress(now.done / max(now.total, 1), text=f"{now.done:,} of {now.total:,} sentences · "
                                f"{now.sentences_per_s:,.1f} per second{left}")
                st.button("Cancel", icon=":material/stop:", key="corpus_cancel", on_click=job.cancel,
                          disabled=job.cancelling, help="Stops after the batch in flight; what is done is kept.")
            progress()
        elif status.error:
            st.error(status.error, icon=":material/error:")
        else:
            run = status.run
    elif len(corpus) <= RUN_NOW:
        try:
            run = cache.get(CorpusRunOf(sel.model_id, corpus, MAX_TOKENS, batch_size=8))
        except AttentionDashboardError as err:
            st.error(str(err), icon=":material/error:")
    else:
        state.control("corpus_batch", 32, state.parse_choice(BATCH_SIZES), label="batch size")
        c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
        batch = c1.selectbox("Batch size", BATCH_SIZES, key="corpus_batch",
                             help="Sentences per forward pass (sorted by length, padded, padding masked).")

        def start(k: tuple = key, c: sources.Corpus = corpus, b: int = batch) -> None:
            state.remember(JOB, (k, cache.start_corpus_run(sel.model_id, c, b, MAX_TOKENS)))

        c2.button(f"Run {len(corpus):,} sentences", type="primary", icon=":material/play_arrow:", key="corpus_run",
                  on_click=start)
        st.info(f"Press Run to send {len(corpus):,} sentences through {sel.model_id}. A progress bar shows "
                "sentences per second and the time left; Cancel keeps what is done.", icon=":material/play_circle:")

if run is not None:
    state.remember(SHOWN, run)
elif state.recall(SHOWN) is not None:
    run = state.recall(SHOWN)
    st.caption(f":material/history: Showing the last run (corpus: {run.meta.get('corpus_name', '')}, "
               f"{run.model_id}) until there is a new one.")

# --- 3. the atlas -------------------------------------------------------------------------------

if run is None:
    page.caveat()
    page.stop()

meta = run.meta
parts = [f"**{run.done:,}** of {run.total:,} sentences", f"{meta['model_id']} on {meta['device']}"]
if meta.get("seconds"):
    parts.append(f"{meta['seconds']:,.1f} s ({meta.get('sentences_per_s') or 0:,.0f} sentences per second)")
if meta.get("truncated_sentences"):
    parts.append(f"{meta['truncated_sentences']:,} sentences cut to {meta['max_tokens']} tokens")
st.markdown(" · ".join(parts) + f" · corpus: {meta.get('corpus_name', '')}")
if not run.complete:
    st.info(f"Cancelled after {run.done:,} of {run.total:,} sentences: everything below is for those. "
            "Press Run to start again.", icon=":material/pause_circle:")
if run.model_id != sel.model_id:
    st.info(f"This run is of {run.model_id}; the sidebar's model is {sel.model_id}. The atlas below is the "
            "run's; the comparison with your sentence needs the same model.", icon=":material/info:")
layer = min(sel.layer, run.num_layers - 1)
head = min(sel.head, run.num_heads - 1)

c1, c2 = st.columns([2, 2])
state.control("corpus_stat", "entropy_norm", state.parse_choice(list(STATS)), label="statistic")
stat = c1.selectbox("Statistic", list(STATS), key="corpus_stat", format_func=lambda s: LABELS.get(s, s))
state.control("corpus_spread", "mean", state.parse_choice(list(SPREAD)), label="colour")
spread = c2.radio("Colour by", list(SPREAD), key="corpus_spread", format_func=SPREAD.get, horizontal=True)
st.caption(f"**{LABELS.get(stat, stat)}**: {STATS[stat]}")


def atlas() -> None:
    label = f"{LABELS.get(stat, stat)}{' (sd)' if spread == 'sd' else ''}"
    chart = cache.chart(OverviewGrid(CorpusValues(run, stat, spread), title=f"{label}, over {run.done:,} sentences",
                                     value_label=label))
    presenter.chart(chart, key="corpus_chart", marked=(layer, head),
                    on_select=state.select_from_chart("corpus_chart"))


page.guard(atlas, "corpus atlas")
one = run.summary(stat).iloc[layer * run.num_heads + head]
if np.isfinite(one["mean"]):
    interval = (f"95% interval of the mean {one['ci_low']:.3f} to {one['ci_high']:.3f}"
                if np.isfinite(one["ci_low"]) else "no interval from one sentence")
    st.markdown(f"Layer {layer}, head {head}: mean **{one['mean']:.3f}**, standard deviation {one['sd']:.3f} "
                f"across {int(one['n']):,} sentences, {interval}.")
else:
    st.caption(f"Layer {layer}, head {head}: this statistic has no value for this model's sentences.")
with st.expander("Every head: mean, spread and interval (table)"):
    table = run.summary(stat)
    st.dataframe(table, hide_index=True, width="stretch", height=300, key="corpus_table",
                 selection_mode="single-row", on_select=state.select_from_table("corpus_table", table),
                 column_config={**readable(table.columns), "ci_low": "95% interval from", "ci_high": "to",
                                "sd": "Standard deviation", "n": "Sentences", "mean": "Mean",
                                "statistic": "Statistic"})
page.downloads(None, {"parquet": (run.to_bytes, "application/vnd.apache.parquet"),
                      "csv": (lambda: run.summary().to_csv(index=False).encode(), "text/csv")},
               f"{run.model_id.replace('/', '_')}_corpus_{meta.get('corpus_digest', '')[:8]}", key="corpus_dl")

st.subheader("Pattern classes across sentences")
st.caption("Each sentence puts each head in one of five pattern classes (the rule of the Pattern classes page). "
           "A cell shows the class a head falls in most often; the table gives every class's share of the "
           "sentences.")
shares = run.pattern_shares()


def classes() -> None:
    chart = cache.chart(OverviewGrid(CorpusPatternCodes(run), title="Commonest pattern class",
                                     value_label="Pattern class", categories=tuple(PATTERN_CLASSES)))
    presenter.chart(chart, key="corpus_patterns", marked=(layer, head),
                    on_select=state.select_from_chart("corpus_patterns"))


page.guard(classes, "pattern-class chart")
mine = shares.iloc[layer * run.num_heads + head]
st.markdown(f"Layer {layer}, head {head}: " + " · ".join(f"{c} {mine[c]:.0%}" for c in PATTERN_CLASSES) + ".")
with st.expander("Every head's class shares (table)"):
    st.dataframe(shares, hide_index=True, width="stretch", height=300,
                 column_config={c: st.column_config.NumberColumn(c, format="percent")
                                for c in [*PATTERN_CLASSES, "commonest_share"]})

st.subheader(f"Layer {layer}, head {head}: its most and least typical sentences")
st.caption("Typical: the sentences whose statistics for this head (evenness, distance, shares, positional "
           "scores, confidence) are closest to the head's corpus means, in standard deviations; least "
           "typical: the farthest. Open one to see this head on it.")
typical = run.typical(layer, head)
columns = st.columns(2)
for col, kind in zip(columns, ("most typical", "least typical")):
    rows = typical[typical["kind"] == kind]
    col.markdown(f"**{kind.capitalize()}**")
    if rows.empty:
        col.caption("Too few sentences.")
    for _, row in rows.iterrows():
        box = col.container(border=True)
        box.markdown(row["text"])
        box.button("Open in Single head", key=f"corpus_open_{kind[:4]}_{int(row['rank'])}",
                   icon=":material/open_in_new:", on_click=state.open_sentence,
                   args=(row["text"], layer, head), help=f"{row['distance']:.2f} standard deviations from the mean. "
                   "Replaces the sidebar's text with this sentence.")
page.how_computed("head-statistics", "pattern-classes", intro=(
    "Sentences go through the model in batches: sorted by length, padded to the longest of their batch, "
    "with the padding masked, so each sentence gets exactly the attention it gets alone (the tests check "
    "this to 1e-5). Each sentence's statistics are computed as the Head atlas computes them, then averaged "
    "over the sentences; the spread is the standard deviation across sentences (n − 1), and the 95% interval "
    "is that of the mean, mean ± t·sd/√n (Student's t with n − 1 degrees of freedom)."))

# --- 4. the sidebar's sentence against the corpus ----------------------------------------------------

st.subheader("Your sentence against the corpus")
st.caption("The sidebar's text, each head's statistic on it minus the corpus mean, in standard deviations: "
           "far from 0 means this sentence is unusual for that head.")
result = page.result_or_stop(sel)
if run.model_id == sel.model_id:
    def against() -> None:
        values = cache.head_statistics(result)[stat].to_numpy(dtype=float).reshape(run.num_layers, run.num_heads)
        mean, sd = run.grid(stat, "mean"), run.grid(stat, "sd")
        z_scores = CorpusZScores(run, result, stat)
        z = cache.get(z_scores)
        reach = max(float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0, 1.0)
        chart = cache.chart(OverviewGrid(z_scores, title=f"{LABELS.get(stat, stat)}: your sentence vs the corpus",
                                         value_label="Standard deviations from the mean", scheme="redblue",
                                         color_domain=(-reach, reach)))
        presenter.chart(chart, key="corpus_against", marked=(layer, head),
                        on_select=state.select_from_chart("corpus_against"))
        st.caption(f"Layer {layer}, head {head}: {values[layer, head]:.3f} on your sentence against a corpus mean "
                   f"of {mean[layer, head]:.3f} (sd {sd[layer, head]:.3f}).")
    page.guard(against, "comparison with the corpus")
page.caveat()
