"""Generate: a causal language model (GPT-2, DistilGPT-2) continues the app's text one token at a
time. Before each choice, the candidates' probabilities; then the chosen token, and the newest
token's attention over everything before it (one head, the layer average, rollout). Rewind to any
step; the link holds the prompt (the text), the settings and the steps taken."""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from core.generate.errors import CannotGenerateError, TooManyStepsError
from core.generate.notices import causal_notices
from core.generate.steps import Generation
from core.generate.settings import MAX_STEPS, SEED_RANGE, TEMPERATURE_RANGE, TOP_K_RANGE, TOP_P_RANGE, Settings
from core.models.registry import causal_models
from core.requests.explain import Facts
from core.requests.generate import AttentionRows, AttentionRowsChart, CandidatesChart, GenerationOf
from ui import cache, generate_panel, model_panel, page, presenter, state
from ui.glossary_links import escape, term_help
from ui.heatmap_panel import chart_scroll_box

STRATEGIES = {"greedy": "Greedy", "top_k": "Top-k", "top_p": "Top-p"}

sel = page.header(
    "Generate",
    "A causal language model continues your text one token at a time. Before each choice you see the most probable "
    "next tokens; after it, where the new token's attention went among everything before it. Rewind to any step.",
)
page.result_or_stop(sel)  # the prompt is the app's text: the usual messages for an empty or long one


def use_model(model_id: str) -> None:
    """A ready causal model becomes the app's model; a downloadable one opens the sidebar's download box."""
    status = {mid: avail for mid, _, avail, _ in cache.model_statuses()}.get(model_id)
    if status == "ready" or cache.model_is_loaded(model_id):
        state.set_control("model", model_id)
    else:
        model_panel.offer(model_id)


def causal_models_box() -> None:
    st.markdown("**Causal language models for this page**")
    wanted = set(causal_models())
    generate_panel.models_box([s for s in cache.model_statuses() if s[0] in wanted], use=use_model)


# A model that cannot generate says so first, and its settings are not drawn (nothing could use
# them); their values stay kept and in the link for when a causal model is chosen.
facts = page.value_or_stop(Facts(sel.model_id), "model")
blocked = facts.kind != "causal"
if blocked:
    st.info(str(CannotGenerateError(sel.model_id, facts.kind)), icon=":material/block:")
    causal_models_box()
show = not blocked

# --- how the next token is chosen (kept in the link) ---------------------------------------------
c1, c2, c3 = st.columns([2, 3, 2]) if show else (contextlib.nullcontext(),) * 3
with c1:
    strategy = state.control("strategy", "top_k", state.parse_choice(list(STRATEGIES)), label="strategy", draw=show)
    if show:
        strategy = st.segmented_control(
            "Choice of the next token", list(STRATEGIES), key="strategy", format_func=STRATEGIES.get,
            help=term_help("sampling", "Greedy: always the most probable token. Top-k: a draw among the k most "
                           "probable. Top-p: a draw among the most probable tokens that together reach "
                           "probability p.")) or strategy
sampling = strategy != "greedy"
with c2:
    temperature = state.control("temperature", 0.8, state.parse_clamped(*TEMPERATURE_RANGE, "temperature"),
                                label="temperature", draw=sampling and show, link=sampling)
    if sampling and show:
        temperature = st.slider("Temperature", *TEMPERATURE_RANGE, key="temperature", step=0.1,
                                help=term_help("temperature", "Divides the scores before they become probabilities: "
                                               "below 1 sharpens the distribution, above 1 flattens it "
                                               "(Transformer Explainer's range, 0.2-10)."))
    k = state.control("k", 5, state.parse_clamped(*TOP_K_RANGE, "top-k", integer=True), label="top-k",
                      draw=strategy == "top_k" and show, link=strategy == "top_k")
    if strategy == "top_k" and show:
        k = st.slider("Top-k", *TOP_K_RANGE, key="k")
    p = state.control("p", 0.9, state.parse_clamped(*TOP_P_RANGE, "top-p"), label="top-p",
                      draw=strategy == "top_p" and show, link=strategy == "top_p")
    if strategy == "top_p" and show:
        p = st.slider("Top-p", *TOP_P_RANGE, key="p", step=0.01)
with c3:
    seed = state.control("seed", 0, state.parse_clamped(*SEED_RANGE, "seed", integer=True), label="seed",
                         draw=sampling and show, link=sampling)
    if sampling and show:
        seed = st.number_input("Seed", *SEED_RANGE, key="seed", step=1,
                               help=term_help("seed", "The same seed, settings and text always draw the same tokens, "
                                                      "so a link replays the same generation."))
settings = Settings.make(str(strategy), float(temperature), int(k), float(p), int(seed))


def parse_steps(raw: str) -> int | None:
    """A link's number of steps; over the cap it is refused with the reason, and the page starts at the prompt."""
    try:
        n = int(str(raw).strip()[:12])
    except ValueError:
        return None
    if n > MAX_STEPS:
        state.note(f"{TooManyStepsError(n, MAX_STEPS)} The link's generation was not run; it starts at the prompt.")
        return 0
    return n if n >= 0 else None


