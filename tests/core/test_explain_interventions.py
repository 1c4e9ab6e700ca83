"""core.explain.hooks / interventions / importance: head ablation equals a hand-written forward,
a whole layer's heads equal removing its attention output, the shared model is never changed,
and concurrent sessions never see each other's edits."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.explain.errors import NothingLeftError, OutOfRangeError, SpecialTokenError, TargetWordError
from core.explain.hooks import HeadEdit, model_inputs, output_projections, private_forward
from core.explain.importance import gradient_grid, head_importance
from core.explain.interventions import Intervention, head_means, intervene, keep_mask
from core.explain.outputs import Target, resolve
from tests.tiny_models import with_heads_once

TEXT = "The cat that I love sat on the mat."


@pytest.fixture(scope="module")
def lm_models():
    return with_heads_once()


def _reference_bert(model, ids, ablate, fill=None):
    """BERT's encoder written out by hand (eval mode, no padding), with head contexts replaced."""
    import torch

    emb = model.embeddings
    n = ids.shape[-1]
    x = emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(n)) + emb.token_type_embeddings(
        torch.zeros(n, dtype=torch.long))
    x = emb.LayerNorm(x)
    heads = model.config.num_attention_heads
    d = model.config.hidden_size // heads
    for layer_index, layer in enumerate(model.encoder.layer):
        sa = layer.attention.self

        def split(t):
            return t.view(n, heads, d).transpose(0, 1)  # [H, n, d]

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        z = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5, dim=-1) @ v
        for h in ablate.get(layer_index, ()):
            z[h] = 0.0 if fill is None else torch.tensor(fill[layer_index, h])
        ctx = z.transpose(0, 1).reshape(n, heads * d)
        out = layer.attention.output
        x = out.LayerNorm(out.dense(ctx) + x)
        x = layer.output.LayerNorm(layer.output.dense(layer.intermediate.intermediate_act_fn(
            layer.intermediate.dense(x))) + x)
    return x


def _hooked_hidden(loaded, ids, edit):
    with private_forward(loaded, edit, work_tokens=ids.shape[-1]):
        return loaded.model(**model_inputs(loaded, ids[None]), return_dict=True).last_hidden_state[0]


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_hook_ablation_equals_a_hand_written_forward(lm_models, mode):
    import torch

    loaded = lm_models["bert"]
    ids = torch.tensor(loaded.tokenizer(TEXT)["input_ids"])
    ablate = {0: (1,), 1: (0,)}
    means = head_means(loaded) if mode == "mean" else None
    with torch.inference_mode():
        ref_plain = _reference_bert(loaded.model, ids, {})
        ref = _reference_bert(loaded.model, ids, ablate, None if means is None else means.means)
    plain = _hooked_hidden(loaded, ids, None)
    keep = keep_mask(loaded, [(0, 1), (1, 0)])
    fill = None if means is None else torch.tensor(means.means)
    got = _hooked_hidden(loaded, ids, HeadEdit(keep=keep, fill=fill))
    np.testing.assert_allclose(plain.numpy(), ref_plain.numpy(), atol=1e-5)  # the reference is BERT
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5)
    assert np.abs(got.numpy() - plain.numpy()).max() > 1e-3  # and the ablation changed something


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta", "gpt2"])
def test_ablating_a_whole_layer_equals_removing_its_attention_output(lm_models, family):
    """W_O z + b_O with every z_h = 0 is b_O: the same as replacing the projection's output by its bias."""
    import torch

    loaded = lm_models[family]
    ids = torch.tensor(loaded.tokenizer(TEXT)["input_ids"])
    layer = 1
    heads = [(layer, h) for h in range(loaded.info.num_heads)]
    projection = output_projections(loaded)[layer]
    handle = projection.register_forward_hook(lambda module, args, out: module.bias.expand_as(out))
    try:
        with torch.inference_mode():
            reference = loaded.lm(**model_inputs(loaded, ids[None])).logits[0]
    finally:
        handle.remove()
    with private_forward(loaded, HeadEdit(keep=keep_mask(loaded, heads)), work_tokens=len(ids)):
        got = loaded.lm(**model_inputs(loaded, ids[None])).logits[0]
    np.testing.assert_allclose(got.numpy(), reference.numpy(), atol=1e-5)


def test_the_shared_model_is_left_unchanged(lm_models):
    loaded = lm_models["bert"]

    def hooks():
        return [(len(m._forward_pre_hooks), len(m._forward_hooks)) for m in loaded.lm.modules()]

    problem = resolve(loaded, TEXT)  # transformers installs its own attention-capturing hooks on first use
    before = hooks()
    intervene(loaded, problem, Intervention(heads=((0, 0),), mode="mean"))
    head_importance(loaded, problem)
    with pytest.raises(RuntimeError):
        with private_forward(loaded, HeadEdit(keep=keep_mask(loaded, [(0, 0)]))):
            raise RuntimeError("a failure inside the call")
    assert hooks() == before
    assert all(not m._forward_pre_hooks for m in output_projections(loaded))
    assert not loaded.lock.locked() and not loaded.lm.training
    assert resolve(loaded, TEXT).log_probs.tobytes() == problem.log_probs.tobytes()


