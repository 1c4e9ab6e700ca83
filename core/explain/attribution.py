"""Token attribution beside attention, on the app's words: gradient x input, integrated
gradients (Captum), blank-out, and the lenses, ranked side by side.

All methods explain the same score F of the same output (core.explain.outputs); token scores are
summed over each word's pieces. Scored words: the text's words, without special tokens, the
masked target word (masked LM) or words after the focus (causal LM).
- gradient x input: a_i = sum_d e_id dF/de_id at the word embeddings e (Captum-free: one backward);
- integrated gradients (Sundararajan et al. 2017) with captum.attr.LayerIntegratedGradients on
  the word-embedding layer: a_i = sum_d (e_id - b_id) * integral_0^1 dF/de_id(b + alpha (e - b))
  d alpha, Gauss-Legendre; baseline b = the [PAD] embedding at every position except special
  tokens and masked positions, which keep theirs. Completeness: sum_i a_i = F(e) - F(b); Captum's
  convergence delta is the difference;
- blank-out (Abnar & Zuidema 2020): F(text) - F(text with the word's pieces replaced by [MASK],
  or [UNK] where there is no mask token); one batched forward for all words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.explain.hooks import model_inputs, private_forward, run
from core.explain.inputs import baseline_token_id, blank_token_id
from core.explain.lenses import LensImportance, lens_importance
from core.explain.outputs import Problem, gradient_score, value_score
from core.models.loading import LoadedModel

DEFAULT_IG_STEPS = 32
MAX_BATCH_TOKENS = 4096


@dataclass(frozen=True, eq=False)
class IntegratedGradients:
    tokens: np.ndarray  # float32 [n]: attribution of each token (sum over the embedding dimension)
    score: float  # F(text)
    baseline_score: float  # F(baseline)
    delta: float  # sum(tokens) - (score - baseline_score), Captum's convergence delta
    steps: int

    @property
    def relative_error(self) -> float:
        """|delta| / |F(text) - F(baseline)|: completeness holds within this share."""
        return abs(self.delta) / max(abs(self.score - self.baseline_score), 1e-12)


@dataclass(frozen=True, eq=False)
class TokenAttribution:
    """Word importances of every method for one output. Read-only float32 arrays."""

    problem: Problem
    words: np.ndarray  # int64 [k]: the scored words (indices into problem.sentence.words)
    labels: tuple[str, ...]  # [k]
    methods: tuple[str, ...]  # [m]: "gradient x input", "integrated gradients", "blank-out", "raw L1".., "rollout", "flow", "norm"
    scores: np.ndarray  # float32 [m, k]: signed for gradients and blank-out, >= 0 for lenses
    ranks: np.ndarray  # int64 [m, k]: 1 = most important (gradients by |score|, others by score)
    gradient_tokens: np.ndarray  # float32 [n]: gradient x input per token
    ig: IntegratedGradients
    blank_out: np.ndarray  # float32 [k]: F drop per scored word
    lenses: LensImportance

    def table(self) -> pd.DataFrame:
        """One row per word: each method's score and rank side by side."""
        data: dict[str, object] = {"word": list(self.labels)}
        for m, name in enumerate(self.methods):
            data[name] = self.scores[m]
            data[f"{name} rank"] = self.ranks[m]
        return pd.DataFrame(data)


def _inputs(problem: Problem, ids):
    import torch

    s = problem.sentence
    return None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None].expand(len(ids), -1)


def gradient_x_input(loaded: LoadedModel, problem: Problem) -> np.ndarray:
    """float32 [n]: sum_d e_id * dF/de_id at the word embeddings (F: gradient_score)."""
    import torch

    ids = torch.tensor(problem.input_ids)[None]
    with private_forward(loaded, grad=True, work_tokens=ids.shape[1]):
        inputs = model_inputs(loaded, ids, _inputs(problem, ids))
        emb = loaded.model.get_input_embeddings()(inputs.pop("input_ids")).detach().requires_grad_(True)
        inputs["inputs_embeds"] = emb
        f = gradient_score(problem, run(loaded, inputs), inputs["attention_mask"])[0]
        (grad,) = torch.autograd.grad(f, emb)
    return (emb * grad).sum(dim=-1)[0].detach().float().cpu().numpy()


def baseline_ids(loaded: LoadedModel, problem: Problem) -> np.ndarray:
    """int64 [n]: [PAD] everywhere except special tokens and masked positions."""
    keep = problem.sentence.special_mask.copy()
    keep[list(problem.masked_positions)] = True
    return np.where(keep, problem.input_ids, baseline_token_id(loaded)).astype(np.int64)