asked = int(state.control("steps", 1, parse_steps, label="steps"))
state.show_notes()
if blocked:
    page.caveat()
    page.stop()
gen = page.value_or_stop(GenerationOf(sel.model_id, sel.text, settings, asked), "generation",
                                   quiet=(CannotGenerateError,), then=causal_models_box)


def take_steps(count: int) -> None:
    state.set_control("steps", min(int(state.kept("steps", 0)) + count, MAX_STEPS))


def open_text(text: str) -> None:
    state.replace_text(text, clear_pair=True)
    state.set_control("steps", 1)


def text_and_steps(gen: Generation) -> None:
    """The text so far, the buttons that step on, and the steps taken (drag back to rewind)."""
    n = gen.n_steps
    if n != asked:  # it stopped early (end of text, the model's length): the link says what is shown
        state.set_control("steps", n)
    st.markdown(f"{escape(gen.texts[0])}**:orange[{escape(gen.generated_text)}]**" if n else escape(gen.texts[0]))
    st.caption(f"{settings.describe().capitalize()}. {n} of at most {MAX_STEPS} steps"
               + (f"; stopped: {gen.stopped}." if gen.stopped else "."))
    b1, b2, b3, b4 = st.columns(4)
    left = 0 if gen.stopped else MAX_STEPS - n
    b1.button("Next token", on_click=take_steps, args=(1,), disabled=left < 1, icon=":material/skip_next:",
              type="primary")
    state.control("at_once", 5, state.parse_int(2, MAX_STEPS), link=False)
    with b2:
        burst = st.number_input("Tokens at once", 2, MAX_STEPS, key="at_once", label_visibility="collapsed")
    b3.button(f"Next {int(burst)} tokens", on_click=take_steps, args=(int(burst),), disabled=left < 1,
              icon=":material/fast_forward:")
    b4.button("Use this text on every page", on_click=open_text, args=(gen.text,), disabled=n == 0,
              icon=":material/open_in_new:", help="Makes the prompt and the generated tokens the app's text.")
    if n:
        st.select_slider("Steps taken (drag back to rewind)", list(range(n + 1)), key="steps",
                         help=term_help("kv_cache", "Rewinding keeps the first steps; stepping on from there draws the "
                                                  "same tokens again (step i's draw is seeded by the seed and i). "
                                                  "New settings replay every step."))
    else:
        st.info("No token generated yet: press *Next token*.", icon=":material/skip_next:")


def newest_step(gen: Generation) -> None:
    """The candidates before the newest choice, the choice, and the new token's attention."""
    n = gen.n_steps
    step = gen.steps[-1]
    q = step.query_position
    request = GenerationOf(sel.model_id, sel.text, settings, n)
    page.describe(where=f"step {n}, layer {sel.layer}, head {sel.head}")
    m1, m2, m3 = st.columns(3)
    m1.metric("Chosen token", step.chosen_label, f"{step.chosen_prob:.1%} in the draw", delta_color="off")
    m2.metric("Reading", gen.labels[q], f"position {q}", delta_color="off")
    m3.metric("Most probable", step.candidates[0].label, f"{step.candidates[0].prob:.1%}", delta_color="off")
    page.guard(lambda: presenter.chart(cache.chart(CandidatesChart(
        request, n - 1, f"Step {n}: the most probable next tokens after ‘{gen.labels[q]}’")), key="gen_candidates"),
        "candidates chart")
    rows = AttentionRows(request, n - 1, sel.layer, sel.head)
    page.guard(lambda: presenter.chart(cache.chart(AttentionRowsChart(
        rows, f"Step {n}: where ‘{gen.labels[q]}’ looks among the {q + 1} tokens so far")), key="gen_rows"),
        "attention chart")
    st.caption("The newest token can only look back: a causal model masks every later position. "
               + term_help("causal", "Layer and head: the sidebar's."))
    with st.expander("What to notice", icon=":material/lightbulb:"):
        for notice in causal_notices(gen, n - 1, sel.layer, sel.head):
            st.markdown(f"- {escape(notice.text)}")
    table = pd.DataFrame([{"step": s.index + 1, "token": s.chosen_label, "probability in the draw": s.chosen_prob,
                           "top candidate": s.candidates[0].label, "its probability": s.candidates[0].prob}
                          for s in gen.steps])
    with st.expander("Every step as a table", icon=":material/table_view:"):
        st.dataframe(table, hide_index=True)
    page.downloads(None, {"csv": (lambda: table.to_csv(index=False).encode(), "text/csv")},
                   f"{page.slug(sel)}_generate", key="gen_dl")


# No st.stop() below: a stopped run leaves the link as it was (e.g. steps after a rewind to 0).
if gen is not None:
    chart_scroll_box()
    text_and_steps(gen)
    if gen.n_steps:
        newest_step(gen)
    page.how_computed("generation", "sampling", "the-kv-cache")
page.caveat()
