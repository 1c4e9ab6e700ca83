"""core.tutorial: every "what to notice" number equals the value recomputed here from the result,
every predict-then-reveal answer is the argmax of the data its chart shows, every step builds
its figure, and the step table's doors and words exist. On the bundled model (encoder), the tiny
causal GPT-2 and a sentence pair; edge cases on hand-built results."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from core.analysis import lenses, patterns, statistics
from core.attention.extract import extract
from core.attention.result import AttentionResult
from core.examples import EXAMPLES
from core.models.loading import ModelInfo
from core.render import vega
from core.tutorial import figures, glossary, notices, questions, steps, views
from core.tutorial.views import StepContext
from tests.core.synthetic import random_attention
from ui import page_table

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = "The cat sat on the mat."
PAIR = ("The cat sat on the mat.", "It was very happy there.")
LAYER, HEAD = 2, 5  # the notebook's head


# --- results ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cases(bundled_model, tiny_gpt2) -> dict[str, StepContext]:
    """Three contexts: the bundled encoder, the tiny causal GPT-2, and a sentence pair."""
    out = {}
    for name, loaded, text, pair in [("encoder", bundled_model, SENTENCE, None),
                                     ("causal", tiny_gpt2, "the cat sat on the mat", None),
                                     ("pair", bundled_model, PAIR[0], PAIR[1])]:
        res = extract(loaded, text, pair)
        examples = {k: extract(loaded, v) for k, v in EXAMPLES.items()}
        layer, head = min(LAYER, res.num_layers - 1), min(HEAD, res.num_heads - 1)
        out[name] = StepContext(res, layer, head, examples)
    return out


CASES = ["encoder", "causal", "pair"]


def _offdiag_allowed(res: AttentionResult) -> np.ndarray:
    return res.allowed_mask() & ~np.eye(res.n_tokens, dtype=bool)


def _sink(res: AttentionResult) -> np.ndarray:
    if res.special_mask.any():
        return np.asarray(res.special_mask, dtype=bool)
    first = np.zeros(res.n_tokens, dtype=bool)
    first[0] = True
    return first


def expected(key: str, ctx: StepContext):
    """Each notice's number, recomputed here with plain numpy from the result."""
    r, L, H = ctx.result, ctx.layer, ctx.head
    a = np.asarray(r.attention, dtype=np.float64)
    head = a[L, H]
    n = r.n_tokens
    q = views.tutorial_query(r)
    near = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) <= 1
    if key == "heads":
        return r.num_layers * r.num_heads
    if key == "weights":
        return a.size
    if key == "parameters":
        return round(r.info.num_parameters / 1e6, 1)
    if key == "special":
        return int(r.special_mask.sum())
    if key == "split":
        keys = [(s, w) for w, s in zip(r.word_ids, r.segment_ids) if w is not None]
        return sum(1 for k in set(keys) if keys.count(k) > 1)
    if key == "pair":
        return int(np.flatnonzero(r.segment_ids == 1)[0])
    if key in ("top_key_share",):
        return head.mean(axis=0).max()
    if key == "special_share":
        return head[:, r.special_mask].sum(axis=1).mean()
    if key == "neighbour_share":
        return (head * near).sum(axis=1).mean()
    if key == "strongest":
        return head[_offdiag_allowed(r)].max()
    if key == "average_focus":
        return a[L].mean(axis=0).max(axis=1).mean()
    if key == "panel_sink_share":
        return tuple(a[ly].mean(axis=0)[:, _sink(r)].sum(axis=1).mean() for ly in views.panel_layers(r.num_layers))
    if key == "visible_lines":
        return int((head[r.allowed_mask()] > 0.1).sum())
    if key == "strongest_sentence":
        return max(ex.head(L, H)[_offdiag_allowed(ex)].max() for ex in ctx.examples.values())
    if key == "special_top":
        count = 0
        for ex in ctx.examples.values():
            m = np.where(_offdiag_allowed(ex), ex.head(L, H), -np.inf)
            i, j = np.unravel_index(np.argmax(m), m.shape)
            count += bool(ex.special_mask[i] or ex.special_mask[j])
        return count
    if key == "focus_layers":
        return a[:, H].max(axis=-1).mean(axis=-1).max()
    if key == "closest_head":
        other = L + 1 if L + 1 < r.num_layers else L - 1
        js = [np.mean([jensenshannon(head[i], a[other, k, i]) ** 2 for i in range(n)]) for k in range(r.num_heads)]
        return int(np.argmin(js))
    if key == "category_total":
        avg = a.mean(axis=1)
        rel = (2.0 / lenses.receptive_field(n, r.causal))[:, None]
        return int(((avg > rel) & ~np.eye(n, dtype=bool)).sum())
    if key == "fixed_threshold":
        avg = a.mean(axis=1)
        return int(((avg > 0.1) & ~np.eye(n, dtype=bool)).sum())
    if key == "pattern_class":
        return int(patterns.classify_patterns(statistics.head_statistics_for(r)).value_counts().max())
    if key == "top_word_share":
        return head.mean(axis=0)[views.content_mask(r)].max()
    if key == "rollout_top":
        return lenses.rollout(r.attention, causal=r.causal)[-1][q].max()
    if key == "raw_last_top":
        return a[-1, H, q].max()
    if key == "generating_mask":  # the cells a causal mask allows: key <= query
        return int((np.arange(n)[None, :] <= np.arange(n)[:, None]).sum())
    raise AssertionError(f"no recomputation for notice {key!r}")


