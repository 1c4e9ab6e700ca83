"""Syntax probing: does any head link words to their syntactic heads, across many sentences?
(Clark et al. 2019, section 4.2.) Thin: choices, a run with progress and Stop, charts from
core.probing.charts; every number comes from core.probing through ui.cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from core.errors import AttentionDashboardError
from core.examples import EXAMPLES
from core.probing import syntax
from core.probing import charts as syntax_charts
from core.requests.runs import BestHeadChart, BestHeads, HeadRelationMap, RelationMapChart, SentenceView
from ui import cache, page, presenter, state
from ui.glossary_links import term_help
from ui.tables import closed_grid

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "corpus" / "sample_en.txt"
MAX_LINES = 500
MAX_LINE_CHARS = 300
MAX_TOKENS = 128  # per sentence; longer sentences are cut and their last words left out
PROGRESS_EVERY_S = 0.25  # how often the page redraws a running probe's progress
ARC_WORDS = 40  # the arc view draws at most this many words
SKIPPED = {"merged": "split differently by parser and model", "unmatched": "past the token limit",
           "space": "on whitespace", "same unit": "inside one model word"}
SOURCES = {"six": "The tutorial's six sentences", "sample": "Sample corpus (assets/corpus/sample_en.txt)",
           "paste": "Sentences I paste"}

sel = page.header(
    "Syntax probing",
    "Does a head connect each word to the word it grammatically depends on? A parser (spaCy) marks, "
    "in each sentence, every word's syntactic head (the noun a determiner belongs to, the verb of a "
    "subject). For every head of the model and every kind of relation, this page counts how often a "
    "word's most-attended other word is exactly that head, and compares it with simply guessing the "
    "word k positions away.",
)

status = cache.parser_status()
if not status.available:
    st.warning(status.message, icon=":material/extension_off:")
    st.caption("The rest of the app works without it. Install the two packages, then reload this page.")
    page.result_or_stop(sel)  # the usual messages for an empty or a too-long text
    page.stop()


# --- which sentences -------------------------------------------------------------------------

def sample_sentences() -> list[str] | None:
    try:
        lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")] or None


def pasted_sentences(raw: str) -> tuple[list[str], int, int]:
    """(sentences, blank lines skipped, lines cut to MAX_LINE_CHARS); at most MAX_LINES."""
    lines = raw.splitlines()
    blank = sum(1 for line in lines if not line.strip())
    kept = [line.strip() for line in lines if line.strip()][:MAX_LINES]
    cut = sum(1 for line in kept if len(line) > MAX_LINE_CHARS)
    return [line[:MAX_LINE_CHARS] for line in kept], blank, cut


state.control("probe_source", "six", state.parse_choice(list(SOURCES)), label="sentences")
source = st.radio("Sentences", list(SOURCES), key="probe_source", format_func=SOURCES.get, horizontal=True)
texts: list[str]
if source == "sample":
    sample = sample_sentences()
    if sample is None:
        st.info("The sample corpus is not in this copy of the app yet; using the tutorial's six sentences.",
                icon=":material/info:")
        texts = list(EXAMPLES.values())
    else:
        texts = sample
elif source == "paste":
    state.control("probe_lines", "\n".join(EXAMPLES.values()), lambda raw: raw, link=False)
    raw = st.text_area("One sentence per line", key="probe_lines", height=160,
                       help=f"Up to {MAX_LINES} lines of up to {MAX_LINE_CHARS} characters each.")
    texts, blank, cut = pasted_sentences(raw)
    notes = []
    if blank:
        notes.append(f"{blank} blank line{'s' * (blank != 1)} skipped")
    if cut:
        notes.append(f"{cut} line{'s' * (cut != 1)} cut to {MAX_LINE_CHARS} characters")
    if len(raw.splitlines()) - blank > MAX_LINES:
        notes.append(f"only the first {MAX_LINES} sentences are used")
    if notes:
        st.caption(":material/info: " + "; ".join(notes) + ".")
else:
    texts = list(EXAMPLES.values())
st.caption(f"{len(texts)} sentence{'s' * (len(texts) != 1)} · model {sel.model_id} · parser {status.name} "
           f"{status.version or ''} · sentences longer than {MAX_TOKENS} tokens are cut.")

corpus = tuple(texts)
run_key = (sel.model_id, hash(corpus), MAX_TOKENS)
finished = cache.finished_probe(sel.model_id, corpus, MAX_TOKENS) if corpus else None
stopped = state.recall("probe_stopped") == run_key


def stop() -> None:
    state.remember("probe_stopped", run_key)
    job = cache.probe_job(sel.model_id, corpus, MAX_TOKENS)
    if job is not None:
        job.cancel()  # stops after the sentences in flight; what it counted stays shown


def request() -> None:
    state.remember("probe_requested", run_key)


if finished is None and corpus:
    auto = source == "six" and not stopped  # six short sentences: run at once
    # The click is recorded by a callback (a plain session key): a button's own True lasts one
    # script run, and the router may take that run.
    st.button("Run", type="primary", icon=":material/play_arrow:", key="probe_run", on_click=request)
    clicked = state.forget("probe_requested") == run_key
    if auto or clicked:
        state.forget("probe_stopped")
        st.button("Stop", icon=":material/stop:", key="probe_stop", on_click=stop,
                  help="Stops after the current batch; what is counted so far is shown.")
        bar = st.progress(0.0, text="Parsing and reading attention…")

        def show(run) -> None:  # noqa: ANN001 - core.probing.run.ProbeRun, being filled in
            state.remember("probe_partial", (run_key, run))
            rate = run.rate
            left = (run.total - run.done - run.failed) / rate if rate > 0 else float("nan")
            eta = f" · about {left:.0f} s left" if left == left and left >= 1 else ""
            bar.progress(min(1.0, (run.done + run.failed) / max(run.total, 1)),
                         text=f"{run.done + run.failed} of {run.total} sentences · {rate:.1f} per second{eta}")

        try:  # the run is a background job (shared with any session probing the same sentences)
            job = cache.start_probe_run(sel.model_id, corpus, MAX_TOKENS)
            while not job.join(PROGRESS_EVERY_S):
                if job.progress is not None:
                    show(job.progress)
            if job.failed:
                st.error(job.error, icon=":material/error:")
            elif job.result is not None:
                show(job.result)
                finished = job.result if job.result.complete else None
        except AttentionDashboardError as err:  # spaCy missing: the message says what to do
            st.error(str(err), icon=":material/error:")
        bar.empty()

shown = finished
if shown is None:
    kept_partial = state.recall("probe_partial")
    if kept_partial and kept_partial[0] == run_key and kept_partial[1].counts is not None:
        shown = kept_partial[1]
        st.info(f"Stopped after {shown.done} of {shown.total} sentences: the results below are for those. "
                "Press Run to start again.", icon=":material/pause_circle:")
    elif corpus:
        st.info("Press Run to parse the sentences and probe every head.", icon=":material/play_circle:")


# --- results across sentences ----------------------------------------------------------------

def summary(run) -> None:  # noqa: ANN001
    counts = run.counts
    skipped = sum(counts.skipped.values())
    parts = [f"**{run.done}** sentences, **{counts.arcs}** words checked against their parse head "
             f"({len(counts.relations)} relations)"]
    if skipped:
        why = ", ".join(f"{v} {SKIPPED.get(k, k)}" for k, v in counts.skipped.items() if v)
        parts.append(f"{skipped} left out ({why})")
    if counts.unmatched_words:
        parts.append(f"{counts.unmatched_words} words past the token limit")
    if run.failed:
        parts.append(f"{run.failed} sentences failed")
    st.markdown(" · ".join(parts) + f" · {run.seconds:.1f} s.")
    if run.failures:
        with st.expander("Sentences that failed"):
            st.dataframe([{"sentence": i + 1, "why": why} for i, why in run.failures], hide_index=True)


def verdicts(best) -> None:  # noqa: ANN001
    """Each relation's verdict against its offset guess, in words (held out where both halves have it)."""
    lines = []
    for said in reversed(syntax.VERDICTS):
        rows = best[best["verdict"] == said]
        if rows.empty:
            continue
        parts = []
        for r in rows.itertuples(index=False):
            margin = r.held_out_margin if np.isfinite(r.held_out_margin) else r.margin
            parts.append(f"{r.relation} ({margin * 100:+.1f} points)" if said != syntax.VERDICTS[0]
                         else f"{r.relation} ({r.count} words)")
        lines.append(f"- **{said.capitalize()}**: " + ", ".join(parts))
    st.markdown("**Verdicts** (best attention head minus best offset guess, on held-out sentences: each chosen "
                f"on one half and scored on the other; a clear win is {syntax.CLEAR_MARGIN * 100:.0f} points or more, and "
                f"fewer than {syntax.FEW_WORDS} words is too few to tell)\n" + "\n".join(lines))


