"""Tutorial: the notebook's steps in order, on the sidebar's model and sentence.

Each step: a few plain sentences, a question to answer before the chart is shown (predict,
then reveal), the live view, what to notice (computed from the data shown, core.tutorial),
doors to the pages that go further, and a printable handout. The step is in the link
(?step=head); ←/→ move between steps (PageUp/PageDown too in presenter mode).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.analysis import tables
from core.examples import EXAMPLES
from core.tutorial import figures, handout, notices, questions, steps, views
from core.tutorial.figures import Figure
from core.tutorial.questions import Question
from core.tutorial.views import StepContext
from ui import cache, page, page_table, presenter, state
from ui.glossary_links import escape, markdown_link, term_help
from ui.heatmap_panel import chart_scroll_box

sel = page.header(
    "Tutorial",
    "The attention notebook's steps in order, on the model and sentence of the sidebar. Guess first, then "
    "reveal: every number below is computed from your sentence.",
)
result = page.result_or_stop(sel)


# --- which step ---------------------------------------------------------------------------------

def _go(target: str | None) -> None:
    if target is not None:
        state.set_control("step", target)


step_id = state.control("step", steps.IDS[0], state.parse_choice(list(steps.IDS)), label="tutorial step")
before, after = steps.neighbours(step_id)
nav = st.columns([1.2, 4, 1.2], vertical_alignment="bottom")
# No arrow icons: the buttons' shortcut badges (← and →) already show one each.
nav[0].button("Previous", key="tut_prev", on_click=_go, args=(before,), disabled=before is None, shortcut="Left",
              width="stretch")
nav[1].selectbox("Step", list(steps.IDS), key="step", format_func=lambda s: f"{steps.number(s)}. {steps.by_id(s).title}",
                 help="Each step follows a section of the attention notebook. The step is part of the link.")
nav[2].button("Next", key="tut_next", on_click=_go, args=(after,), disabled=after is None, shortcut="Right",
              width="stretch", type="primary")
presenter.step_keys(lambda: _go(before), lambda: _go(after), disabled_previous=before is None,
                    disabled_next=after is None)
step = steps.by_id(step_id)

st.header(f"{steps.number(step_id)}. {step.title}", anchor=False)
words = " · ".join(markdown_link(t) for t in step.terms)
st.caption(f"Notebook section {escape(step.notebook)} · Words: {words}")
for sentence in step.intro:
    st.markdown(sentence)


# --- the data the step shows --------------------------------------------------------------------

def _examples() -> dict[str, Any]:
    return {name: cache.result(sel.model_id, text) for name, text in EXAMPLES.items()}


def _evidence() -> tuple[views.OutputEvidence | None, str]:
    """The "matters" step's numbers: the model's own output, blank-out and rollout (core.explain),
    or why there are none (a model without an output head)."""
    from core.errors import AttentionDashboardError
    from core.explain.outputs import Target
    from core.requests import explain

    try:
        facts = cache.get(explain.Facts(sel.model_id))
        if facts.no_head_message:
            return None, facts.no_head_message
        return cache.get(explain.TutorialEvidence(explain.Prediction(sel.model_id, sel.text, sel.text_pair,
                                                                     Target()))), ""
    except AttentionDashboardError as err:
        return None, str(err)


def _generation() -> tuple[views.GenerationEvidence | None, str]:
    """The "generating" step's numbers: one greedy step of the model from the text (core.generate),
    or why there is none (a model that cannot generate, a text too long)."""
    from core.errors import AttentionDashboardError
    from core.generate import lenses as generation_lenses
    from core.generate.notices import causal_notices
    from core.generate.settings import Settings
    from core.requests.generate import GenerationOf

    try:
        gen = cache.get(GenerationOf(sel.model_id, sel.text, Settings.make("greedy"), 1))
    except AttentionDashboardError as err:
        return None, str(err)
    found = causal_notices(gen, 0, sel.layer, sel.head)
    return views.GenerationEvidence(labels=generation_lenses.context_labels(gen, 0),
                                    row=generation_lenses.head_row(gen, 0, sel.layer, sel.head),
                                    sentences=tuple((n.key, n.text) for n in found),
                                    chosen=gen.steps[0].chosen_label), ""


evidence, no_evidence = _evidence() if step_id == "matters" else (None, "")
generation, no_generation = _generation() if step_id == "generating" else (None, "")
ctx = StepContext(
    result=result, layer=sel.layer, head=sel.head,
    examples=_examples() if step_id == "sentences" else {},
    rollout=cache.rollout(result) if step_id == "extensions" else None,
    stats=cache.head_statistics(result) if step_id == "patterns" else None,
    evidence=evidence, no_evidence=no_evidence, generation=generation, no_generation=no_generation,
)
fig = figures.figure(step_id, ctx, cell_px=presenter.cell_px)


# --- predict, then reveal -----------------------------------------------------------------------

def _tag() -> str:
    key = (step_id, sel.model_id, sel.text, sel.text_pair, sel.layer, sel.head)
    return hashlib.sha1(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _reveal(key: str) -> None:
    state.remember(key, True)


def predict(question: Question) -> bool:
    """Ask; return True once the answer is revealed (then the chart is drawn)."""
    tag = _tag()
    revealed_key, guess_key = f"_tut_revealed_{tag}", f"_tut_guess_{tag}"
    with st.container(border=True):
        st.markdown(f"**Predict, then reveal.** {escape(question.prompt)}")
        # A kept control (written back before the widget), as the sidebar's: a rerun that re-creates
        # the widget (entering presenter mode redraws the page around it) shows the guess again
        # instead of clearing it beside an answer that stays revealed.
        options = question.options
        state.control(guess_key, None, lambda s: s if s in options else None, lambda v: v, link=False)
        if len(question.options) <= 14:
            guess = st.radio("Your guess", question.options, index=None, key=guess_key, horizontal=True)
        else:
            guess = st.selectbox("Your guess", question.options, index=None, key=guess_key,
                                 placeholder="Pick one…")
        if not state.recall(revealed_key):
            st.button("Reveal the answer and the chart", key=f"_tut_reveal_{tag}", on_click=_reveal,
                      args=(revealed_key,), type="primary", icon=":material/visibility:", shortcut="Down",
                      help=term_help("attention", "Guess first: the chart and the answer appear together."))
            return False
        (st.success if guess == question.answer_label else st.info)(
            f"{escape(question.verdict(guess))} {escape(question.why)}", icon=":material/lightbulb:")
    return True


# --- drawing a step -------------------------------------------------------------------------------

def _draw_charts(fig: Figure) -> None:
    chart_scroll_box()  # a chart wider than a narrow window scrolls in its own box
    for i, chart in enumerate(fig.charts):
        on_select: Callable[[], None] | str = "ignore"
        key = f"tut_{step_id}_{i}"
        if step_id == "patterns" and i == 1:  # the class grid: a click selects that head everywhere
            on_select = state.select_from_chart(key)
        presenter.chart(chart, key=key, on_select=on_select, width="stretch" if i in fig.stretch else "content")
        if i == 0 and fig.caption:
            st.caption(escape(fig.caption))


def draw_model() -> None:
    info = result.info
    cols = st.columns(4)
    cols[0].metric("Layers", info.num_layers, help=term_help("layer"))
    cols[1].metric("Heads per layer", info.num_heads, help=term_help("head"))
    cols[2].metric("Tokens in your text", result.n_tokens, help=term_help("token"))
    cols[3].metric("Parameters", f"{info.num_parameters / 1e6:.1f} M")
    st.caption(f"{escape(info.display_name)} · architecture {escape(info.model_type)} · "
               f"{'causal' if info.causal else 'encoder (bidirectional)'}")


def draw_tokens() -> None:
    table = tables.token_table(result)[["position", "token", "word", "segment", "special"]]
    if result.n_tokens <= 40:
        st.table(table, hide_index=True)
    else:
        st.dataframe(table, hide_index=True, width="stretch", height=320)


def draw_bertviz() -> None:
    from core.render.bertviz import BertvizOptions
    from ui.bertviz_component import active_theme, bertviz_view, follow_theme

    theme = active_theme()
    options = BertvizOptions(layers=(sel.layer,), heads=(sel.head,), display_mode=theme)
    view = cache.bertviz_view(result, "head", options)
    st.caption(f"Layer {sel.layer}, head {sel.head} (the sidebar's): one of {result.num_layers} layers × "
               f"{result.num_heads} heads. Change them in the sidebar.")
    for note in view.notes:  # what the budget cut; the layer and head are the sidebar's, said above
        if not note.startswith(("Showing the layers you chose", "Showing the heads you chose")):
            st.caption(escape(note))
    clicked = bertviz_view(view, key="tut_bv", plain=True, notes=False)
    if clicked is not None:
        state.select(layer=clicked["layer"], head=clicked.get("head"))
    follow_theme(theme, key="tut_bv_theme")


def draw_sentences() -> None:
    cols = st.columns(2)
    for i, (name, res) in enumerate(ctx.examples.items()):
        top = views.top_connections(res.head(sel.layer, sel.head), res)
        shown = top.assign(**{"from": [views.token_label(res, p) for p in top["from"]],
                              "to": [views.token_label(res, p) for p in top["to"]]})
        with cols[i % 2]:
            st.markdown(f"**{escape(name)}**: {escape(res.text)}")
            shown = shown.assign(weight=[f"{w:.3f}" for w in shown["weight"]])
            st.table(shown[["rank", "from", "to", "weight"]], hide_index=True)


def draw_yours_input() -> None:
    key = f"_tut_text_{hashlib.sha1(sel.text.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"
    st.text_input("Your sentence (press Enter)", value=sel.text[:2000], key=key, on_change=state.take_text, args=(key,),
                  help=term_help("token", "Any sentence: every step of the tutorial will use it."))


def notebook_head_button() -> None:
    layer, head = views.NOTEBOOK_LAYER, views.NOTEBOOK_HEAD
    if layer < result.num_layers and head < result.num_heads and (sel.layer, sel.head) != (layer, head):
        st.button(f"Use the notebook's example head: layer {layer}, head {head}", key="tut_notebook_head",
                  on_click=state.select, kwargs={"layer": layer, "head": head}, icon=":material/menu_book:")


def doors() -> None:
    names = {row.name for row in page_table.PAGES}
    shown = [d for d in step.doors if d.page in names]
    if not shown:
        return
    st.markdown("**Go further**")
    cols = st.columns(min(3, len(shown)))
    for i, door in enumerate(shown):
        row = page_table.by_name(door.page)
        cols[i % len(cols)].page_link(row.file, label=door.label, icon=row.icon)


if step_id == "yours":
    draw_yours_input()
if step_id == "head":
    notebook_head_button()

question = questions.question_for(step_id, ctx)
revealed = question is None or predict(question)
found = notices.notices_for(step_id, ctx)


def body() -> None:
    {"model": draw_model, "tokens": draw_tokens, "bertviz": draw_bertviz,
     "sentences": lambda: None}.get(step_id, lambda: None)()
    _draw_charts(fig)
    if step_id == "sentences":
        draw_sentences()
    if found:
        with st.container(border=True):
            st.markdown("**What to notice** (computed from your sentence)")
            for notice in found:
                st.markdown(f"- {escape(notice.text)}")


if revealed:
    page.guard(body, "tutorial step")
else:
    st.caption(":material/visibility_off: The chart and what to notice appear once you reveal the answer.")

doors()
page.caveat()


# --- the handout ----------------------------------------------------------------------------------

def _section(sid: str, fig_: Figure, found_: list, question_: Question | None) -> handout.HandoutSection:
    from core.render import export

    s = steps.by_id(sid)
    return handout.HandoutSection(title=f"{steps.number(sid)}. {s.title}", notebook=s.notebook, intro=s.intro,
                                  figures=tuple(export.chart_to_svg(c) for c in fig_.charts), question=question_,
                                  notices=tuple(found_), caption=fig_.caption, extra=tuple(fig_.lines))


def _view() -> handout.HandoutView:
    return handout.HandoutView(model=result.info.display_name, text=result.text, layer=sel.layer, head=sel.head,
                               text_pair=result.text_pair)


def handout_step() -> bytes:
    return handout.build(_view(), [_section(step_id, fig, found, question)]).encode("utf-8")


def _every_section() -> list[handout.HandoutSection]:
    """Every step on the current sentence, layer and head."""
    found, why_none = _evidence()
    generated, why_no_generation = _generation()
    full = StepContext(result=result, layer=sel.layer, head=sel.head, examples=_examples(),
                       rollout=cache.rollout(result), stats=cache.head_statistics(result), evidence=found,
                       no_evidence=why_none, generation=generated, no_generation=why_no_generation)
    return [_section(sid, figures.figure(sid, full), notices.notices_for(sid, full), questions.question_for(sid, full))
            for sid in steps.IDS]


def worksheet_all() -> bytes:
    """Every step's questions for a class, with no answers and no chart that gives one away."""
    return handout.build(_view(), _every_section(), part=handout.WORKSHEET).encode("utf-8")