def _shown(value) -> list[str]:
    """How a number may appear in a notice's text."""
    if isinstance(value, (int, np.integer)):
        return [f"{int(value):,}", str(int(value))]
    v = float(value)
    out = [notices.pct(v), notices.weight(v), f"{v:.1f}"]
    return out


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("step", steps.IDS)
def test_every_notice_number_is_computed_from_the_result(cases, case, step) -> None:
    ctx = cases[case]
    found = notices.notices_for(step, ctx)
    assert found or step == "sentences" and not ctx.examples
    for notice in found:
        assert notice.text and notice.key
        if notice.value is None:
            continue
        want = expected(notice.key, ctx)
        if isinstance(notice.value, tuple):
            assert np.allclose(notice.value, want, atol=1e-5), (notice.key, notice.value, want)
            for v in notice.value:
                assert notices.pct(v) in notice.text, (notice.text, v)
            continue
        assert np.isclose(float(notice.value), float(want), atol=1e-5), (case, notice.key, notice.value, want)
        assert any(s in notice.text for s in _shown(notice.value)), (notice.text, notice.value)


def test_the_notebooks_example_reads_as_the_notebook(cases) -> None:
    r = cases["encoder"].result
    assert r.display_tokens[views.tutorial_query(r)] == "mat"
    assert views.panel_layers(6) == (0, 2, 5)  # the notebook's [0, 2, 5]
    assert views.panel_layers(1) == (0,) and views.panel_layers(2) == (0, 1)


def _data_shown(question: questions.Question, ctx: StepContext) -> np.ndarray:
    """The values of the chart each question is about, recomputed from the result."""
    r = ctx.result
    a = np.asarray(r.attention, dtype=np.float64)
    q = views.tutorial_query(r)
    keys = np.flatnonzero(r.allowed_mask()[q])
    if question.key == "head_row":
        return a[ctx.layer, ctx.head, q, keys]
    if question.key == "layer_column":
        return a[ctx.layer].mean(axis=0).mean(axis=0)
    if question.key == "yours_column":
        return a[ctx.layer, ctx.head].mean(axis=0)
    if question.key == "sentences":
        return np.array([ex.head(ctx.layer, ctx.head)[_offdiag_allowed(ex)].max() for ex in ctx.examples.values()])
    if question.key == "across_focus":
        return a[:, ctx.head].max(axis=-1).mean(axis=-1)
    if question.key == "categories":
        _, counts = notices.compare.category_breakdown(r, notices.PATTERN_THRESHOLD, notices.PATTERN_MODE)
        return np.array([counts[c].sum() for c in patterns.CATEGORIES], dtype=np.float64)
    if question.key == "rollout_row":
        return lenses.rollout(r.attention, causal=r.causal)[-1][q, keys]
    raise AssertionError(question.key)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("step", steps.IDS)
