"""core.render.generate_charts (arrays in, charts with text descriptions out) and the requests of
core.requests.generate on the engine: n steps are n - 1 steps (from memory) extended by one, and
an encoder-decoder model is kept in the engine's bounded model set."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention.engine import AttentionEngine
from core.render import generate_charts as gc
from core.render.vega import chart_spec


def _data(spec: dict) -> list[dict]:
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_candidates_chart_marks_the_chosen_and_the_left_out() -> None:
    spec = chart_spec(gc.candidates_chart(["␣the", "␣a", "␣the"], np.array([0.5, 0.3, 0.2]),
                                          np.array([0.62, 0.38, 0.0]), 1, title="Step 1"))
    rows = _data(spec)
    assert [r["token"] for r in rows] == ["␣the", "␣a", "␣the (2)"]  # repeats kept apart, in order
    assert [r["status"] for r in rows] == ["in the draw", "chosen", "left out"]
    assert spec["description"].startswith("Bar chart: Step 1. 3 most probable next tokens")
    assert "␣a 30.0% (chosen)" in spec["description"] and "(left out)" in spec["description"]


def test_attention_rows_chart_has_one_row_per_lens_and_says_where_each_looks() -> None:
    rows = {"Layer 0, head 1": np.array([0.7, 0.2, 0.1]), "Rollout (all layers)": np.array([0.2, 0.2, 0.6])}
    spec = chart_spec(gc.attention_rows_chart(["A", "b", "A"], rows, title="Step 2"))
    data = _data(spec)
    assert len(data) == 6 and {r["lens"] for r in data} == set(rows)
    assert "Layer 0, head 1: most on ‘A’ (70%)" in spec["description"]
    assert "Rollout (all layers): most on ‘A (2)’ (60%)" in spec["description"]


def test_rect_heatmap_masks_and_describes_the_strongest_column() -> None:
    values = np.array([[0.9, 0.1], [0.4, 0.6]])
    spec = chart_spec(gc.rect_heatmap(values, ["x", "y"], ["p", "q"], title="Cross", row_title="Target",
                                      col_title="Source", allowed=np.array([[True, False], [True, True]])))
    masked = [r for r in _data(spec) if r.get("masked")]
    assert len(masked) == 1 and masked[0]["row"] == "x" and masked[0]["col"] == "q"
    assert "2 rows (Target) by 2 columns (Source)" in spec["description"]
    assert "‘x’ → ‘p’ 90%" in spec["description"] and "‘y’ → ‘q’ 60%" in spec["description"]


def test_alignment_chart_draws_one_line_per_aligned_target_word() -> None:
    spec = chart_spec(gc.alignment_chart(["The", "cat", "."], ["Die", "Katze", "!"], [0, 1, -1], [0.5, 0.8, 0.0],
                                         title="Alignment"))
    lines = [r for r in _data(spec) if "x2" in r]
    assert [(r["target"], r["source"]) for r in lines] == [("Die", "The"), ("Katze", "cat")]
    words = [r for r in _data(spec) if "side" in r]
    assert [w["word"] for w in words if w["side"] == "source"] == ["The", "cat", "."]
    assert all(w["y"] == 1.0 for w in words if w["side"] == "source")
    assert "‘Katze’ → ‘cat’ (80%)" in spec["description"] and "‘!’ → none" in spec["description"]


# --- the requests on the engine -------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2():
    from tests.tiny_models import with_heads_once

    return with_heads_once()["gpt2"]


def test_n_steps_extend_the_cached_n_minus_one(gpt2, monkeypatch) -> None:
    from core.generate import steps
    from core.generate.settings import Settings
    from core.requests.generate import GenerationOf

    engine = AttentionEngine(loader=lambda mid: gpt2)
    settings = Settings.make("top_k", temperature=1.2, k=4, seed=7)
    three = engine.get(GenerationOf("tiny", "the cat sat on the", settings, 3))
    calls = []
    real = steps.extend
    monkeypatch.setattr(steps, "extend", lambda loaded, gen, n=1: calls.append((gen.n_steps, n)) or real(loaded, gen, n))
    four = engine.get(GenerationOf("tiny", "the cat sat on the", settings, 4))
    assert calls == [(3, 1)]  # one step from the remembered three
    assert four.ids[:len(three.ids)] == three.ids
    assert four.ids == steps.replay(gpt2, "the cat sat on the", settings, 4).ids


def test_too_many_steps_are_refused(gpt2) -> None:
    from core.generate.errors import TooManyStepsError
    from core.generate.settings import MAX_STEPS, Settings
    from core.requests.generate import GenerationOf

    engine = AttentionEngine(loader=lambda mid: gpt2)
    with pytest.raises(TooManyStepsError, match=f"at most {MAX_STEPS}"):
        engine.get(GenerationOf("tiny", "the cat", Settings.make("greedy"), MAX_STEPS + 1))


def test_an_encoder_decoder_model_is_kept_in_the_engine_model_set(monkeypatch) -> None:
    from core.generate import seq2seq
    from core.requests.generate import AlignmentOf, Seq2SeqOf
    from tests.tiny_models import seq2seq_once

    marian = seq2seq_once()["marian"]
    loads = []
    monkeypatch.setattr(seq2seq, "load_seq2seq", lambda mid, device=None: loads.append(mid) or marian)
    engine = AttentionEngine(loader=lambda mid: pytest.fail("the one-stack loader was used"))
    request = Seq2SeqOf("tiny-marian", "The cat sat on the mat.", "Die Katze sitzt auf der Matte.")
    result = engine.get(request)
    assert engine.is_loaded("tiny-marian") and engine.model_memory()["tiny-marian"] > 0
    engine.get(Seq2SeqOf("tiny-marian", "The dog.", ""))
    assert loads == ["tiny-marian"]  # loaded once, then kept
    a = engine.get(AlignmentOf(request, (1,), None))
    assert len(a.links) == len(a.target_words) and result.cross_attention.shape[0] == 2
