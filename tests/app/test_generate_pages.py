"""The Generate and Translation pages with AppTest, on tiny random models: steps taken via the
link, stepping on and rewinding, settings out of range clamped with a note, steps over the cap
refused with a sentence, a model that cannot generate, the generated text opened on every page;
the encoder-decoder page's three attentions, alignment and BertViz view, and the unavailable
models said as such."""

from __future__ import annotations

import json

import pytest

from core.generate.settings import MAX_STEPS
from core.models import registry
from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of
from tests.tiny_models import seq2seq_once

GENERATE, TRANSLATION = "pages/generate.py", "pages/translation.py"
PROMPT = "the cat sat on the"


def clean(at) -> None:
    assert not exceptions_of(at), exceptions_of(at)


def shown(at) -> str:
    return " ".join(texts_of(at)) + " " + " ".join(f"{m.label} {m.value}" for m in at.metric)


def steps_caption(at) -> str:
    return next(c.value for c in at.caption if "of at most" in c.value)


def test_steps_in_a_link_are_replayed_with_candidates_and_attention(with_lms) -> None:
    link = dict(model=with_lms["gpt2"], text=PROMPT, strategy="top_k", k=7, temperature=1.5, seed=11, steps=3)
    at = make_app(GENERATE, **link)
    clean(at)
    assert not errors_of(at)
    assert f"3 of at most {MAX_STEPS} steps" in steps_caption(at)
    assert "Chosen token" in {m.label for m in at.metric}
    specs = [json.loads(c.proto.spec) for c in charts_of(at)]
    assert len(specs) == 2
    assert any("most probable next tokens" in json.dumps(s) for s in specs)
    assert any("Rollout" in json.dumps(s) or "Rollout" in str(c.proto.datasets) for s, c in zip(specs, charts_of(at)))
    text = at.markdown[0].value
    again = make_app(GENERATE, **link)  # the same link draws the same tokens
    assert again.markdown[0].value == text
    assert at.query_params["steps"] == "3" and at.query_params["seed"] == "11"


def test_next_token_then_rewind(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=PROMPT, strategy="greedy", steps=1)
    clean(at)
    at.button[0].click().run()  # Next token
    clean(at)
    assert "2 of at most" in steps_caption(at)
    at.number_input(key="at_once").set_value(3).run()
    next(b for b in at.button if b.label.startswith("Next 3")).click().run()
    clean(at)
    assert "5 of at most" in steps_caption(at)
    long_text = at.markdown[0].value
    at.select_slider(key="steps").set_value(2).run()  # rewind
    clean(at)
    assert "2 of at most" in steps_caption(at) and at.markdown[0].value != long_text
    at.button[0].click().run()
    at.button[0].click().run()
    at.button[0].click().run()
    assert at.markdown[0].value == long_text  # stepping on from the rewound step draws the same tokens


def test_settings_out_of_range_are_clamped_with_a_note(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=PROMPT, strategy="top_k", temperature=50, k=500,
                  seed=-4, steps=1)
    clean(at)
    assert not errors_of(at)
    assert at.session_state["temperature"] == 10 and at.session_state["k"] == 50 and at.session_state["seed"] == 0
    text = shown(at)
    assert "temperature 50 is outside 0.2-10; using 10" in text and "top-k 500 is outside 1-50" in text


def test_steps_over_the_cap_are_refused_with_a_sentence(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=PROMPT, steps=100000)
    clean(at)
    text = shown(at)
    assert f"100000 steps were asked for; one generation takes at most {MAX_STEPS} tokens" in text
    assert "No token generated yet" in text and at.session_state["steps"] == 0


def test_a_model_that_cannot_generate_says_so(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["bert"], text=PROMPT)
    clean(at)
    assert not errors_of(at)
    text = shown(at)
    assert "cannot generate text" in text and "masked language model" in text
    assert "GPT-2" in text and "unavailable" in text
    assert any("model_kit.py --models generation" in m.value for m in at.markdown)


def test_the_default_model_says_it_cannot_generate_and_which_models_can() -> None:
    at = make_app(GENERATE, text=PROMPT, strategy="top_k", k=7)
    clean(at)
    assert not errors_of(at)
    assert "cannot generate text" in shown(at)
    # No settings on screen (nothing here could use them), but the link keeps them for a causal model.
    assert not at.slider and not at.number_input
    assert not [b for b in at.button if b.label == "Next token"]
    assert at.query_params.get("k") in ("7", ["7"]) and at.query_params.get("strategy") in ("top_k", ["top_k"])


def test_the_generated_text_opens_on_every_page(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=PROMPT, strategy="greedy", steps=4)
    clean(at)
    generated = at.markdown[0].value
    next(b for b in at.button if b.label == "Use this text on every page").click().run()
    clean(at)
    text = at.session_state["text"]
    assert text.startswith(PROMPT) and len(text) > len(PROMPT)
    assert at.text_area(key="text").value == text
    assert "1 of at most" in steps_caption(at) and generated  # the text is now the prompt
    at.switch_page("pages/single_head.py").run()
    clean(at)
    assert at.session_state["text"] == text


def test_a_prompt_too_long_is_refused_with_the_limit(with_lms) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=" ".join(["word"] * 600))
    clean(at)
    assert any("Shorten the prompt to under" in e for e in errors_of(at))


# --- the encoder-decoder page ------------------------------------------------------------------

SOURCE, TARGET = "The cat sat on the mat.", "Die Katze sitzt auf der Matte."