def answer_key_all() -> bytes:
    """Every step's answers, charts and what to notice: the teacher's copy."""
    return handout.build(_view(), _every_section(), part=handout.ANSWER_KEY).encode("utf-8")


WORKSHEET_HELP = ("A self-contained page to print (open it, then print): the questions with space for answers, and "
                  "the charts of the steps without a question. No answers: those are on the answer key.")
KEY_HELP = ("The teacher's copy to print: every question's answer and why, every step's charts and what to notice, "
            "computed from this model, text, layer and head.")
cols = st.columns(4)
cols[0].download_button("Worksheet: this step", data=handout_step, help=WORKSHEET_HELP, mime="text/html",
                        file_name=f"{page.slug(sel)}_step{steps.number(step_id)}_{step_id}.html", key="tut_handout",
                        on_click="ignore", icon=":material/print:")
cols[1].download_button("Worksheet: every step", data=worksheet_all, help=WORKSHEET_HELP, mime="text/html",
                        file_name=f"{page.slug(sel)}_tutorial_worksheet.html", key="tut_worksheet", on_click="ignore",
                        icon=":material/assignment:")
cols[2].download_button("Answer key: every step", data=answer_key_all, help=KEY_HELP, mime="text/html",
                        file_name=f"{page.slug(sel)}_tutorial_answer_key.html", key="tut_answer_key",
                        on_click="ignore", icon=":material/key:")
if not presenter.is_on():
    with cols[3]:
        presenter.start_button("tut_present")