if shown is not None and shown.counts is not None and shown.counts.arcs:
    counts = shown.counts
    summary(shown)
    state.control("probe_min", 3, state.parse_int(1, 1000), label="minimum words")
    c1, c2 = st.columns([1, 1])
    min_count = c1.number_input("Relations with at least this many words", min_value=1, max_value=1000,
                                key="probe_min", help=term_help("probing", "Rare relations give accuracies from one or two words."))
    state.control("probe_held", False, state.parse_bool, state.bool_text, label="held out")
    held = c2.toggle("Held-out scores", key="probe_held",
                     help=term_help("probing", "Choose each relation's best head (and offset) on half of the "
                                    "sentences and score it on the other half, both ways. Picking the best of every "
                                    "head on the same sentences that score it flatters the winner, most with few "
                                    "sentences."))
    # The run's tables and best-head chart are memos (a head change reuses them).
    best = cache.get(BestHeads(counts, int(min_count)))

    st.subheader("Best attention head per relation")
    st.caption("Two kinds of head meet here: an *attention head* (a layer's head, e.g. L2-H8) and a word's "
               "*syntactic head* (the word it depends on in the parse). Blue: the share of words whose syntactic "
               "head is the word the best attention head attends to most (→: the word looks at its syntactic "
               "head; ←: the syntactic head looks at the word). Grey: the best simple guess, the word k positions "
               "away. An attention head only shows syntax where blue clearly beats grey.")
    if best.empty:
        st.info("No relation has that many words here; lower the minimum or use more sentences.",
                icon=":material/info:")
    else:
        def best_chart() -> None:
            chart = cache.chart(BestHeadChart(counts, int(min_count), bool(held)))
            presenter.chart(chart, width="stretch", key="probe_best_chart")
        page.guard(best_chart, "best-head chart")
        verdicts(best)
        table = best.assign(attention_head=[syntax_charts.head_label(a, b)
                                            for a, b in zip(best["layer"], best["head"])])
        closed_grid("Best attention head per relation (table: pick a row to draw that attention head on the "
                    "sentence below)",
                    table[["relation", "count", "verdict", "attention_head", "layer", "head", "direction", "accuracy",
                           "offset", "baseline", "margin", "held_out", "held_out_baseline", "held_out_margin"]],
                    hide_index=True, width="stretch", key="probe_best_table", selection_mode="single-row",
                    on_select=state.select_from_table("probe_best_table", table),
                    column_config={c: st.column_config.NumberColumn(format="percent") for c in
                                   ("accuracy", "baseline", "margin", "held_out", "held_out_baseline",
                                    "held_out_margin")})

    st.subheader("Every attention head against every relation")
    m1, m2 = st.columns([1, 1])
    state.control("probe_value", "accuracy", state.parse_choice(["accuracy", "margin"]), label="colour")
    value = m1.radio("Colour", ["accuracy", "margin"], key="probe_value", horizontal=True,
                     format_func={"accuracy": "Accuracy", "margin": "Accuracy minus the best offset"}.get)
    directions = ["best", *syntax.DIRECTIONS]
    state.control("probe_dir", "best", state.parse_choice(directions), label="direction")
    direction = m2.radio("Direction", directions, key="probe_dir", horizontal=True,
                         format_func=lambda d: "Better of the two" if d == "best" else d)
    hmap = cache.get(HeadRelationMap(counts, direction, int(min_count)))
    if hmap.empty:
        st.info("No relation has that many words here.", icon=":material/info:")
    else:
        def heat() -> None:
            chart = cache.chart(RelationMapChart(counts, direction, int(min_count), value))
            presenter.chart(chart, width="stretch", key="probe_map", marked=(sel.layer, sel.head),
                            on_select=state.select_from_chart("probe_map"))
        page.guard(heat, "head x relation map")
    page.downloads(None, {"csv": (lambda: syntax.accuracy_frame(counts).to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_syntax_probing", key="probe_dl")

    with st.expander("How it is computed", icon=":material/function:"):
        st.markdown(
            "Each sentence is parsed by spaCy; its words are matched to the model's tokens by character "
            "positions, and the model's attention is merged to words (sum over a word's pieces for "
            "attention *to* it, mean for attention *from* it; [CLS]/[SEP]-like tokens left out). For a "
            "head and a relation r, over every word w whose parse head p has relation r (the root "
            "skipped):\n\n"
            "- **dependent → head** is right when `argmax_{j≠w} W[w, j] = p` (w attends most to p);\n"
            "- **head → dependent** is right when `argmax_{j≠w} W[j, w] = p` (of all words, p attends "
            "most to w);\n"
            "- **baseline**: for each k in −5…5 (k ≠ 0), the share of words whose head is w + k; the "
            "best k per relation is shown.\n\n"
            "Words that parser and model split differently (BERT's *don* spans spaCy's *do* + *n't*) "
            "are left out and counted. Held-out scores pick the head on even-numbered sentences and "
            "score it on odd ones, and the other way round. After Clark et al. (2019), *What Does BERT "
            "Look At?*, section 4.2 (their Table 1 for BERT-base: *det* 94.3% in head 8-11 against "
            "51.7% for the +1 guess; *dobj* 86.8% in head 8-10 against 40.0%). Full definition and "
            "where we differ from their code: `docs/methods.md`, section *Syntax probing*.")


# --- one sentence ----------------------------------------------------------------------------

st.subheader("On one sentence: the parse against the selected attention head")
st.caption(f"The sentence is the text in the sidebar; the attention head is the selected one (layer {sel.layer}, "
           f"head {sel.head}): click a cell of the map or a row of the table above to change it.")
one = dataclasses.replace(sel, text_pair=None)
if sel.text_pair:
    st.caption(":material/info: Only the first sentence is parsed; the sentence pair is left out here.")
result = page.result_or_stop(one)

state.control("probe_view_dir", syntax.DIRECTIONS[0], state.parse_choice(list(syntax.DIRECTIONS)),
              label="arc direction")
view_dir = st.radio("Attention drawn below the words", list(syntax.DIRECTIONS), key="probe_view_dir",
                    horizontal=True, format_func=lambda d: {syntax.DIRECTIONS[0]: "each word's most-attended word",
                                                            syntax.DIRECTIONS[1]: "the word that attends most to "
                                                                                  "each word"}[d])


def arcs() -> None:
    view = cache.get(SentenceView(result, sel.layer, sel.head))
    words, arcs_, att = view.words, view.arcs, view.attention
    if not words:
        st.info("The parser found no words to draw in this text.", icon=":material/info:")
        return
    if len(words) > ARC_WORDS:
        st.caption(f":material/info: The arc view draws the first {ARC_WORDS} of {len(words)} words.")
        words = words[:ARC_WORDS]
        arcs_ = tuple(a for a in arcs_ if a[0] < ARC_WORDS and a[1] < ARC_WORDS)
        att = att[:ARC_WORDS, :ARC_WORDS]
    st.caption(f"{sel.model_id} · layer {sel.layer}, head {sel.head}")
    chart = syntax_charts.arc_chart(words, arcs_, att, direction=view_dir)
    # Its own width (60 px a word), drawn smaller as a whole where the column is narrower: squeezed to a
    # phone's column, neighbouring relation labels ran into each other. Presenter mode's 18 px labels
    # need the whole (wide) column.
    presenter.chart(chart, width="stretch" if presenter.is_on() else "content", key="probe_arcs",
                    stable_data="arcs")
    table = syntax_charts.arc_table(words, arcs_, att, view_dir)
    agree = table["agrees"].dropna()
    if len(agree):
        st.caption(f"On this sentence the attention head finds the syntactic head of {int(agree.sum())} of "
                   f"{len(agree)} words.")
    with st.expander("Words, parse heads and this head's choice (table)"):
        st.dataframe(table.drop(columns=["head_position", "strongest_position"]), hide_index=True, width="stretch")
    with st.expander("How parser words were matched to the model's tokens"):
        st.dataframe(view.alignment_table, hide_index=True, width="stretch")


page.guard(arcs, "arc view")
page.how_computed("syntax-probing")
page.caveat()
