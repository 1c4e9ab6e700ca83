"""Norm-based attention (Kobayashi et al., EMNLP 2020): exactness and the qualitative finding.

The reference is computed on a private deepcopy of each model with forward hooks on the copy
(the shared model never gets a hook): the attention output projection's real output must equal
sum_h sum_j A^h[i,j] f^h(x_j) + b_O at every row.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from core.analysis import norms, tokens
from core.attention.extract import effective_max_tokens, extract, has_type_ids, tokenize
from core.errors import AttentionDashboardError, EmptyTextError
from core.models.loading import LoadedModel
from tests.sentences import TUTORIAL_SENTENCES



def _layers_and_projections(model, model_type: str):
    base = getattr(model, "base_model", model)
    if model_type in {"bert", "roberta"}:
        return list(base.encoder.layer), [layer.attention.output.dense for layer in base.encoder.layer]
    if model_type == "distilbert":
        return list(base.transformer.layer), [layer.attention.out_lin for layer in base.transformer.layer]
    if model_type == "gpt2":
        return list(base.h), [block.attn.c_proj for block in base.h]
    raise AssertionError(model_type)


def reference(loaded: LoadedModel, text: str, pair: str | None = None):
    """(copy, layer inputs [L] of [n, d], projection outputs [L] of [n, d]) from hooks on a copy."""
    model = copy.deepcopy(loaded.model)  # private: hooks go on the copy, never on the shared model
    layers, projections = _layers_and_projections(model, loaded.info.model_type)
    inputs_seen: list[torch.Tensor] = []
    outputs_seen: list[torch.Tensor] = []

    def pre_hook(_module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        inputs_seen.append(x[0].detach().clone())

    def out_hook(_module, _args, output):
        outputs_seen.append(output[0].detach().clone())

    handles = [layer.register_forward_pre_hook(pre_hook, with_kwargs=True) for layer in layers]
    handles += [proj.register_forward_hook(out_hook) for proj in projections]
    try:
        limit = effective_max_tokens(loaded.info, loaded.tokenizer, None)
        enc, _ = tokenize(loaded, text, pair, limit)
        names = [k for k in loaded.tokenizer.model_input_names if k in enc]
        if not has_type_ids(loaded):
            names = [k for k in names if k != "token_type_ids"]
        with torch.inference_mode():
            model(**{k: enc[k] for k in names})
    finally:
        for h in handles:
            h.remove()
    assert len(inputs_seen) == len(layers) == len(outputs_seen)
    return model, inputs_seen, outputs_seen


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def check_exactness(loaded: LoadedModel, text: str, pair: str | None = None) -> None:
    extract(loaded, text, pair)  # warm-up: transformers installs its own output recorders once
    hooks_before = _hook_count(loaded.model)
    params_before = [p.detach().clone() for p in loaded.model.parameters()]
    result = norms.norm_based(loaded, text, pair)
    assert _hook_count(loaded.model) == hooks_before  # norm_based installs nothing on the shared model
    assert all(torch.equal(a, b) for a, b in zip(params_before, loaded.model.parameters()))

    plain = extract(loaded, text, pair)
    assert result.tokens == plain.tokens  # tokenised exactly as extract does
    np.testing.assert_allclose(result.attention, plain.attention, atol=1e-5)
    n_layers, n_heads, n, _ = result.per_head.shape
    assert (n_layers, n_heads) == (loaded.info.num_layers, loaded.info.num_heads)
    assert result.per_layer.shape == (n_layers, n, n) and result.value_norms.shape == (n_layers, n_heads, n)

    model, xs, projected = reference(loaded, text, pair)
    for layer in range(n_layers):
        lw = norms.layer_weights(model, loaded.info.model_type, layer)
        with torch.inference_mode():
            f = norms.head_transformed_values(xs[layer], lw, n_heads).double().numpy()  # [H, n, d]
        a = result.attention[layer].astype(np.float64)  # [H, n, n]
        mixed = np.einsum("hij,hjd->ijd", a, f)  # [n, n, d]: sum over heads, per (i, j)
        rebuilt = mixed.sum(axis=1) + result.output_bias[layer]  # sum_j, + b_O
        real = projected[layer].double().numpy()
        scale = max(1.0, float(np.abs(real).max()))
        np.testing.assert_allclose(rebuilt, real, atol=2e-4 * scale, rtol=0,
                                   err_msg=f"{loaded.info.model_id} layer {layer}")
        norms_f = np.linalg.norm(f, axis=-1)
        np.testing.assert_allclose(result.value_norms[layer], norms_f, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.per_head[layer], a * norms_f[:, None, :], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.per_layer[layer], np.linalg.norm(mixed, axis=-1), rtol=1e-3,
                                   atol=1e-4 * scale)
        # triangle inequality: the layer norm never exceeds the sum of the head norms
        assert np.all(result.per_layer[layer] <= result.per_head[layer].sum(axis=0) * (1 + 1e-4) + 1e-5)
    assert not result.per_head.flags.writeable and not result.per_layer.flags.writeable


def test_exactness_bundled_model(bundled_model):
    check_exactness(bundled_model, "The cat that I love sat on the mat.")


def test_exactness_bundled_model_sentence_pair(bundled_model):
    check_exactness(bundled_model, "The cat sat on the mat.", "It was sleeping.")


@pytest.mark.parametrize("name", ["distilbert", "bert", "roberta", "gpt2"])
def test_exactness_tiny_models(tiny_models, name):
    check_exactness(tiny_models[name], "The quick brown fox jumps over the lazy dog.")


def test_exactness_tiny_pairs(tiny_bert, tiny_roberta):
    check_exactness(tiny_bert, "The cat sat.", "A dog barked.")
    check_exactness(tiny_roberta, "The cat sat.", "A dog barked.")


def test_causal_norms_stay_causal(tiny_gpt2):
    result = norms.norm_based(tiny_gpt2, "Language models predict the next word.")
    assert result.causal
    upper = np.triu(np.ones(result.per_layer.shape[-2:], dtype=bool), k=1)
    assert np.abs(result.per_head[..., upper]).max() < 1e-6
    assert np.abs(result.per_layer[..., upper]).max() < 1e-6


def test_max_tokens_and_empty_text(bundled_model):
    long_text = " ".join(["The cat sat on the mat."] * 10)
    result = norms.norm_based(bundled_model, long_text, max_tokens=16)
    assert result.n_tokens == 16 == extract(bundled_model, long_text, max_tokens=16).n_tokens
    with pytest.raises(EmptyTextError):
        norms.norm_based(bundled_model, "   ")


def test_unsupported_architecture_has_a_clear_error(tiny_bert):
    info = dataclasses.replace(tiny_bert.info, model_type="llama")
    fake = LoadedModel(info=info, tokenizer=tiny_bert.tokenizer, model=tiny_bert.model)
    assert not norms.supports(fake) and norms.supports(tiny_bert)
    with pytest.raises(AttentionDashboardError) as err:
        norms.norm_based(fake, "The cat sat.")
    assert isinstance(err.value, norms.NormsUnsupportedError)
    assert "llama" in str(err.value) and "bert" in str(err.value)


def test_special_and_punctuation_lose_share_under_norms(bundled_model):
    """Kobayashi et al. 2020: [CLS]/[SEP]/punctuation get high weights but small ||f(x)||."""
    lower, ratios = [], []
    for sentence in TUTORIAL_SENTENCES:
        result = norms.norm_based(bundled_model, sentence)
        labels = extract(bundled_model, sentence).display_tokens
        mask = np.asarray(result.special_mask) | tokens.punctuation_mask(labels, result.special_mask)
        table = norms.weight_vs_norm_share(result, mask)
        assert len(table) == 72
        lower.append((table["norm_share"] < table["weight_share"]).mean())
        ratios.append(table["ratio"].median())
        # their value vectors are short: mean ||f|| on the set is below that on content tokens
        vn = result.value_norms
        assert vn[..., mask].mean() < vn[..., ~mask].mean()
    assert min(lower) >= 0.75, lower  # "most heads"
    assert max(ratios) < 0.75, ratios  # typically less than half the weight share


def test_row_shares():
    m = np.array([[1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(norms.row_shares(m), [[0.25, 0.75], [0.0, 0.0]])
