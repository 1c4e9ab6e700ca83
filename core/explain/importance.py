"""Head importance for one text, every head at once: ablation effect and gradient score.

- Ablation: the output change when head (l, h) alone is switched off. One batched forward: row
  b of a batch of copies of the text ablates head b (a per-row keep mask in the hook), so all
  layers x heads cost a few forward passes, not one each. Change = KL(p_0 || p_ablated) at the
  focus for language models, 1 - cos(e_ablated, e_0) for embeddings; `score_drop` is F before
  minus F after.
- Gradient (Michel, Levy & Neubig, "Are Sixteen Heads Really Better than One?", NeurIPS 2019):
  I_h = |sum over positions of Att_h * dL/dAtt_h| = |dL/dxi_h| at gates xi = 1, with L = -F,
  one forward and one backward through gates multiplied into the head contexts; normalised per
  layer by the layer's L2 norm, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.hooks import HeadEdit, model_inputs, private_forward, run
from core.explain.interventions import AblationMode, HeadMeans, head_edit
from core.explain.outputs import Problem, batch_embedding, focus_log_probs, gradient_score, value_score
from core.models.loading import LoadedModel

MAX_BATCH_TOKENS = 4096  # batch rows x tokens per ablation forward (memory bound at long texts)


@dataclass(frozen=True, eq=False)
class HeadImportance:
    """Layer x head grids for one text and output. Read-only float32 arrays."""

    problem: Problem
    mode: AblationMode
    ablation: np.ndarray  # [layers, heads]: KL(p_0 || p_ablated) (language models) or 1 - cos(e_ablated, e_0)
    score_drop: np.ndarray  # [layers, heads]: F(text) - F(text with the head ablated)
    gradient: np.ndarray  # [layers, heads]: Michel et al.'s |dL/dxi_h|, divided by each layer's L2 norm
    gradient_raw: np.ndarray  # [layers, heads]: |dL/dxi_h| before the per-layer normalisation


def ablation_grid(loaded: LoadedModel, problem: Problem, mode: AblationMode = "zero",
                  means: HeadMeans | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(change [L, H], score drop [L, H]) with each head ablated alone, in batched forwards."""
    import torch

    s = problem.sentence
    n_layers, n_heads = loaded.info.num_layers, loaded.info.num_heads
    total = n_layers * n_heads
    n = len(problem.input_ids)
    chunk = max(1, min(total, MAX_BATCH_TOKENS // max(n, 1)))
    change = np.zeros(total, dtype=np.float64)
    score = np.zeros(total, dtype=np.float64)
    keep_all = 1.0 - torch.eye(total).reshape(total, n_layers, n_heads)  # row b ablates head b
    ids = torch.tensor(problem.input_ids)[None]
    types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
    edit = head_edit(loaded, keep_all[:1], mode, means)
    with private_forward(loaded, edit, work_tokens=n * min(chunk, total)):
        for start in range(0, total, chunk):
            rows = keep_all[start:start + chunk]
            edit.keep = rows
            inputs = model_inputs(loaded, ids.expand(len(rows), n), types)
            out = run(loaded, inputs)
            score[start:start + len(rows)] = value_score(problem, out, inputs["attention_mask"]).double().cpu().numpy()
            if problem.kind == "embedding":
                e = batch_embedding(out, inputs["attention_mask"])[1].double()
                change[start:start + len(rows)] = (1.0 - e @ torch.tensor(problem.embedding).double()).cpu().numpy()
            else:
                lp = focus_log_probs(problem, out).double()
                lp0 = torch.tensor(problem.log_probs).double()
                change[start:start + len(rows)] = (lp0.exp() * (lp0 - lp)).sum(dim=-1).clamp_min(0).cpu().numpy()
    if problem.kind == "embedding":
        ref = problem.pair_embedding if problem.pair_embedding is not None else problem.embedding
        before = float(np.dot(problem.embedding, ref))
    else:
        before = float(problem.log_probs[problem.target_id])
    return change.reshape(n_layers, n_heads), (before - score).reshape(n_layers, n_heads)


def gradient_grid(loaded: LoadedModel, problem: Problem) -> np.ndarray:
    """|dL/dxi| [L, H] at gates 1 (Michel et al. 2019), L = -F (core.explain.outputs.gradient_score)."""
    import torch

    s = problem.sentence
    gate = torch.ones(loaded.info.num_layers, loaded.info.num_heads, requires_grad=True)
    ids = torch.tensor(problem.input_ids)[None]
    types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
    with private_forward(loaded, HeadEdit(gate=gate), grad=True, work_tokens=len(ids[0])):
        inputs = model_inputs(loaded, ids, types)
        loss = -gradient_score(problem, run(loaded, inputs), inputs["attention_mask"])[0]
        (grad,) = torch.autograd.grad(loss, gate)
    return grad.abs().double().cpu().numpy()


def per_layer_normalised(scores: np.ndarray) -> np.ndarray:
    """Each layer's row divided by its L2 norm (Michel et al. 2019); an all-zero layer stays 0."""
    norms = np.linalg.norm(scores, axis=-1, keepdims=True)
    return np.divide(scores, norms, out=np.zeros_like(scores, dtype=np.float64), where=norms > 0)


def head_importance(loaded: LoadedModel, problem: Problem, *, mode: AblationMode = "zero",
                    means: HeadMeans | None = None) -> HeadImportance:
    """Ablation and gradient importance of every head for `problem` (see the module's docstring)."""
    change, drop = ablation_grid(loaded, problem, mode, means)
    raw = gradient_grid(loaded, problem)
    arrays = [a.astype(np.float32) for a in (change, drop, per_layer_normalised(raw), raw)]
    for a in arrays:
        a.setflags(write=False)
    return HeadImportance(problem=problem, mode=mode, ablation=arrays[0], score_drop=arrays[1],
                          gradient=arrays[2], gradient_raw=arrays[3])
