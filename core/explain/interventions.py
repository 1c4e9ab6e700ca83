"""Interventions: switch heads off and mask or drop words, and see how the output and attention move.

Every intervention runs on a private, hooked forward (core.explain.hooks): the shared model is
never changed, and concurrent sessions never see each other's edits. Zero ablation sets a head's
context vectors to 0; mean ablation sets them to the head's mean context over a reference set
(`head_means`: the tutorial's examples, every position). Masking replaces a word's pieces by the
mask token ([UNK] where there is none); dropping removes them from the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.explain.errors import NothingLeftError, OutOfRangeError, SpecialTokenError, TargetWordError
from core.explain.hooks import HeadEdit, model_inputs, private_forward, run
from core.explain.inputs import blank_token_id, prepare
from core.explain.outputs import (Problem, TokenPrediction, batch_embedding, focus_log_probs, top_predictions,
                                  value_score)
from core.models.loading import LoadedModel

AblationMode = Literal["zero", "mean"]


@dataclass(frozen=True, eq=False)
class HeadMeans:
    """Each head's mean context vector over a reference set of texts and all their positions."""

    model_id: str
    means: np.ndarray  # float32 [layers, heads, d_head]
    n_texts: int
    n_positions: int


def head_means(loaded: LoadedModel, texts: Sequence[str] | None = None) -> HeadMeans:
    """Mean ablation's reference (default: the tutorial's examples, core.examples). Compute once
    per model and keep it: it costs one forward pass per text."""
    import torch

    if texts is None:
        from core.examples import EXAMPLES

        texts = list(EXAMPLES.values())
    total, count = None, 0
    for text in texts:
        s = prepare(loaded, text)
        record: list = []
        ids = torch.tensor(s.input_ids)[None]
        types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
        with private_forward(loaded, HeadEdit(record=record), work_tokens=s.n_tokens):
            loaded.model(**model_inputs(loaded, ids, types), return_dict=True)
        sums = torch.stack([z[0].float().sum(dim=0) for z in record])  # [L, H, d_h]
        total = sums if total is None else total + sums
        count += s.n_tokens
    means = (total / max(count, 1)).cpu().numpy()
    means.setflags(write=False)
    return HeadMeans(model_id=loaded.info.model_id, means=means, n_texts=len(texts), n_positions=count)


@dataclass(frozen=True)
class Intervention:
    """What to change. Heads are (layer, head) pairs counted from 0; words index Sentence.words."""

    heads: tuple[tuple[int, int], ...] = ()
    mode: AblationMode = "zero"
    mask_words: tuple[int, ...] = ()
    drop_words: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class InterventionResult:
    """The output and attention before and after an intervention. Read-only arrays."""

    problem: Problem  # the unedited output
    intervention: Intervention
    kept_positions: np.ndarray  # int64 [m]: original token positions still in the edited input
    input_ids: np.ndarray  # int64 [m]: the edited input as run
    focus: int  # the focus position in the edited input (-1 for embeddings)
    score_before: float  # F of the unedited text (log p(target) / cosine)
    score_after: float
    kl: float  # KL(p_before || p_after) at the focus in nats (language models; nan for embeddings)
    target_rank_before: int  # rank of the target token (1 = top; 0 for embeddings)
    target_rank_after: int
    top1_id: int | None  # the unedited top-1 prediction (language models)
    top1_probability_before: float
    top1_probability_after: float
    top1_rank_after: int
    prediction_after: TokenPrediction | None  # the edited top-k at the focus
    cosine_to_original: float  # cos(e_after, e_0) (embeddings; nan for language models)
    attention_before: np.ndarray  # float32 [layers, heads, m, m]: unedited, kept tokens, rows renormalised
    attention_after: np.ndarray  # float32 [layers, heads, m, m]
    attention_shift: np.ndarray  # float32 [layers, heads]: mean over rows of 0.5 * sum_j |after - before|


def check_heads(loaded: LoadedModel, heads: Iterable[tuple[int, int]], *, allow_all: bool = False) -> tuple[tuple[int, int], ...]:
    """Validated, sorted, unique (layer, head) pairs."""
    n_layers, n_heads = loaded.info.num_layers, loaded.info.num_heads
    out = set()
    for layer, head in heads:
        if not 0 <= int(layer) < n_layers:
            raise OutOfRangeError("layer", layer, n_layers)
        if not 0 <= int(head) < n_heads:
            raise OutOfRangeError("head", head, n_heads)
        out.add((int(layer), int(head)))
    if not allow_all and len(out) == n_layers * n_heads:
        raise NothingLeftError("heads")
    return tuple(sorted(out))


def _check_words(problem: Problem, words: Iterable[int], dropping: bool) -> tuple[int, ...]:
    s = problem.sentence
    out = set()
    for w in words:
        if not 0 <= int(w) < s.n_words:
            raise OutOfRangeError("word", w, s.n_words)
        if s.word_special[int(w)]:
            raise SpecialTokenError(s.words[int(w)])
        if dropping and int(w) == problem.target_word and problem.kind == "masked":
            raise TargetWordError(s.words[int(w)])
        if dropping and problem.kind == "causal" and problem.focus in s.word_tokens[int(w)]:
            raise TargetWordError(s.words[int(w)])
        out.add(int(w))
    return tuple(sorted(out))