def test_every_answer_is_the_argmax_of_the_data_shown(cases, case, step) -> None:
    ctx = cases[case]
    question = questions.question_for(step, ctx)
    if question is None:
        assert step in ("model", "tokens", "bertviz", "generating") or step == "matters" and ctx.evidence is None
        return
    shown = _data_shown(question, ctx)
    assert np.allclose(question.scores, shown, atol=1e-6), (step, question.scores, shown)
    assert question.answer == int(np.argmax(shown))
    assert len(set(question.options)) == len(question.options)  # each option can be told apart
    assert question.answer_label in question.why or question.key in ("across_focus", "categories", "sentences")
    assert question.verdict(question.answer_label).startswith("Right")
    wrong = [o for o in question.options if o != question.answer_label]
    if wrong:
        assert question.verdict(wrong[0]).startswith("Not quite")


def test_a_tie_is_said_in_the_why() -> None:
    q = questions.make("t", "Which?", ["a", "b", "c"], [0.2, 0.4, 0.4], "Because.", "share")
    assert q.answer == 1 and "Tied with ‘c’" in q.why


def _chart_rows(chart) -> list[dict]:
    spec = vega.chart_spec(chart)
    return max(spec.get("datasets", {}).values(), key=len)


@pytest.mark.parametrize("case", CASES)
def test_the_head_and_rollout_charts_draw_the_rows_the_questions_ask_about(cases, case) -> None:
    ctx = cases[case]
    q = views.tutorial_query(ctx.result)
    for step in ("head", "extensions"):
        question = questions.question_for(step, ctx)
        rows = [row for row in _chart_rows(figures.figure(step, ctx).charts[0]) if row["query_pos"] == q]
        drawn = {row["key_pos"]: row["weight"] for row in rows if row.get("allowed", True)}
        best = max(drawn, key=drawn.get)
        assert views.option_labels(ctx.result.display_tokens)[best] == question.answer_label, (step, drawn)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("step", steps.IDS)
def test_every_step_builds_its_figure(cases, case, step) -> None:
    ctx = cases[case]
    fig = figures.figure(step, ctx, cell_px=lambda n, annotate=False, share=1.0: 60)
    for chart in fig.charts:
        assert vega.chart_spec(chart)  # valid Vega-Lite (the schema is checked)
    assert fig.charts or fig.lines


def _hand_result(n: int, layers: int = 1, heads: int = 2, causal: bool = False, special: bool = True) -> AttentionResult:
    toks = (["[CLS]"] if special else []) + ["tok"] * max(0, n - 2 * special) + (["[SEP]"] if special else [])
    toks = toks[:n] if n else []
    info = ModelInfo(model_id="hand", display_name="Hand", model_type="bert", num_layers=layers, num_heads=heads,
                     hidden_size=8, vocab_size=10, max_positions=64, num_parameters=1000, causal=causal,
                     device="cpu", source="test")
    mask = np.array([t in ("[CLS]", "[SEP]") for t in toks])
    return AttentionResult(model_id="hand", text="tok", text_pair=None, max_tokens=64, tokens=tuple(toks),
                           display_tokens=tuple(toks), token_ids=tuple(range(n)),
                           attention=random_attention(n, layers, heads, causal=causal),
                           special_mask=mask, word_ids=tuple(None if s else i for i, s in enumerate(mask)),
                           segment_ids=np.zeros(n, dtype=np.int8), causal=causal, truncated_tokens=0, info=info)


@pytest.mark.parametrize("shape", [dict(n=3), dict(n=1, special=False), dict(n=2, special=False, causal=True),
                                   dict(n=4, layers=1, heads=1), dict(n=5, causal=True, special=False)])
def test_edge_cases_never_fail(shape) -> None:
    res = _hand_result(**shape)
    ctx = StepContext(res, 0, 0, {"Only": res})
    for step in steps.IDS:
        notices.notices_for(step, ctx)
        questions.question_for(step, ctx)
        figures.figure(step, ctx)


# --- the step table ------------------------------------------------------------------------------

def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_steps_follow_the_notebook_and_every_door_opens_a_page() -> None:
    assert steps.IDS == ("model", "tokens", "head", "layer", "bertviz", "sentences", "across", "patterns", "yours",
                         "matters", "generating", "extensions")
    pages = {row.name for row in page_table.PAGES}
    for step in steps.STEPS:
        assert 2 <= sum(_sentences(p) for p in step.intro) <= 4, step.id
        for door in step.doors:
            assert door.optional or door.page in pages, (step.id, door.page)
        for term in step.terms:
            assert term in glossary.BY_ID, (step.id, term)
    assert steps.neighbours("model") == (None, "tokens")
    assert steps.neighbours("extensions") == ("generating", None)