@pytest.fixture()
def with_seq2seq(monkeypatch) -> dict[str, str]:
    """The tiny Marian and T5 models as the registry's encoder-decoder models (local folders)."""
    specs = tuple(registry.ModelSpec(m.info.model_id, m.info.display_name, m.model.config.name_or_path,
                                     is_local=True, encoder_decoder=True) for m in seq2seq_once().values())
    monkeypatch.setattr(registry, "_ENCODER_DECODER", specs)
    return {family: m.info.model_id for family, m in seq2seq_once().items()}


def frames(at) -> list:
    return [e for e in at.main if getattr(e, "type", None) == "iframe"]


def test_a_typed_target_shows_the_three_attentions_and_the_alignment(with_seq2seq) -> None:
    at = make_app(TRANSLATION, text=SOURCE, s2s=with_seq2seq["marian"], target=TARGET, s2s_view="cross",
                  al_layers="1", al_heads="0,1")
    clean(at)
    assert not errors_of(at)
    assert "typed" in shown(at)
    specs = [json.loads(c.proto.spec) for c in charts_of(at)]
    descriptions = [s.get("description", "") for s in specs]
    assert any(d.startswith("Heatmap: Cross-attention") for d in descriptions), descriptions
    alignment = next(d for d in descriptions if d.startswith("Word alignment"))
    assert "‘Katze’ →" in alignment and "layers 1, heads 0, 1" in alignment
    assert at.dataframe  # the alignment's table
    for which, title in (("encoder", "Encoder self-attention"), ("decoder", "Decoder self-attention")):
        at.segmented_control(key="s2s_view").set_value(which).run()
        clean(at)
        assert any(json.loads(c.proto.spec).get("description", "").startswith(f"Heatmap: {title}")
                   for c in charts_of(at))


def test_the_encoder_decoder_bertviz_view_is_drawn_offline(with_seq2seq) -> None:
    at = make_app(TRANSLATION, text=SOURCE, s2s=with_seq2seq["marian"], target=TARGET)
    clean(at)
    at.toggle(key="s2s_plain").set_value(True).run()
    clean(at)
    srcdoc = frames(at)[0].proto.srcdoc
    assert "window.__bertvizDecodeEach(" in srcdoc and "cdnjs" not in srcdoc
    at.segmented_control(key="s2s_bv").set_value("model").run()
    clean(at)
    assert "window.__bertvizDecodeEach(" in frames(at)[0].proto.srcdoc


def test_t5_translates_with_its_task_prefix(with_seq2seq) -> None:
    at = make_app(TRANSLATION, text=SOURCE, s2s=with_seq2seq["t5"])
    clean(at)
    assert not errors_of(at)
    text = shown(at)
    assert "the model’s translation" in " ".join(m.value for m in at.markdown) and "prefix" in text


def test_no_layer_picked_for_the_alignment_is_a_sentence(with_seq2seq) -> None:
    at = make_app(TRANSLATION, text=SOURCE, s2s=with_seq2seq["marian"], target=TARGET, al_layers="")
    clean(at)
    assert "Pick at least one decoder layer" in shown(at)


def test_unavailable_translation_models_say_so_with_the_model_kit() -> None:
    at = make_app(TRANSLATION, text=SOURCE)
    clean(at)
    assert not errors_of(at)
    text = shown(at)
    if "unavailable here" not in text:
        pytest.skip("a translation model is on this machine")
    assert "opus-mt-en-de" in text and "T5 small" in " ".join(m.value for m in at.markdown)
    assert any("model_kit.py --models generation" in m.value for m in at.markdown)


# --- the tutorial's step on causal masking while generating -------------------------------------

def test_the_tutorial_step_shows_one_generation_step_and_its_notices(with_lms) -> None:
    at = make_app("pages/tutorial.py", model=with_lms["gpt2"], text=PROMPT, step="generating")
    clean(at)
    assert not errors_of(at)
    specs = [json.loads(c.proto.spec) for c in charts_of(at)]
    assert any("looks back over the" in json.dumps(s) for s in specs)
    notices = " ".join(m.value for m in at.markdown)
    assert "attends to" in notices and "Nothing after it exists yet" in notices
    assert "The model then chose" in " ".join(c.value for c in at.caption)


def test_the_tutorial_step_says_why_a_model_cannot_generate(with_lms) -> None:
    at = make_app("pages/tutorial.py", model=with_lms["bert"], text=PROMPT, step="generating")
    clean(at)
    assert not errors_of(at)
    assert "cannot generate text" in " ".join(m.value for m in at.markdown)


HOSTILE = ("</script><script>alert(1)</script> {0.__class__} %s '; DROP TABLE x; -- 😀 مرحبا 中文",
           "\u200b\u202e\ufeff", "word " * 600)


@pytest.mark.parametrize("text", HOSTILE, ids=["markup and injections", "invisible characters", "long"])
def test_hostile_text_on_generate_is_a_result_or_a_sentence(with_lms, text) -> None:
    at = make_app(GENERATE, model=with_lms["gpt2"], text=text, strategy="greedy", steps=2)
    clean(at)
    assert charts_of(at) or errors_of(at) or at.warning or at.info
    assert not any("<script>" in m.value for m in at.markdown if "`" not in m.value)


@pytest.mark.parametrize("text", HOSTILE, ids=["markup and injections", "invisible characters", "long"])
def test_hostile_text_on_translation_is_a_result_or_a_sentence(with_seq2seq, text) -> None:
    at = make_app(TRANSLATION, text=text, s2s=with_seq2seq["marian"], target=text[:200])
    clean(at)
    assert charts_of(at) or errors_of(at) or at.warning or at.info
