"""core.requests.explain and core.render.explain_charts: every request answers through the engine
(shared, read-only values; nested requests computed once), its charts are valid Vega-Lite with a
text description, bad input raises a one-sentence error, and a corpus faithfulness run is a job
that can be stopped. On the bundled sentence model and the tiny masked and causal LMs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.attention.engine import AttentionEngine
from core.corpus import sources
from core.errors import AttentionDashboardError
from core.explain.attribution import blank_out, gradient_x_input
from core.explain.interventions import Intervention
from core.explain.outputs import Target
from core.render import explain_charts, vega
from core.requests import explain
from core.requests.charts import OverviewGrid
from tests.tiny_models import with_heads_once

SENTENCE = "The cat sat on the mat."


@pytest.fixture(scope="module")
def engine(bundled_model) -> AttentionEngine:
    eng = AttentionEngine()
    eng.add_model(bundled_model)
    for loaded in with_heads_once().values():
        eng.add_model(loaded)
    return eng


def _ids() -> dict[str, str]:
    return {family: loaded.info.model_id for family, loaded in with_heads_once().items()}


def _spec(chart) -> dict:
    spec = vega.chart_spec(chart)  # validated against the Vega-Lite schema
    assert spec.get("description"), "every chart carries a text description"
    return spec


def test_facts_say_what_each_kind_of_model_outputs(engine, bundled_model) -> None:
    facts = engine.get(explain.Facts(bundled_model.info.model_id))
    assert facts.kind == "embedding" and facts.heads_editable and facts.no_head_message is None
    assert "embedding" in facts.what_it_is_for
    assert engine.get(explain.Facts(_ids()["gpt2"])).kind == "causal"
    assert engine.get(explain.Facts(_ids()["bert"])).kind == "masked"


def test_every_request_of_a_masked_lm_is_shared_and_read_only(engine) -> None:
    pred = explain.Prediction(_ids()["bert"], SENTENCE, None, Target(word=2))
    output = engine.get(pred)
    assert engine.get(explain.Prediction(_ids()["bert"], SENTENCE, None, Target(word=2))) is output  # one value
    assert output.predictions[0].target_token == "cat"
    change = explain.InterventionOf(pred, Intervention(heads=((0, 1),), mask_words=(4,)))
    found = engine.get(change)
    assert found.kl >= 0 and not found.attention_after.flags.writeable
    importance = explain.HeadImportanceOf(pred, "mean")
    grid = engine.get(explain.ImportanceValues(importance, "gradient"))
    assert grid.shape == (2, 2)
    attribution = engine.get(explain.AttributionOf(pred, ig_steps=8))
    assert "blank-out" in attribution.methods and attribution.ig.steps == 8
    faithful = engine.get(explain.SentenceFaithfulnessOf(pred))
    assert faithful.lenses is attribution.lenses  # lenses computed once
    # blank-out and gradient x input too: both requests read the same values, equal to a direct run
    assert attribution.blank_out is engine.get(explain.BlankOutOf(pred))
    assert attribution.gradient_tokens is engine.get(explain.GradientOf(pred))
    loaded, problem = engine.loaded(pred.model_id), output.problem
    np.testing.assert_array_equal(faithful.blank_out, blank_out(loaded, problem))
    np.testing.assert_allclose(faithful.gradient, np.abs(problem.sentence.merge(gradient_x_input(loaded, problem))
                                                         [problem.candidate_words]), rtol=1e-5, atol=1e-7)
    for chart in (explain.TopKChart(pred, "t"), explain.InterventionTopKChart(change, "after"),
                  explain.InputHeatmap(pred, 1, 0, "input"), explain.AttentionBeforeAfter(change, 0, 1),
                  explain.RankChart(explain.AttributionOf(pred, ig_steps=8), "ranks"),
                  explain.SentenceFaithfulnessChart(explain.SentenceFaithfulnessOf(pred), "blank-out", "f"),
                  OverviewGrid(explain.ShiftValues(change), title="shift", value_label="moved"),
                  OverviewGrid(explain.ImportanceValues(importance, "ablation"), title="a", value_label="v")):
        _spec(engine.get(chart))


def test_the_masked_input_is_labelled_as_run(engine) -> None:
    pred = explain.Prediction(_ids()["bert"], SENTENCE, None, Target(word=2))
    problem = engine.get(pred).problem
    labels = explain.run_labels(problem.sentence, problem.input_ids)
    assert labels[problem.focus] == "[MASK]" and labels.count("[MASK]") == len(problem.masked_positions)


def test_a_causal_lm_and_the_embedding_model_answer_too(engine, bundled_model) -> None:
    causal = explain.Prediction(_ids()["gpt2"], "the cat sat on the mat", None, Target(position=2))
    assert engine.get(causal).predictions[0].position == 2
    _spec(engine.get(explain.InputHeatmap(causal, 0, 0, "causal input")))
    pred = explain.Prediction(bundled_model.info.model_id, SENTENCE, None, Target(compare_to="A dog slept."))
    output = engine.get(pred)
    assert output.cosine is not None and -1 <= output.cosine <= 1
    evidence = engine.get(explain.TutorialEvidence(pred))
    assert len(evidence.words) == len(evidence.blank_out) == len(evidence.attended) == 7
    assert evidence.output == "the sentence embedding"


@pytest.mark.parametrize("change, words", [(Intervention(heads=tuple((l, h) for l in range(6) for h in range(12))),
                                            "every head"),
                                           (Intervention(mask_words=(1, 2, 3, 4, 5, 6, 7)), "Every word")])
def test_nothing_left_is_a_sentence(engine, bundled_model, change, words) -> None:
    pred = explain.Prediction(bundled_model.info.model_id, SENTENCE, None, Target())
    with pytest.raises(AttentionDashboardError, match=words):
        engine.get(explain.InterventionOf(pred, change))


def test_a_corpus_faithfulness_run_is_a_job_that_stops(engine, bundled_model) -> None:
    corpus = sources.builtin("tutorial")
    job = explain.start_faithfulness_run(engine, bundled_model.info.model_id, corpus)
    assert explain.faithfulness_job(engine, bundled_model.info.model_id, corpus) is job
    assert job.join(120) and job.error is None
    run = job.result
    assert run.n_used == len(corpus) and not run.cancelled
    assert engine.find(explain.CorpusFaithfulnessOf(bundled_model.info.model_id, corpus)) is run  # kept
    _spec(engine.get(explain.CorpusFaithfulnessChart(run, "blank-out", "corpus")))
    stopped = explain.start_faithfulness_run(engine, _ids()["distilbert"], sources.builtin("sample_en"))
    stopped.cancel()
    assert stopped.join(120)
    assert stopped.result is None or stopped.result.cancelled


def test_the_charts_say_what_they_show() -> None:
    top = _spec(explain_charts.top_k_chart(["mat", "rug", "mat"], np.array([0.5, 0.3, 0.1]), title="t", target="rug"))
    assert "the orange bar is ‘rug’" in top["description"]
    ranks = _spec(explain_charts.rank_chart(["a", "b"], ["m1", "m2"], np.array([[1, 2], [2, 1]]),
                                            np.array([[0.5, 0.1], [0.0, 0.2]]), title="r"))
    assert "m1: ‘a’" in ranks["description"] and "m2: ‘b’" in ranks["description"]
    faith = _spec(explain_charts.faithfulness_chart({"rollout": np.array([0.1, np.nan])}, title="f",
                                                    reference="blank-out", paper={"rollout": (0.32, 0.38)}))
    assert "rollout: 0.10, n/a" in faith["description"] and "Abnar" in faith["description"]
    pair = _spec(explain_charts.word_pair_chart(["x", "y"], np.array([0.2, 0.1]), np.array([0.0, 0.4]), title="w",
                                                first_label="attention", second_label="blank-out"))
    assert "attention: highest ‘x’" in pair["description"] and "blank-out: highest ‘y’" in pair["description"]


def test_a_rank_chart_of_many_words_keeps_its_labels_readable() -> None:
    """Past about 50 words the rank chart is wider than a column: it is drawn on a canvas, which
    keeps its size and scrolls (an SVG is shrunk to the column, labels and all), labels upright."""
    k = 125
    words = [f"w{i}" for i in range(k)]
    ranks = np.vstack([np.arange(1, k + 1), np.arange(k, 0, -1)])
    wide = _spec(explain_charts.rank_chart(words, ["m1", "m2"], ranks, ranks.astype(float), title="r"))
    assert wide["usermeta"]["embedOptions"]["renderer"] == "canvas" and wide["width"] >= 12 * k
    assert _first_axis(wide)["labelAngle"] == -90
    narrow = _spec(explain_charts.rank_chart(words[:8], ["m1", "m2"], ranks[:, :8], ranks[:, :8].astype(float),
                                             title="r"))
    assert "usermeta" not in narrow


def _first_axis(spec: dict) -> dict:
    for layer in spec["layer"]:
        axis = layer.get("encoding", {}).get("x", {}).get("axis")
        if axis:
            return axis
    raise AssertionError("no x axis")
