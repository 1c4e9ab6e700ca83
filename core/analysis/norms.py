"""Norm-based attention (Kobayashi et al., "Attention is Not Only a Weight", EMNLP 2020).

A head's output at row i is sum_j A^h[i, j] f^h(x_j), where f^h(x) = (x W_V^h + b_V^h) W_O^h
is the value vector projected by head h's slice of the attention output projection. Weights
alone ignore ||f^h(x_j)||; this module reports

    per_head[l, h, i, j]  = A^h[i, j] * ||f^h(x_j)||                  # [layers, heads, n, n]
    per_layer[l, i, j]    = || sum_h A^h[i, j] f^h(x_j) ||             # [layers, n, n]
    value_norms[l, h, j]  = ||f^h(x_j)||                               # [layers, heads, n]

The output bias b_O is not included (docs/methods.md, section Norm-based attention).
Exactness: sum_h sum_j A^h[i,j] f^h(x_j) + b_O equals the attention output projection's output
at row i (tests check it). Computed in float32 with torch batched matmuls (torch.einsum is far
slower on CPU for these shapes).

The shared model is only READ: one forward with output_hidden_states/output_attentions under
`loaded.lock`, then the value and output-projection weights are applied to the captured
layer inputs. No hooks are installed by this module and nothing is stored on the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.attention.extract import cpu_threads_for, effective_max_tokens, has_type_ids, tokenize
from core.errors import EmptyTextError, NoAttentionError, NormsUnsupportedError
from core.models.loading import LoadedModel


SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "gpt2")


@dataclass(frozen=True, eq=False)
class NormResult:
    """Norm-based attention for one text. Arrays are float32 and read-only."""

    model_id: str
    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    special_mask: np.ndarray  # bool [n]
    causal: bool
    attention: np.ndarray  # [layers, heads, query, key]: the weights A of the same forward pass
    per_head: np.ndarray  # [layers, heads, query, key]: A^h[i,j] * ||f^h(x_j)||
    per_layer: np.ndarray  # [layers, query, key]: ||sum_h A^h[i,j] f^h(x_j)||
    value_norms: np.ndarray  # [layers, heads, key]: ||f^h(x_j)||
    output_bias: np.ndarray  # [layers, hidden]: b_O, for the exactness check

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.special_mask, self.attention, self.per_head, self.per_layer,
                                          self.value_norms, self.output_bias))) + 64 * self.n_tokens


@dataclass(frozen=True)
class _LayerWeights:
    """Linear-convention weights of one attention layer (y = x @ W.T + b)."""

    w_v: Any  # torch [H*d_h, d]
    b_v: Any  # torch [H*d_h]
    w_o: Any  # torch [d, H*d_h]
    b_o: Any  # torch [d]
    pre_norm: Any  # module applied to the layer input before attention (GPT-2's ln_1), or None


def _base(model: Any) -> Any:
    return getattr(model, "base_model", model)


def layer_weights(model: Any, model_type: str, layer: int) -> _LayerWeights:
    """W_V, b_V, W_O, b_O of one layer for Kobayashi et al. 2020's f^h(x), by `config.model_type`
    (module names checked against transformers 5.24):
    bert/roberta/xlm-roberta/camembert: encoder.layer[l].attention.self.value, .output.dense;
    distilbert: transformer.layer[l].attention.v_lin, .out_lin;
    gpt2: h[l].attn.c_attn (Conv1D [in, 3d], value = last third), .c_proj; input ln_1(x).
    """
    base = _base(model)
    if model_type in {"bert", "roberta", "xlm-roberta", "camembert"}:
        att = base.encoder.layer[layer].attention
        return _LayerWeights(att.self.value.weight, att.self.value.bias,
                             att.output.dense.weight, att.output.dense.bias, None)
    if model_type == "distilbert":
        att = base.transformer.layer[layer].attention
        return _LayerWeights(att.v_lin.weight, att.v_lin.bias, att.out_lin.weight, att.out_lin.bias, None)
    if model_type == "gpt2":
        block = base.h[layer]
        d = block.attn.embed_dim
        # Conv1D stores weight as [in, out] (y = x @ W + b); c_attn's output is [q | k | v]
        w_v = block.attn.c_attn.weight[:, 2 * d:3 * d].T
        b_v = block.attn.c_attn.bias[2 * d:3 * d]
        return _LayerWeights(w_v, b_v, block.attn.c_proj.weight.T, block.attn.c_proj.bias, block.ln_1)
    raise NormsUnsupportedError(str(getattr(model.config, "name_or_path", "")), model_type, SUPPORTED_MODEL_TYPES)


def supports(loaded: LoadedModel) -> bool:
    """Whether `norm_based` (Kobayashi et al. 2020) has an adapter for this architecture."""
    return loaded.info.model_type in SUPPORTED_MODEL_TYPES


def head_transformed_values(x: Any, weights: _LayerWeights, num_heads: int) -> Any:
    """f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h for every head (Kobayashi et al. 2020, eq. 5).

    x: torch [n, d] (the layer's attention input) -> torch float32 [heads, n, d].
    """
    import torch

    x = x.to(torch.float32)
    if weights.pre_norm is not None:
        x = weights.pre_norm(x)
    w_v = weights.w_v.to(torch.float32)
    w_o = weights.w_o.to(torch.float32)
    v = x @ w_v.T + weights.b_v.to(torch.float32)  # [n, H*d_h]
    n = v.shape[0]
    d_h = v.shape[1] // num_heads
    v = v.reshape(n, num_heads, d_h).permute(1, 0, 2)  # [H, n, d_h]
    w_o_heads = w_o.reshape(w_o.shape[0], num_heads, d_h).permute(1, 2, 0)  # [H, d_h, d]: W_O[:, h*d_h:(h+1)*d_h].T
    return torch.bmm(v, w_o_heads)  # bmm, not einsum: 50x faster here on CPU


def norms_from_values(attention: Any, f: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-head and per-layer norm-based attention of one layer (Kobayashi et al., EMNLP 2020).

    attention: [heads, query, key]; f: [heads, key, hidden] (numpy or torch) -> numpy float32
    (per_head [heads, query, key], per_layer [query, key], value_norms [heads, key]).
    The per-layer norm uses the Gram matrix G[j] = f[:, j] f[:, j]^T ([key, heads, heads]),
    ||sum_h a_h f_h||^2 = a^T G a, so memory and time stay O(heads^2 * n^2) instead of
    O(hidden * heads * n^2). float32 throughout: where heads cancel, the absolute error stays
    below about 4e-4 of sum_h per_head (invisible on a heat map; tests check 1e-3).
    """
    import torch

    a = torch.as_tensor(attention).to(torch.float32)
    f_t = torch.as_tensor(f).to(torch.float32)
    with torch.inference_mode():
        f_j = f_t.permute(1, 0, 2)  # [key, H, hidden]
        gram = torch.bmm(f_j, f_j.transpose(1, 2))  # [key, H, H]
        value_norms = torch.linalg.vector_norm(f_t, dim=-1)  # [H, key]
        per_head = a * value_norms[:, None, :]
        a_jih = a.permute(2, 1, 0)  # [key, query, H]
        t = torch.bmm(a_jih, gram)  # t[j, i] = G[j] a[:, i, j], batched over keys (bmm, not einsum: faster on CPU)
        per_layer = (t * a_jih).sum(dim=-1).T.clamp_min(0).sqrt()  # [query, key]
    return per_head.numpy(), np.ascontiguousarray(per_layer.numpy()), value_norms.numpy()


def norm_based(loaded: LoadedModel, text: str, text_pair: str | None = None,
               max_tokens: int | None = None) -> NormResult:
    """Norm-based attention (Kobayashi et al., EMNLP 2020) for one text, all layers and heads.

    Tokenises exactly as `core.attention.extract.extract`; one forward pass under `loaded.lock`;
    returns per_head [L, H, n, n], per_layer [L, n, n], value_norms [L, H, n] (float32).
    Raises NormsUnsupportedError for architectures without an adapter.
    """
    if not isinstance(text, str) or not text.strip():
        raise EmptyTextError()
    if text_pair is not None and not text_pair.strip():
        text_pair = None
    import torch

    info = loaded.info
    if info.model_type not in SUPPORTED_MODEL_TYPES:
        raise NormsUnsupportedError(info.model_id, info.model_type, SUPPORTED_MODEL_TYPES)
    limit = effective_max_tokens(info, loaded.tokenizer, max_tokens)
    model = loaded.model
    num_heads = info.num_heads
    with loaded.lock:  # fast tokenizers are not thread-safe; the model is shared
        enc, _ = tokenize(loaded, text, text_pair, limit)
        names = [k for k in loaded.tokenizer.model_input_names if k in enc]
        if not has_type_ids(loaded):
            names = [k for k in names if k != "token_type_ids"]
        inputs = {k: enc[k].to(model.device) for k in names}
        with torch.inference_mode(), cpu_threads_for(int(enc["input_ids"].shape[1])):
            out = model(**inputs, output_attentions=True, output_hidden_states=True, return_dict=True)
    atts = getattr(out, "attentions", None)
    hidden = getattr(out, "hidden_states", None)
    if not atts or not hidden or len(hidden) < len(atts):
        raise NoAttentionError(info.model_id, "the forward pass returned no attentions or hidden states")
    per_head, per_layer, value_norms, biases, weights = [], [], [], [], []
    n_tokens = int(atts[0].shape[-1])
    # reads the shared weights only; the lock guards tokenizer + forward
    with torch.inference_mode(), cpu_threads_for(n_tokens):
        for layer in range(len(atts)):
            lw = layer_weights(model, info.model_type, layer)
            f = head_transformed_values(hidden[layer][0], lw, num_heads).to("cpu")
            a = atts[layer][0].to(dtype=torch.float32, device="cpu")
            ph, pl, vn = norms_from_values(a, f)
            a = a.numpy()
            per_head.append(ph)
            per_layer.append(pl)
            value_norms.append(vn)
            weights.append(a)
            biases.append(lw.b_o.to(dtype=torch.float32, device="cpu").numpy())
    ids = enc["input_ids"][0].tolist()
    special = np.asarray(enc["special_tokens_mask"][0].tolist(), dtype=bool)
    arrays = [special, np.stack(weights), np.stack(per_head), np.stack(per_layer), np.stack(value_norms),
              np.stack(biases)]
    for arr in arrays:
        arr.setflags(write=False)
    return NormResult(
        model_id=info.model_id, text=text, text_pair=text_pair,
        tokens=tuple(loaded.tokenizer.convert_ids_to_tokens(ids)), special_mask=arrays[0],
        causal=info.causal, attention=arrays[1], per_head=arrays[2], per_layer=arrays[3],
        value_norms=arrays[4], output_bias=arrays[5],
    )


def row_shares(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum, so weights and norms compare as shares (as Kobayashi et al.
    2020 compare them). [..., n, n] -> same shape; all-zero rows stay 0."""
    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=-1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0).astype(np.float32)


def weight_vs_norm_share(result: NormResult, token_mask: np.ndarray) -> pd.DataFrame:
    """Per head, the share of attention on a token set by weight vs by norm (Kobayashi et al.
    2020, Fig. 3: [CLS]/[SEP]/punctuation get high weights but small ||f(x)||).

    Shares are (1/n) sum_i sum_{j in T} of row-normalised A (weight) and of row-normalised
    A * ||f(x_j)|| (norm). Returns layer, head, weight_share, norm_share, ratio.
    """
    mask = np.asarray(token_mask, dtype=np.float64)
    n_layers, n_heads, n, _ = result.attention.shape
    w = row_shares(result.attention).astype(np.float64) @ mask  # [L, H, n]
    nm = row_shares(result.per_head).astype(np.float64) @ mask
    w_share = w.mean(axis=-1).ravel()
    n_share = nm.mean(axis=-1).ravel()
    layer_col, head_col = np.divmod(np.arange(n_layers * n_heads), n_heads)
    ratio = np.divide(n_share, w_share, out=np.full_like(n_share, np.nan), where=w_share > 0)
    return pd.DataFrame({"layer": layer_col, "head": head_col, "weight_share": w_share,
                         "norm_share": n_share, "ratio": ratio})