def integrated_gradients(loaded: LoadedModel, problem: Problem, steps: int = DEFAULT_IG_STEPS) -> IntegratedGradients:
    """Integrated gradients of F through Captum's LayerIntegratedGradients on the word embeddings."""
    import torch
    from captum.attr import LayerIntegratedGradients

    ids = torch.tensor(problem.input_ids)[None]
    base = torch.tensor(baseline_ids(loaded, problem))[None]
    n = ids.shape[1]

    def forward(batch_ids):
        inputs = model_inputs(loaded, batch_ids, _inputs(problem, batch_ids))
        return gradient_score(problem, run(loaded, inputs), inputs["attention_mask"])

    layer = loaded.model.get_input_embeddings()
    steps = max(2, int(steps))
    with private_forward(loaded, grad=True, work_tokens=steps * n):
        lig = LayerIntegratedGradients(forward, layer)
        attr, delta = lig.attribute(ids.to(loaded.model.device), baselines=base.to(loaded.model.device),
                                    n_steps=steps, internal_batch_size=max(1, MAX_BATCH_TOKENS // n),
                                    return_convergence_delta=True)
        scores = forward(torch.cat([ids, base]).to(loaded.model.device)).detach().double().cpu().numpy()
    tokens = attr.sum(dim=-1)[0].detach().float().cpu().numpy()
    tokens.setflags(write=False)
    return IntegratedGradients(tokens=tokens, score=float(scores[0]), baseline_score=float(scores[1]),
                               delta=float(delta.reshape(-1)[0]), steps=steps)


def unedited_value(problem: Problem) -> float:
    """F of the text as resolved (value_score of the unedited forward pass)."""
    if problem.kind != "embedding":
        return float(problem.log_probs[problem.target_id])
    ref = problem.pair_embedding if problem.pair_embedding is not None else problem.embedding
    return float(np.dot(problem.embedding.astype(np.float64), ref))


def blank_out(loaded: LoadedModel, problem: Problem, words: np.ndarray | None = None) -> np.ndarray:
    """float32 [k]: F(text) - F(text with word w blanked) for each word (default: candidate words);
    F(text) from the resolved problem, the blanked copies in batched forwards."""
    import torch

    s = problem.sentence
    words = problem.candidate_words if words is None else np.asarray(words, dtype=np.int64)
    if not len(words):
        return np.zeros(0, dtype=np.float32)
    n = len(problem.input_ids)
    rows = np.repeat(problem.input_ids[None], len(words), axis=0)
    blank = blank_token_id(loaded)
    for r, w in enumerate(words):
        rows[r, list(s.word_tokens[w])] = blank
    scores = []
    chunk = max(1, MAX_BATCH_TOKENS // n)
    with private_forward(loaded, work_tokens=n):
        for start in range(0, len(rows), chunk):
            batch = torch.tensor(rows[start:start + chunk])
            inputs = model_inputs(loaded, batch, _inputs(problem, batch))
            scores.append(value_score(problem, run(loaded, inputs), inputs["attention_mask"]).double().cpu().numpy())
    return (unedited_value(problem) - np.concatenate(scores)).astype(np.float32)


def ranks_of(scores: np.ndarray, by_magnitude: bool = False) -> np.ndarray:
    """int [k]: 1 for the largest score (ties: order of appearance)."""
    key = np.abs(scores) if by_magnitude else np.asarray(scores)
    order = np.argsort(-key, kind="stable")
    ranks = np.empty(len(key), dtype=np.int64)
    ranks[order] = np.arange(1, len(key) + 1)
    return ranks


def token_attribution(loaded: LoadedModel, problem: Problem, *, ig_steps: int = DEFAULT_IG_STEPS,
                      lenses: LensImportance | None = None, blank: np.ndarray | None = None,
                      gradient_tokens: np.ndarray | None = None) -> TokenAttribution:
    """Every method's word importances for `problem`'s output, ranked side by side. `blank` (over
    the candidate words) and `gradient_tokens`: this problem's blank-out and gradient x input when
    already computed (core.requests.explain shares them with faithfulness)."""
    s = problem.sentence
    words = problem.candidate_words
    grad_tok = gradient_x_input(loaded, problem) if gradient_tokens is None else np.asarray(gradient_tokens)
    ig = integrated_gradients(loaded, problem, ig_steps)
    blank = blank_out(loaded, problem, words) if blank is None else np.asarray(blank)
    lenses = lenses or lens_importance(loaded, problem)
    n_layers = lenses.raw.shape[0]
    rows: list[tuple[str, np.ndarray, bool]] = [
        ("gradient x input", s.merge(grad_tok)[words], True),
        ("integrated gradients", s.merge(ig.tokens)[words], True),
        ("blank-out", blank.astype(np.float64), False),
    ]
    rows += [(f"raw L{layer + 1}", s.merge(lenses.raw[layer])[words], False) for layer in range(n_layers)]
    rows.append(("rollout", s.merge(lenses.rollout[-1])[words], False))
    if lenses.flow is not None:
        rows.append(("flow", s.merge(lenses.flow[-1])[words], False))
    if lenses.norm is not None:
        rows.append(("norm", s.merge(lenses.norm[-1])[words], False))
    scores = np.stack([r[1] for r in rows]).astype(np.float32) if len(words) else np.zeros((len(rows), 0), np.float32)
    ranks = np.stack([ranks_of(r[1], r[2]) for r in rows]) if len(words) else np.zeros((len(rows), 0), np.int64)
    for a in (words, scores, ranks, grad_tok, blank):
        if a.flags.writeable:
            a.setflags(write=False)
    return TokenAttribution(problem=problem, words=words, labels=tuple(s.words[w] for w in words),
                            methods=tuple(r[0] for r in rows), scores=scores, ranks=ranks,
                            gradient_tokens=grad_tok, ig=ig, blank_out=blank, lenses=lenses)
