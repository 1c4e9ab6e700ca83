"""The "Does it matter?" pages with AppTest: the model's output (the bundled sentence model's
embedding and cosine; a tiny masked LM's fills of a word picked in the link; a tiny causal LM's
next token), interventions, head importance and attribution (with a corpus run), the
tutorial's step; and bad input as sentences: a position out of range in a link, every head
switched off, every word masked, a model without an output head."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pytest

from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of

OUTPUT, INTERVENTIONS = "pages/model_output.py", "pages/interventions.py"
IMPORTANCE, ATTRIBUTION = "pages/head_importance.py", "pages/attribution.py"
EXPLAIN_PAGES = [OUTPUT, INTERVENTIONS, IMPORTANCE, ATTRIBUTION]
SENTENCE = "The cat sat on the mat."


def clean(at) -> None:
    assert not exceptions_of(at), exceptions_of(at)


def shown(at) -> str:
    return " ".join(texts_of(at)) + " " + " ".join(str(m.label) + " " + str(m.value) for m in at.metric)


def chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in charts_of(at)]


def test_the_bundled_sentence_model_shows_its_embedding_and_the_cosine() -> None:
    at = make_app(OUTPUT, text=SENTENCE, compare="A dog slept on the rug.")
    clean(at)
    assert not errors_of(at)
    text = shown(at)
    assert "sentence into one vector" in text  # what the model is for
    assert "Cosine to the second text" in text and "384 numbers" in text
    assert charts_of(at)  # the attention of the input as run


def test_masking_a_word_via_the_link_shows_the_top_fills(with_lms) -> None:
    at = make_app(OUTPUT, model=with_lms["bert"], text=SENTENCE, mask=2)
    clean(at)
    assert not errors_of(at)
    assert at.session_state["mask"] == 2
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Original word"] == "cat" and "Its rank" in metrics
    titles = [s.get("title", {}).get("text", "") for s in chart_specs(at)]
    assert any("Top 10 for the masked word ‘cat’" in t for t in titles), titles
    assert any("[MASK]" in json.dumps(s) or "MASK" in str(c.proto.datasets) for s, c in zip(chart_specs(at), charts_of(at)))


def test_a_causal_model_shows_the_next_token_at_a_position(with_lms) -> None:
    at = make_app(OUTPUT, model=with_lms["gpt2"], text="the cat sat on the mat", pos=1)
    clean(at)
    assert not errors_of(at)
    metrics = {m.label: m.value for m in at.metric}
    assert "Top next token" in metrics and "Actual next token" in metrics


@pytest.mark.parametrize("param, raw", [("mask", "99"), ("mask", "0"), ("mask", "cat")])
def test_a_word_out_of_range_in_a_link_is_a_note_not_a_traceback(with_lms, param, raw) -> None:
    at = make_app(OUTPUT, model=with_lms["bert"], text=SENTENCE, **{param: raw})
    clean(at)
    assert not errors_of(at)
    assert f"'{raw}' is not valid here" in shown(at)
    assert {m.label for m in at.metric} >= {"Top fill", "Original word"}  # the default word instead


def test_a_position_out_of_range_in_a_link_is_a_note(with_lms) -> None:
    at = make_app(OUTPUT, model=with_lms["gpt2"], text="the cat sat", pos=500)
    clean(at)
    assert "'500' is not valid here" in shown(at)


def test_every_head_switched_off_is_a_sentence() -> None:
    at = make_app(INTERVENTIONS, text=SENTENCE, off="all")
    clean(at)
    assert any("every head" in e for e in errors_of(at)), errors_of(at)


def test_every_word_masked_is_a_sentence() -> None:
    at = make_app(INTERVENTIONS, text=SENTENCE, maskw="1,2,3,4,5,6,7")
    clean(at)
    assert any("Every word would be masked" in e for e in errors_of(at)), errors_of(at)


def test_a_head_off_and_a_word_masked_move_the_output_and_attention(with_lms) -> None:
    at = make_app(INTERVENTIONS, model=with_lms["bert"], text=SENTENCE, mask=6, off="0.0,1.1", maskw=2)
    clean(at)
    assert not errors_of(at)
    labels = {m.label for m in at.metric}
    assert "KL divergence" in labels
    titles = json.dumps(chart_specs(at))
    assert "Before" in titles and "After" in titles and "How far each head" in titles


def test_an_embedding_intervention_reports_the_cosine() -> None:
    at = make_app(INTERVENTIONS, text=SENTENCE, off="0.1", dropw="2", ablation="mean")
    clean(at)
    assert not errors_of(at)
    assert "Cosine to the original embedding" in {m.label for m in at.metric}


def test_a_model_without_an_output_head_says_so(monkeypatch, tiny_models, tiny_models_dir) -> None:
    from tests.tiny_models import model_folder

    folder = str(model_folder(tiny_models_dir, "bert"))
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", folder)
    for page in EXPLAIN_PAGES:
        at = make_app(page, model=folder, text=SENTENCE)
        clean(at)
        assert any("no output head" in i.value for i in at.info), (page, texts_of(at))


def test_head_importance_draws_two_clickable_grids() -> None:
    at = make_app(IMPORTANCE, text=SENTENCE)
    clean(at)
    assert not errors_of(at)
    grids = [s for s in chart_specs(at) if "Head" in json.dumps(s.get("layer", s))]
    assert len(grids) >= 2
    for spec in grids[:2]:
        assert '"name": "head"' in json.dumps(spec), spec["title"]  # the point selection a click reports
    assert "Most important by switching off" in shown(at)


def test_attribution_ranks_words_and_runs_a_corpus(with_lms) -> None:
    at = make_app(ATTRIBUTION, model=with_lms["distilbert"], text=SENTENCE)
    clean(at)
    assert not errors_of(at)
    titles = json.dumps(chart_specs(at))
    assert "Word ranks" in titles and "Spearman" in titles and "Abnar" in titles
    at.button(key="faith_run").click().run()
    deadline = time.monotonic() + 120
    while "mean Spearman ρ ± its standard deviation" not in json.dumps(chart_specs(at), ensure_ascii=False):
        assert time.monotonic() < deadline, (errors_of(at), [b.key for b in at.button], [t[:90] for t in texts_of(at)][-8:])
        time.sleep(0.5)
        at.run()
    clean(at)
    assert "Over " in shown(at) and "sentences" in shown(at)  # the plain-words reading


def test_the_tutorial_step_answers_from_the_sentences_numbers(with_lms) -> None:
    for model in (None, with_lms["roberta"]):
        at = make_app("pages/tutorial.py", step="matters", text=SENTENCE, **({"model": model} if model else {}))
        [b for b in at.button if (b.key or "").startswith("_tut_reveal_")][0].click().run()
        clean(at)
        assert not errors_of(at)
        text = shown(at)
        assert "The answer is" in text and "Blanking out" in text
        assert charts_of(at)


def test_pasted_sentences_are_a_corpus_too() -> None:
    at = make_app(ATTRIBUTION, text=SENTENCE, faith_source="paste")
    clean(at)
    assert "Paste a few sentences" in shown(at)
    at.text_area(key="faith_lines").set_value("The dog barked at the cat.\nA bird sang in the tree.").run()
    clean(at)
    assert at.button(key="faith_run").label == "Run 2 sentences"


def test_a_text_past_the_explain_limit_says_where_it_was_cut() -> None:
    """These pages read at most core.requests.explain.MAX_TOKENS tokens: a longer text is cut, and
    the page says so (and after which word) instead of silently dropping the rest."""
    from core.requests.explain import MAX_TOKENS

    words = [f"word{i % 50}" for i in range(MAX_TOKENS + 40)] + ["violin"]
    at = make_app(OUTPUT, text=" ".join(words))
    clean(at)
    notes = [i.value for i in at.info if "These pages read the first" in i.value]
    assert len(notes) == 1, [i.value for i in at.info]
    assert f"first {MAX_TOKENS} tokens" in notes[0] and "cut after" in notes[0]
    short = make_app(OUTPUT, text=SENTENCE)
    assert not [i.value for i in short.info if "These pages read the first" in i.value]


LONG = "the cat sat on the mat and the dog played in the park while she said that it was sleeping near the big red door"


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_long_text_panels_come_from_the_shared_template(with_lms, family) -> None:
    """Past 20 tokens the panels before and after are drawn from their layout's template: the
    spec names no word (the axes read them from the rows, the masked one as "word→[MASK]"), for a
    masked LM and for a causal one (its future keys masked); a second pick sends the same spec."""
    at = make_app(INTERVENTIONS, model=with_lms[family], text=LONG, maskw=2)
    clean(at)
    assert not errors_of(at)
    panels = [c for c in charts_of(at) if "panel_rows" in c.proto.spec]
    assert len(panels) == 1, [json.loads(c.proto.spec).get("title") for c in charts_of(at)]
    spec = panels[0].proto.spec
    assert "sleeping" not in spec and "[MASK]" not in spec
    rows = [d for d in panels[0].proto.datasets if d.name == "panel_rows"]
    assert rows
    labels = pa.ipc.open_stream(rows[0].data.data).read_all().column("label").to_pylist()
    assert any("→[MASK]" in str(label) for label in labels), set(labels)  # the masked word (all its pieces)
    at.session_state["maskw"] = [2, 9]
    at.run()
    clean(at)
    again = [c for c in charts_of(at) if "panel_rows" in c.proto.spec]
    assert len(again) == 1 and again[0].proto.spec == spec
