"""The arrays each tutorial step draws, so that the chart, what to notice and the answer to its
question are computed from the same numbers.

Pure functions of an AttentionResult (no Streamlit). Shapes: a head or a layer average is
[query n, key n]; stacks are [panels, n, n]. Convention (docs/methods.md, Attention weights):
row i is how query i spreads its attention over the keys; every row sums to 1 over the keys
it may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis import lenses, tokens
from core.attention.result import AttentionResult

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Mapping

NOTEBOOK_LAYER = 2  # the notebook's analyze_sentence_attention(sentence, layer_idx=2, head_idx=5)
NOTEBOOK_HEAD = 5
TOP_K = 5  # the notebook's "Top 5 attention connections"


@dataclass(frozen=True, eq=False)
class OutputEvidence:
    """What the model's output says about the words of the text (computed by core.explain, handed
    in by the page): per scored word, in sentence order, how much of the output's attention
    reaches it and how much the output drops when it is blanked out."""

    words: tuple[str, ...]  # [k] the scored words (not special tokens, not the masked word itself)
    attended: np.ndarray  # [k] rollout through every layer: each word's share of what the words get (sums to 1)
    raw_last: np.ndarray  # [k] the last layer's raw attention (head average), shared out the same way
    blank_out: np.ndarray  # [k] the output score's drop when the word is replaced by [MASK]/[UNK]
    output: str  # what the output is, in words: "the sentence embedding", "the prediction of ..."


@dataclass(frozen=True, eq=False)
class GenerationEvidence:
    """One step of generation from the text (computed by core.generate, handed in by the page):
    the newest token's attention over the context it sees, for the selected head, and what to
    notice about causal masking at that step (core.generate.notices' sentences)."""

    labels: tuple[str, ...]  # [k] the context the newest token sees, itself last
    row: np.ndarray  # [k] the selected head's attention of the newest token over that context
    sentences: tuple[tuple[str, str], ...]  # (key, sentence), computed from this step
    chosen: str  # the token chosen next (greedy)


@dataclass(frozen=True)
class StepContext:
    """What a step is computed from: the current result and selection, plus what the page
    already holds in its cache (so core does not compute it twice)."""

    result: AttentionResult
    layer: int
    head: int
    examples: Mapping[str, AttentionResult] = field(default_factory=dict)  # the six sentences, by name
    rollout: np.ndarray | None = None  # [layers, n, n] (core.analysis.lenses.rollout), if the page has it
    stats: pd.DataFrame | None = None  # core.analysis.statistics.head_statistics_for(result), if it has it
    evidence: OutputEvidence | None = None  # the "matters" step: None where the model has no output to read
    no_evidence: str = ""  # why there is no evidence (a sentence), when there is none
    generation: GenerationEvidence | None = None  # the "generating" step: None where the model cannot generate
    no_generation: str = ""  # why there is no generation (a sentence), when there is none

    def rollout_stack(self) -> np.ndarray:
        if self.rollout is not None:
            return np.asarray(self.rollout)
        return lenses.rollout(self.result.attention, causal=self.result.causal)


# --- tokens ---------------------------------------------------------------------------------

def content_mask(result: AttentionResult) -> np.ndarray:
    """bool [n]: tokens that are neither special ([CLS], [SEP], <s>...) nor punctuation."""
    special = np.asarray(result.special_mask, dtype=bool)
    return ~special & ~tokens.punctuation_mask(list(result.display_tokens), special)


def tutorial_query(result: AttentionResult) -> int:
    """The token the tutorial asks about: the last word-like token of the first sentence ("mat"
    in "The cat sat on the mat."), else the last non-special token, else 0. For a causal model
    this is also the token that sees the most of the sentence."""
    content = content_mask(result)
    first = np.asarray(result.segment_ids) == 0
    for mask in (content & first, content, ~np.asarray(result.special_mask, dtype=bool)):
        hits = np.flatnonzero(mask)
        if hits.size:
            return int(hits[-1])
    return 0


def option_labels(display_tokens: Sequence[str], positions: Sequence[int] | None = None) -> list[str]:
    """Readable, unique labels for tokens: the token, with its position when the same token
    occurs twice ("the (1)", "the (5)")."""
    toks = [str(t) for t in display_tokens]
    pos = list(range(len(toks))) if positions is None else [int(p) for p in positions]
    counts: dict[str, int] = {}
    for t in toks:
        counts[t] = counts.get(t, 0) + 1
    return [t if counts[t] == 1 else f"{t} ({p})" for t, p in zip(toks, pos)]


def token_label(result: AttentionResult, i: int) -> str:
    """One token's label as option_labels writes it."""
    return option_labels(result.display_tokens)[int(i)]


def split_words(result: AttentionResult) -> list[tuple[str, tuple[str, ...]]]:
    """Words the tokenizer cut into more than one piece: (the word, its pieces), in order."""
    keys = tokens.word_keys(result.word_ids, result.segment_ids)
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            groups.setdefault(key, []).append(i)
    out = []
    for members in groups.values():
        if len(members) > 1:
            pieces = tuple(result.display_tokens[i] for i in members)
            word = "".join(p[2:] if k and p.startswith("##") else p for k, p in enumerate(pieces))
            out.append((word, pieces))
    return out


# --- matrices -------------------------------------------------------------------------------

def panel_layers(num_layers: int) -> tuple[int, ...]:
    """The notebook's first / middle / last layers ([0, 2, 5] for 6 layers), without repeats."""
    last = max(int(num_layers) - 1, 0)
    picks = (0, last // 2, last)
    return tuple(dict.fromkeys(picks))


def layer_panel(result: AttentionResult) -> np.ndarray:
    """[panels, n, n]: the head average of each of panel_layers."""
    return np.stack([result.layer_mean(layer) for layer in panel_layers(result.num_layers)])


def head_across_layers(result: AttentionResult, head: int) -> np.ndarray:
    """[layers, n, n]: head number `head` in every layer (the notebook's compare_layers_attention)."""
    return np.asarray(result.attention[:, int(head)])


def key_shares(matrix: np.ndarray) -> np.ndarray:
    """[..., n]: the share of all the attention in the matrix that each key receives, i.e. the
    mean over rows of each column (every row sums to 1, so the shares sum to 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    return m.mean(axis=-2)


def neighbour_share(matrix: np.ndarray) -> float:
    """Mean over rows of the weight on the token itself and its two neighbours (|i - j| <= 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[-1]
    idx = np.arange(n)
    near = np.abs(idx[:, None] - idx[None, :]) <= 1
    return float((m * near).sum(axis=-1).mean())


def row_focus(matrix: np.ndarray) -> np.ndarray:
    """[...]: the mean over rows of each row's largest weight (1 = every row looks at one key)."""
    m = np.asarray(matrix, dtype=np.float64)
    return m.max(axis=-1).mean(axis=-1)


def top_connections(matrix: np.ndarray, result: AttentionResult, k: int = TOP_K) -> pd.DataFrame:
    """The notebook's "strongest attention connections": the k largest weights, self excluded
    (and masked keys of a causal model), as rank, from, to, from_token, to_token, weight."""
    allowed = result.allowed_mask() if result.causal else None
    return tokens.strongest_connections(matrix, list(result.display_tokens), k=k, exclude_self=True,
                                        allowed=allowed)


def rollout_last(ctx: StepContext) -> np.ndarray:
    """[n, n]: attention rollout after the last layer (Abnar & Zuidema 2020)."""
    return ctx.rollout_stack()[-1]


def strongest_by_sentence(examples: Mapping[str, AttentionResult], layer: int, head: int) -> dict[str, float]:
    """Each sentence's strongest connection (self excluded) in (layer, head), by sentence name."""
    out = {}
    for name, res in examples.items():
        top = top_connections(res.head(layer, head), res, k=1)
        out[name] = float(top.iloc[0]["weight"]) if len(top) else 0.0
    return out


# --- the model's output -------------------------------------------------------------------------

def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two score vectors (average ranks for ties); nan when either is constant."""
    def ranks(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(1, len(x) + 1)
        for value in np.unique(x):  # ties share their mean rank
            same = x == value
            r[same] = r[same].mean()
        return r

    if len(a) < 2:
        return float("nan")
    ra, rb = ranks(a) - (len(a) + 1) / 2, ranks(b) - (len(b) + 1) / 2
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def evidence_tops(evidence: OutputEvidence) -> tuple[int, int]:
    """(the most-attended word by rollout, the word whose blank-out moves the output most)."""
    return int(np.argmax(evidence.attended)), int(np.argmax(evidence.blank_out))