def keep_mask(loaded: LoadedModel, heads: Sequence[tuple[int, int]]):
    """torch float [1, layers, heads]: 0 for the ablated heads."""
    import torch

    keep = torch.ones(1, loaded.info.num_layers, loaded.info.num_heads)
    for layer, head in heads:
        keep[0, layer, head] = 0.0
    return keep


def head_edit(loaded: LoadedModel, keep, mode: AblationMode, means: HeadMeans | None) -> HeadEdit:
    import torch

    fill = None
    if mode == "mean":
        means = means if means is not None else head_means(loaded)
        fill = torch.tensor(means.means)
    elif mode != "zero":
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
    return HeadEdit(keep=keep, fill=fill)


def _renormalised(att: np.ndarray, kept: np.ndarray) -> np.ndarray:
    sub = att[..., kept[:, None], kept[None, :]].astype(np.float64)
    sums = sub.sum(axis=-1, keepdims=True)
    return np.divide(sub, sums, out=np.zeros_like(sub), where=sums > 0).astype(np.float32)


def intervene(loaded: LoadedModel, problem: Problem, intervention: Intervention, *,
              means: HeadMeans | None = None, top_k: int = 10) -> InterventionResult:
    """Run `problem`'s text with `intervention` and compare with the unedited run.

    Raises NothingLeftError (every word masked/dropped, every head off), OutOfRangeError,
    SpecialTokenError, TargetWordError. `means`: from `head_means` (computed here if None).
    """
    import torch

    s = problem.sentence
    heads = check_heads(loaded, intervention.heads)
    masked = _check_words(problem, intervention.mask_words, dropping=False)
    dropped = _check_words(problem, intervention.drop_words, dropping=True)
    gone = set(masked) | set(dropped) | ({problem.target_word} if problem.kind == "masked" else set())
    if set(s.content_words().tolist()) <= gone:
        raise NothingLeftError("words")
    ids = problem.input_ids.copy()
    blank = blank_token_id(loaded)
    for w in masked:
        ids[list(s.word_tokens[w])] = blank
    drop_positions = {p for w in dropped for p in s.word_tokens[w]}
    kept = np.asarray([i for i in range(s.n_tokens) if i not in drop_positions], dtype=np.int64)
    ids = ids[kept]
    focus = -1 if problem.focus < 0 else int(np.searchsorted(kept, problem.focus))
    edit = head_edit(loaded, keep_mask(loaded, heads), intervention.mode, means) if heads else None
    t_ids = torch.tensor(ids)[None]
    types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids[kept])[None]
    edited = Problem(**{**problem.__dict__, "focus": focus})
    with private_forward(loaded, edit, work_tokens=len(ids)):
        inputs = model_inputs(loaded, t_ids, types)
        out = run(loaded, inputs, attentions=True)
        after_att = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
        score_after = float(value_score(edited, out, inputs["attention_mask"])[0])
        lp_after = None if problem.kind == "embedding" else focus_log_probs(edited, out)[0].cpu().numpy()
        e_after = batch_embedding(out, inputs["attention_mask"])[1][0].cpu().numpy() if problem.kind == "embedding" else None
    before_att = _renormalised(problem.attention, kept) if len(kept) < s.n_tokens else problem.attention
    shift = 0.5 * np.abs(after_att.astype(np.float64) - before_att).sum(axis=-1).mean(axis=-1)
    nan = float("nan")
    if problem.kind == "embedding":
        ref = problem.pair_embedding if problem.pair_embedding is not None else problem.embedding
        score_before = float(np.dot(problem.embedding, ref))
        kl, ranks, top1, p1b, p1a, r1a, pred = nan, (0, 0), None, nan, nan, 0, None
        cos0 = float(np.dot(e_after, problem.embedding))
    else:
        lp0 = problem.log_probs.astype(np.float64)
        lp1 = lp_after.astype(np.float64)
        kl = max(float(np.sum(np.exp(lp0) * (lp0 - lp1))), 0.0)  # >= 0; float error can dip below
        t = problem.target_id
        score_before = float(lp0[t])
        ranks = (int((lp0 > lp0[t]).sum()) + 1, int((lp1 > lp1[t]).sum()) + 1)
        top1 = int(np.argmax(lp0))
        p1b, p1a, r1a = float(np.exp(lp0[top1])), float(np.exp(lp1[top1])), int((lp1 > lp1[top1]).sum()) + 1
        pred = top_predictions(loaded, lp1, focus, top_k, t)
        cos0 = nan
    arrays = (kept, ids, before_att, after_att, shift.astype(np.float32))
    for a in arrays:
        if a.flags.writeable:
            a.setflags(write=False)
    return InterventionResult(
        problem=problem, intervention=Intervention(heads, intervention.mode, masked, dropped),
        kept_positions=arrays[0], input_ids=arrays[1], focus=focus, score_before=score_before,
        score_after=score_after, kl=kl, target_rank_before=ranks[0], target_rank_after=ranks[1], top1_id=top1,
        top1_probability_before=p1b, top1_probability_after=p1a, top1_rank_after=r1a, prediction_after=pred,
        cosine_to_original=cos0, attention_before=arrays[2], attention_after=arrays[3], attention_shift=arrays[4])