def test_concurrent_threads_ablating_different_heads_never_see_each_other(lm_models):
    loaded = lm_models["gpt2"]
    problem = resolve(loaded, TEXT)
    choices = [((0, 0),), ((0, 1),), ((1, 0),), ((1, 1),), ()]
    alone = {c: intervene(loaded, problem, Intervention(heads=c)).score_after for c in choices}
    assert len(set(np.round(list(alone.values()), 6))) == len(choices)  # each edit moves the output differently
    seen: dict[tuple, list[float]] = {c: [] for c in choices}
    errors: list[BaseException] = []

    def work(c):
        try:
            for _ in range(15):
                seen[c].append(intervene(loaded, problem, Intervention(heads=c)).score_after)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in choices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for c in choices:
        np.testing.assert_allclose(seen[c], alone[c], atol=1e-6)


def test_batched_ablation_equals_one_head_at_a_time(lm_models):
    loaded = lm_models["distilbert"]
    problem = resolve(loaded, TEXT)
    imp = head_importance(loaded, problem, mode="mean")
    means = head_means(loaded)
    for layer in range(loaded.info.num_layers):
        for head in range(loaded.info.num_heads):
            one = intervene(loaded, problem, Intervention(heads=((layer, head),), mode="mean"), means=means)
            assert imp.ablation[layer, head] == pytest.approx(one.kl, abs=1e-5)
            assert imp.score_drop[layer, head] == pytest.approx(one.score_before - one.score_after, abs=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_michel_gradient_equals_a_finite_difference_of_the_gate(lm_models, family):
    import torch

    loaded = lm_models[family]
    problem = resolve(loaded, TEXT)
    grad = gradient_grid(loaded, problem)
    ids = torch.tensor(problem.input_ids)[None]
    eps = 1e-2

    def loss(gate):
        with private_forward(loaded, HeadEdit(gate=gate), work_tokens=ids.shape[1]):
            logits = loaded.lm(**model_inputs(loaded, ids)).logits[0, problem.focus].double()
            return -float(torch.log_softmax(logits, -1)[problem.target_id])

    for layer, head in [(0, 0), (1, 1)]:
        up, down = torch.ones(2, 2), torch.ones(2, 2)
        up[layer, head] += eps
        down[layer, head] -= eps
        assert grad[layer, head] == pytest.approx(abs(loss(up) - loss(down)) / (2 * eps), rel=2e-2, abs=1e-4)
    imp = head_importance(loaded, problem)
    np.testing.assert_allclose(np.linalg.norm(imp.gradient, axis=1), 1.0, rtol=1e-5)


def test_interventions_report_kl_ranks_and_attention_moves(lm_models, bundled_model):
    loaded = lm_models["bert"]
    problem = resolve(loaded, TEXT, Target(word=2))
    same = intervene(loaded, problem, Intervention())
    assert same.kl == pytest.approx(0.0, abs=1e-6) and np.abs(same.attention_shift).max() < 1e-6
    moved = intervene(loaded, problem, Intervention(heads=((0, 0),), mask_words=(5,)))
    assert moved.kl > 0 and moved.attention_shift.shape == (2, 2) and moved.top1_rank_after >= 1
    dropped = intervene(loaded, problem, Intervention(drop_words=(1,)))
    assert dropped.attention_after.shape[-1] == len(problem.input_ids) - 1
    assert dropped.focus == problem.focus - 1 and dropped.kept_positions.tolist().count(1) == 0
    np.testing.assert_allclose(dropped.attention_before.sum(-1), 1.0, atol=1e-5)
    emb = intervene(bundled_model, resolve(bundled_model, TEXT), Intervention(mask_words=(2,)))
    assert 0 < emb.cosine_to_original < 1 and np.isnan(emb.kl)


def test_bad_interventions_get_a_sentence(lm_models):
    loaded = lm_models["bert"]
    problem = resolve(loaded, TEXT, Target(word=2))
    every_head = tuple((layer, h) for layer in range(2) for h in range(2))
    with pytest.raises(NothingLeftError) as err:
        intervene(loaded, problem, Intervention(heads=every_head))
    assert "every head" in str(err.value)
    words = tuple(problem.sentence.content_words().tolist())
    with pytest.raises(NothingLeftError) as err:
        intervene(loaded, problem, Intervention(mask_words=tuple(w for w in words if w != 2)))
    assert "Every word" in str(err.value)
    with pytest.raises(NothingLeftError):
        intervene(loaded, problem, Intervention(drop_words=tuple(w for w in words if w != 2)))
    with pytest.raises(OutOfRangeError):
        intervene(loaded, problem, Intervention(heads=((2, 0),)))
    with pytest.raises(OutOfRangeError):
        intervene(loaded, problem, Intervention(mask_words=(40,)))
    with pytest.raises(SpecialTokenError):
        intervene(loaded, problem, Intervention(drop_words=(0,)))
    with pytest.raises(TargetWordError):
        intervene(loaded, problem, Intervention(drop_words=(2,)))
