"""core.explain.attribution / lenses / faithfulness: integrated gradients' completeness, blank-out
equal to a direct masked forward, lenses equal to core.analysis, Spearman in closed form, the
corpus run's progress and cancel, and the command line."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.analysis.lenses import attention_flow, head_average, rollout
from core.explain.attribution import (baseline_ids, blank_out, gradient_x_input, integrated_gradients,
                                      token_attribution)
from core.explain.faithfulness import (PAPER_TABLE1, corpus_faithfulness, reading, sentence_faithfulness,
                                       spearman)
from core.explain.lenses import flow_by_layer, lens_importance, _flow_networkx
from core.explain.outputs import Target, resolve
from tests.tiny_models import with_heads_once

TEXT = "The cat that I love sat on the mat."


@pytest.fixture(scope="module")
def lm_models():
    return with_heads_once()


@pytest.mark.parametrize("family", ["bert", "roberta", "gpt2"])
def test_integrated_gradients_completeness_within_one_percent_at_50_steps(lm_models, family):
    problem = resolve(lm_models[family], TEXT)
    ig = integrated_gradients(lm_models[family], problem, steps=50)
    assert abs(ig.score - ig.baseline_score) > 0.05  # a difference worth attributing
    assert abs(ig.tokens.sum() - (ig.score - ig.baseline_score)) <= 0.01 * abs(ig.score - ig.baseline_score)
    assert ig.relative_error <= 0.01


@pytest.mark.parametrize("compare_to", [None, "A dog slept on the rug."])
def test_integrated_gradients_completeness_on_the_bundled_embedding(bundled_model, compare_to):
    problem = resolve(bundled_model, TEXT, Target(compare_to=compare_to))
    ig = integrated_gradients(bundled_model, problem, steps=50)
    assert abs(ig.tokens.sum() - (ig.score - ig.baseline_score)) <= 0.01 * abs(ig.score - ig.baseline_score)


@pytest.mark.parametrize("family,token", [("bert", "pad_token_id"), ("roberta", "mask_token_id")])
def test_the_baseline_is_pad_except_specials_and_masked_positions(lm_models, family, token):
    """RoBERTa numbers positions from the non-padding tokens: its baseline is <mask>, not <pad>."""
    loaded = lm_models[family]
    problem = resolve(loaded, TEXT, Target(word=2))
    base = baseline_ids(loaded, problem)
    keep = problem.sentence.special_mask.copy()
    keep[list(problem.masked_positions)] = True
    assert (base[keep] == problem.input_ids[keep]).all()
    assert (base[~keep] == getattr(loaded.tokenizer, token)).all()


def test_gradient_x_input_equals_autograd_by_hand(lm_models):
    import torch

    loaded = lm_models["distilbert"]
    problem = resolve(loaded, TEXT)
    got = gradient_x_input(loaded, problem)
    emb = loaded.model.get_input_embeddings()(torch.tensor(problem.input_ids)[None]).detach().requires_grad_(True)
    with torch.enable_grad():
        logits = loaded.lm(inputs_embeds=emb).logits[0, problem.focus]
        torch.log_softmax(logits, -1)[problem.target_id].backward()
    np.testing.assert_allclose(got, (emb * emb.grad).sum(-1)[0].detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_blank_out_equals_a_direct_masked_forward(lm_models, family):
    import torch

    loaded = lm_models[family]
    problem = resolve(loaded, TEXT)
    words = problem.candidate_words
    got = blank_out(loaded, problem, words)
    blank = loaded.tokenizer.mask_token_id if loaded.tokenizer.mask_token_id is not None else loaded.tokenizer.unk_token_id

    def f(ids):
        with torch.inference_mode():
            logits = loaded.lm(input_ids=torch.tensor(ids)[None]).logits[0, problem.focus].double()
        return float(torch.log_softmax(logits, -1)[problem.target_id])

    for k, w in enumerate(words):
        ids = problem.input_ids.copy()
        ids[list(problem.sentence.word_tokens[w])] = blank
        assert got[k] == pytest.approx(f(problem.input_ids) - f(ids), abs=1e-4)
    if family == "gpt2":  # a causal prediction cannot depend on later words: they are not scored
        assert all(problem.sentence.word_tokens[w][0] <= problem.focus for w in words)


def test_lenses_equal_core_analysis_for_one_query(lm_models, bundled_model):
    loaded = lm_models["bert"]
    problem = resolve(loaded, TEXT)
    lenses = lens_importance(loaded, problem)
    q = problem.focus
    np.testing.assert_allclose(lenses.raw, head_average(problem.attention)[:, q], atol=1e-6)
    np.testing.assert_allclose(lenses.rollout, rollout(problem.attention)[:, q], atol=1e-6)
    for layer in range(problem.attention.shape[0]):
        np.testing.assert_allclose(lenses.flow[layer], attention_flow(problem.attention, q, layer), atol=1e-5)
    np.testing.assert_allclose(lenses.norm.sum(-1), 1.0, atol=1e-5)
    emb = resolve(bundled_model, TEXT)  # pooled output: every row weighs 1/n
    r = np.full(emb.attention.shape[-1], 1.0 / emb.attention.shape[-1])
    np.testing.assert_allclose(flow_by_layer(emb.attention, r, False), _flow_networkx(emb.attention, r, False),
                               atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_flow_solved_in_joined_copies_equals_one_problem_at_a_time(causal):
    """24 tokens x 6 layers = 144 problems: more than one call's worth of copies."""
    rng = np.random.default_rng(3)
    n = 24
    att = rng.random((6, 2, n, n))
    if causal:
        att = np.tril(att)
    att /= att.sum(-1, keepdims=True)
    r = np.eye(n)[n - 4] if causal else np.full(n, 1.0 / n)
    np.testing.assert_allclose(flow_by_layer(att, r, causal), _flow_networkx(att, r, causal), atol=1e-6)