def test_extensions_open_rollout_compare_and_probing() -> None:
    doors = {d.page for d in steps.by_id("extensions").doors}
    assert {"rollout_flow", "compare", "probing"} <= doors


# --- the glossary ---------------------------------------------------------------------------------

def _method_anchors() -> set[str]:
    text = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    heads = re.findall(r"^#{2,4}\s+(.*\S)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_term_has_plain_words_an_example_and_a_real_method_note() -> None:
    anchors = _method_anchors()
    seen = set()
    for term in glossary.TERMS:
        assert term.anchor not in seen
        seen.add(term.anchor)
        example = term.example()
        assert isinstance(example, str) and len(example) > 20
        assert "$" not in term.plain + example  # Streamlit would read it as LaTeX
        if term.methods:
            assert term.methods in anchors, (term.id, term.methods)
    for wanted in ["query", "key", "head", "layer", "special_tokens", "entropy", "rollout", "flow", "norm_based",
                   "pattern_classes", "template_score", "word_merge", "sink"]:
        assert wanted in glossary.BY_ID


def test_glossary_examples_are_computed_by_the_app() -> None:
    assert "1.00" in glossary.term("entropy").example() and "0.12" in glossary.term("entropy").example()
    assert "unbelievable" in glossary.term("word_merge").example()
    assert "0.69" in glossary.term("jensen_shannon").example()


def test_generation_glossary_examples_agree_with_the_sampler() -> None:
    """The glossary follows docs/methods.md with numpy (core.generate is a peer layer): the same
    numbers and draws as core.generate.sampling."""
    from core.generate import sampling
    from core.generate.settings import Settings

    z = glossary._TOY_LOGITS
    assert f"{sampling.softmax(z, 0.5)[0]:.0%} at 0.5" in glossary.term("temperature").example()
    k2 = sampling.distribution(z, Settings.make("top_k", 1.0, k=2))
    p8 = sampling.distribution(z, Settings.make("top_p", 1.0, p=0.8))
    assert f"‘mat’ {k2[0]:.0%} and ‘rug’ {k2[1]:.0%}" in glossary.term("sampling").example()
    assert f"({int((p8 > 0).sum())} tokens)" in glossary.term("sampling").example()
    for seed in (0, 2):
        settings = Settings.make("top_k", 1.0, k=3, seed=seed)
        drawn = ", ".join(glossary.TOY_NEXT[sampling.choose(z, settings, step)[0]] for step in range(3))
        assert f"seed {seed} gives {drawn}" in glossary.term("seed").example()


# --- the "matters" step: the model's own output, from core.explain --------------------------------

def _evidence(loaded, text: str) -> views.OutputEvidence:
    """The step's numbers, recomputed here from core.explain (rollout of the output's row, blank-out)."""
    from core.explain.attribution import blank_out
    from core.explain.lenses import lens_importance
    from core.explain.outputs import resolve

    problem = resolve(loaded, text)
    s, words = problem.sentence, problem.candidate_words
    found = lens_importance(loaded, problem, with_flow=False, with_norm=False)
    return views.OutputEvidence(words=tuple(s.words[w] for w in words), attended=s.merge(found.rollout[-1])[words],
                                raw_last=s.merge(found.raw[-1])[words],
                                blank_out=np.asarray(blank_out(loaded, problem, words), dtype=np.float64),
                                output="the output")


@pytest.fixture(scope="module")
def matters_cases(bundled_model) -> list[StepContext]:
    from tests.tiny_models import with_heads_once

    out = []
    for loaded, text in ((bundled_model, SENTENCE), (with_heads_once()["bert"], SENTENCE),
                         (with_heads_once()["gpt2"], "the cat sat on the mat")):
        out.append(StepContext(extract(loaded, text), 0, 0, evidence=_evidence(loaded, text)))
    return out


def test_the_matters_step_answers_from_the_sentences_own_numbers(matters_cases) -> None:
    for ctx in matters_cases:
        ev = ctx.evidence
        attended, needed = int(np.argmax(ev.attended)), int(np.argmax(ev.blank_out))
        question = questions.question_for("matters", ctx)
        assert question.answer_label == ("Yes, the same word" if attended == needed else "No, another word")
        assert question.verdict(question.answer_label).startswith("Right")
        assert question.verdict([o for o in question.options if o != question.answer_label][0]).startswith("Not quite")
        assert views.option_labels(ev.words)[needed] in question.why
        values = {n.key: n.value for n in notices.notices_for("matters", ctx)}
        assert np.isclose(values["matters_attended"], ev.attended.max())
        assert np.isclose(values["matters_raw_last"], ev.raw_last.max())
        assert np.isclose(values["matters_blank_out"], ev.blank_out.max())
        ranks = [np.argsort(np.argsort(v)) for v in (ev.attended, ev.blank_out)]
        if "matters_rho" in values:
            assert np.isclose(values["matters_rho"], np.corrcoef(*ranks)[0, 1], atol=1e-6)
        spec = vega.chart_spec(figures.figure("matters", ctx).charts[0])
        assert spec["description"].startswith("Two bar charts")


def test_the_matters_step_without_an_output_says_why(cases) -> None:
    ctx = StepContext(cases["encoder"].result, 0, 0, no_evidence="Model 'x' has no output head.")
    assert questions.question_for("matters", ctx) is None
    assert notices.notices_for("matters", ctx)[0].text == "Model 'x' has no output head."
    assert figures.figure("matters", ctx).lines == ["Model 'x' has no output head."]


# --- the generating step on a model that cannot generate ------------------------------------------

def test_the_generating_step_without_a_causal_model_draws_the_causal_mask(cases) -> None:
    res = cases["encoder"].result
    why = "'x' cannot generate text: it is a sentence-embedding model. Choose a causal language model."
    ctx = StepContext(res, 0, 0, no_generation=why)
    fig = figures.figure("generating", ctx)
    assert len(fig.charts) == 1 and fig.lines == [why, figures.GET_A_CAUSAL_MODEL]
    assert "model_kit.py --models generation" in figures.GET_A_CAUSAL_MODEL
    spec = vega.chart_spec(fig.charts[0])
    cells = [row for rows in spec["datasets"].values() for row in rows
             if isinstance(row, dict) and {"query_pos", "key_pos", "weight"} <= row.keys()]
    n = res.n_tokens
    assert len(cells) == n * n
    assert all(row["weight"] == (1.0 if row["key_pos"] <= row["query_pos"] else 0.0) for row in cells)
    found = {x.key: x.value for x in notices.notices_for("generating", ctx)}
    assert found == {"generating_none": None, "generating_mask": n * (n + 1) // 2, "generating_how": None}
    assert questions.question_for("generating", ctx) is None


# --- presenter sizes --------------------------------------------------------------------------------

def _presenter_cells(n: int, annotate: bool = False, share: float = 1.0) -> int:
    from core.tutorial import slides

    return slides.cell_px(n, int(slides.SCREEN_GRID_PX * share) if share < 1 else slides.SCREEN_PLOT_PX,
                          annotate=annotate)


@pytest.mark.parametrize("n", [3, 5, 10, 15, 20, 30, 80])
@pytest.mark.parametrize("panels", [1, 3, 6, 12])
def test_grid_panels_fit_the_column_in_presenter_mode(n, panels) -> None:
    columns, size = figures.grid_layout(n, panels, _presenter_cells)
    assert 1 <= columns <= min(3, panels) and size is not None
    assert columns * (n * size + figures.PANEL_GAP_PX) <= figures.GRID_FIT_PX
    if columns < min(3, panels):  # it wrapped: one more panel a row would not have fitted
        assert (columns + 1) * (n * size + figures.PANEL_GAP_PX) > figures.GRID_FIT_PX
    assert figures.grid_layout(n, panels) == (min(3, panels), None)  # laptop: the builder's sizes


def test_the_sentence_chart_is_titled_by_sentence(cases) -> None:
    spec = vega.chart_spec(figures.figure("sentences", cases["encoder"]).charts[0])
    x = spec["layer"][0]["encoding"]["x"]
    assert x["title"] == "Sentence"
    assert [t["title"] for t in spec["layer"][0]["encoding"]["tooltip"]][0] == "Sentence"
