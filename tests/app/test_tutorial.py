"""The tutorial, the glossary and presenter mode with AppTest: every step draws (after its answer is
revealed) for the bundled model, a tiny causal model and a sentence pair; the step is in the link;
Previous / Next move; the revealed answer is the argmax of the chart's data; presenter mode
draws enlarged SVG charts and a compact bar; old links still open Single head."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from core.tutorial import glossary, questions, slides, steps, views
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of
from ui import page_table

PAGE = "pages/tutorial.py"
CHARTS = {"model": 0, "tokens": 0, "head": 1, "layer": 2, "bertviz": 1, "sentences": 1, "across": 1, "patterns": 2,
          "yours": 1, "matters": 0, "generating": 1, "extensions": 1}  # matters: a chart where the model has an
# output head; generating: the newest token's row, or the causal mask where the model cannot generate


def reveal(at) -> None:
    buttons = [b for b in at.button if (b.key or "").startswith("_tut_reveal_")]
    if buttons:
        buttons[0].click().run()


def spec_and_rows(element) -> tuple[dict, list[dict]]:
    proto = element.proto
    spec = json.loads(proto.spec)
    frames = [pa.ipc.open_stream(ds.data.data).read_all().to_pylist() for ds in proto.datasets]
    if proto.HasField("data") and proto.data.data:
        frames.append(pa.ipc.open_stream(proto.data.data).read_all().to_pylist())
    inline = [v for v in spec.get("datasets", {}).values()]
    return spec, max(frames + inline, key=len) if frames + inline else []


def check_step(at, step: str) -> None:
    assert not exceptions_of(at), (step, exceptions_of(at))
    assert not errors_of(at), (step, errors_of(at))
    assert at.query_params["step"] == [step] or at.query_params["step"] == step
    assert len(charts_of(at)) >= CHARTS[step], (step, len(charts_of(at)))
    shown = " ".join(texts_of(at))
    assert "not why the model decides" in shown  # the caveat, one sentence and a link
    assert any("What to notice" in m.value for m in at.markdown), step


@pytest.mark.parametrize("step", steps.IDS)
def test_every_step_draws_for_the_bundled_model(step) -> None:
    at = make_app(PAGE, step=step)
    reveal(at)
    check_step(at, step)


@pytest.fixture()
def causal_model(monkeypatch, tiny_models, tiny_models_dir) -> str:
    from tests.tiny_models import model_folder

    folder = str(model_folder(tiny_models_dir, "gpt2"))
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", folder)
    return folder


def test_every_step_draws_for_a_tiny_causal_model(causal_model) -> None:
    at = make_app(PAGE, model=causal_model, text="the cat sat on the mat")
    assert at.session_state["model"] == causal_model
    for step in steps.IDS:
        at.session_state["step"] = step
        at.run()
        reveal(at)
        check_step(at, step)


def test_every_step_draws_for_a_sentence_pair() -> None:
    at = make_app(PAGE, pair="It was very happy there.")
    for step in steps.IDS:
        at.session_state["step"] = step
        at.run()
        reveal(at)
        check_step(at, step)
    assert at.query_params["pair"] in ("It was very happy there.", ["It was very happy there."])


def test_previous_and_next_move_through_the_steps_and_the_link_follows() -> None:
    at = make_app(PAGE)
    assert at.session_state["step"] == "model"
    for want in steps.IDS[1:4]:
        at.button(key="tut_next").click().run()
        assert at.session_state["step"] == want and at.query_params["step"] in (want, [want])
    at.button(key="tut_prev").click().run()
    assert at.session_state["step"] == steps.IDS[2]
    assert at.button(key="tut_next").proto.shortcut and at.button(key="tut_prev").proto.shortcut
    at.session_state["step"] = steps.IDS[-1]
    at.run()
    assert at.button(key="tut_next").disabled


def test_a_bad_step_in_the_link_opens_the_first_step_with_a_note() -> None:
    at = make_app(PAGE, step="nonsense")
    assert not exceptions_of(at)
    assert at.session_state["step"] == "model"
    assert any("not valid here" in t for t in texts_of(at))


def test_the_chart_waits_for_the_reveal_and_the_answer_is_the_argmax_of_its_data() -> None:
    at = make_app(PAGE, step="head", layer="2", head="5")
    assert not charts_of(at)  # predict first
    assert any("The chart and what to notice appear" in c.value for c in at.caption)
    guess = at.radio[0]
    wrong = next(o for o in guess.options if o != "[CLS]")
    guess.set_value(wrong).run()
    reveal(at)
    _, rows = spec_and_rows(charts_of(at)[0])
    from core.attention.extract import extract  # noqa: F401 - the result is the app's own
    q = max(r["query_pos"] for r in rows if r["query"].endswith("mat"))
    row = {r["key_pos"]: r["weight"] for r in rows if r["query_pos"] == q}
    best = max(row, key=row.get)
    answer = next(r["key"] for r in rows if r["key_pos"] == best and r["query_pos"] == q).split(" · ", 1)[1]
    verdicts = [e.value.replace("\\", "") for e in list(at.info) + list(at.success)]
    assert any(f"the answer is ‘{answer}’" in v for v in verdicts), (answer, verdicts)
    assert any(v.startswith("Not quite") for v in verdicts)


def test_the_notebook_head_button_selects_layer_2_head_5_everywhere() -> None:
    at = make_app(PAGE, step="head")
    at.button(key="tut_notebook_head").click().run()
    assert (at.session_state["layer"], at.session_state["head"]) == (2, 5)
    assert at.query_params["layer"] in ("2", ["2"]) and at.query_params["head"] in ("5", ["5"])


def test_your_own_sentence_is_used_by_every_step() -> None:
    at = make_app(PAGE, step="yours")
    box = next(t for t in at.text_input if (t.key or "").startswith("_tut_text_"))
    box.set_value("Dogs chase cats in the garden.").run()
    assert at.session_state["text"] == "Dogs chase cats in the garden."
    at.session_state["step"] = "head"
    at.run()
    assert any("garden" in r.value or "Which token will ‘garden’" in r.value for r in at.markdown)


# --- presenter mode -----------------------------------------------------------------------------

def test_presenter_mode_from_the_link_enlarges_the_charts_and_folds_the_sidebar_into_a_bar() -> None:
    at = make_app(PAGE, step="across", present="1")
    assert not exceptions_of(at)
    assert at.session_state["present"] is True and at.query_params["present"] in ("1", ["1"])
    labels = {w.label for w in list(at.text_input) + list(at.selectbox)}
    assert {"Sentence", "Example", "Layer", "Head"} <= labels  # the compact bar
    assert any(b.key == "_pb_exit" for b in at.button)
    assert any(b.key == "_pk_next" and b.proto.shortcut for b in at.button)  # PageDown for a clicker
    reveal(at)
    spec, _ = spec_and_rows(charts_of(at)[0])
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    assert min(slides.font_sizes(spec)) >= slides.MIN_PX
    at.button(key="_pb_exit").click().run()
    assert at.session_state["present"] is False and "present" not in at.query_params


def test_the_compact_bar_changes_layer_head_and_text() -> None:
    at = make_app(PAGE, step="head", present="1")
    next(s for s in at.selectbox if s.label == "Layer").set_value(3).run()
    next(s for s in at.selectbox if s.label == "Head").set_value(7).run()
    assert (at.session_state["layer"], at.session_state["head"]) == (3, 7)
    next(t for t in at.text_input if t.label == "Sentence").set_value("Birds sing.").run()
    assert at.session_state["text"] == "Birds sing."
    next(s for s in at.selectbox if s.label == "Example").set_value("Coordination").run()
    assert at.session_state["text"] == "The cat and the dog played together."
    assert not exceptions_of(at)


@pytest.mark.parametrize("page", ["pages/single_head.py", "pages/glossary.py", "pages/pattern_breakdown.py"])
def test_presenter_mode_works_on_other_pages(page) -> None:
    at = make_app(page, present="1")
    assert not exceptions_of(at) and not errors_of(at)
    assert any(b.key == "_pb_exit" for b in at.button)


# --- navigation, glossary -------------------------------------------------------------------------

def test_tutorial_is_first_in_the_navigation_but_old_links_still_open_single_head() -> None:
    assert page_table.PAGES[0].file == PAGE and not page_table.PAGES[0].default
    assert page_table.DEFAULT.file == "pages/single_head.py"
    at = make_app(None)
    assert [t.value for t in at.title] == ["Single head"]
    at = make_app(PAGE)
    assert [t.value for t in at.title] == ["Tutorial"]


def test_the_glossary_has_every_term_with_its_anchor_and_the_help_links_there() -> None:
    at = make_app("pages/glossary.py")
    assert not exceptions_of(at)
    heads = {h.value for h in at.subheader}
    assert {t.name for t in glossary.TERMS} <= heads
    anchors = {h.proto.anchor for h in at.subheader}
    assert {t.anchor for t in glossary.TERMS} <= anchors
    from ui.glossary_links import term_help

    text = term_help("entropy")
    assert text.startswith(glossary.term("entropy").plain) and text.endswith("#entropy)")
    assert "](glossary" in text


def test_question_answers_match_core(bundled_model) -> None:
    """The page asks the question core computes for the same result (no second implementation)."""
    from core.attention.extract import extract

    res = extract(bundled_model, "The cat sat on the mat.")
    q = questions.question_for("head", views.StepContext(res, 0, 0))
    at = make_app(PAGE, step="head")
    assert any(q.prompt in m.value for m in at.markdown)
    assert list(at.radio[0].options) == list(q.options)
    assert q.answer == int(np.argmax(q.scores))


def test_entering_presenter_mode_keeps_the_students_guess() -> None:
    at = make_app(PAGE, step="head")
    radio = next(r for r in at.radio if (r.key or "").startswith("_tut_guess_"))
    guess = radio.options[1]
    radio.set_value(guess).run()
    reveal(at)
    key = radio.key
    from ui import state

    assert at.session_state[state._KEPT][key] == guess  # kept outside the widget, which a rerun may re-create
    at.button(key="tut_present").click().run()
    assert at.session_state["present"] is True
    radio = next(r for r in at.radio if r.key == key)
    assert radio.value == guess  # the guess is kept, and the answer stays revealed beside it
    assert not [b for b in at.button if (b.key or "").startswith("_tut_reveal_")]
    verdicts = [e.value.replace("\\", "") for e in list(at.info) + list(at.success)]
    assert any("Right" in v or guess in v for v in verdicts), verdicts