def test_attribution_table_has_every_method_side_by_side(lm_models):
    loaded = lm_models["roberta"]
    attr = token_attribution(loaded, resolve(loaded, TEXT), ig_steps=16)
    table = attr.table()
    assert list(table["word"]) == list(attr.labels)
    assert "mat" not in attr.labels  # the masked target is not scored
    for name in ("gradient x input", "integrated gradients", "blank-out", "raw L1", "raw L2", "rollout", "flow", "norm"):
        assert name in attr.methods and f"{name} rank" in table
        assert sorted(table[f"{name} rank"]) == list(range(1, len(attr.labels) + 1))


def test_spearman_in_closed_form():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(1 - 6 * 4 / (5 * 24))  # 1 - 6 sum d^2 / n(n^2-1)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 12), rng.normal(size=12)  # with ties
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_paper_table_one_as_data():
    assert PAPER_TABLE1["raw"] == (0.69, 0.10, -0.11, -0.09, 0.20, 0.29)
    assert PAPER_TABLE1["rollout"] == (0.32, 0.38, 0.51, 0.62, 0.70, 0.71)
    assert PAPER_TABLE1["flow"] == (0.32, 0.44, 0.70, 0.70, 0.71, 0.70)


def test_sentence_faithfulness_is_perfect_when_a_lens_is_the_reference(lm_models):
    loaded = lm_models["bert"]
    problem = resolve(loaded, TEXT)
    result = sentence_faithfulness(loaded, problem)
    assert result.rho.shape == (4, 2, 2) and np.isfinite(result.rho).all()
    # the correlation of blank-out with itself through the same code path
    assert spearman(result.blank_out, result.blank_out) == pytest.approx(1.0)


def test_corpus_run_reports_progress_and_stops_when_cancelled(lm_models):
    loaded = lm_models["gpt2"]
    texts = [TEXT, "Birds sing in the trees every spring.", "Hi", "Water boils at one hundred degrees."]
    calls = []
    result = corpus_faithfulness(loaded, texts, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (4, 4) and result.n_done == 4 and not result.cancelled
    assert result.n_used == 3 and len(result.skipped) == 1 and "fewer than 3 words" in result.skipped[0]
    assert result.per_sentence.shape == (3, 4, 2, 2)
    np.testing.assert_allclose(result.mean, np.nanmean(result.per_sentence, axis=0), atol=1e-6)
    table = result.table()
    assert set(table["paper"].dropna()) <= set(PAPER_TABLE1["raw"] + PAPER_TABLE1["rollout"] + PAPER_TABLE1["flow"])
    assert "sentences" in reading(result)
    cancel = threading.Event()
    stopped = corpus_faithfulness(loaded, texts * 3, progress=lambda done, total: cancel.set(), cancel=cancel)
    assert stopped.cancelled and stopped.n_done < 12


def test_command_line(capsys):
    from core.explain.__main__ import main

    assert main(["faithfulness", "--model", "all-MiniLM-L6-v2", "--builtin", "tutorial", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 of 6 sentences" in out and "rollout" in out and "Abnar & Zuidema" in out
    assert main(["attribute", "--model", "all-MiniLM-L6-v2", "--text", "   "]) == 2
    assert "The text is empty" in capsys.readouterr().err
