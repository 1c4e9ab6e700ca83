"""Token sets and token controls: punctuation / [CLS] / [SEP] masks, word keys, hiding special
tokens, merging subwords into words, pruning rows, the strongest connections, and
`apply_controls`, which applies a page's token controls to one matrix and returns what to draw.

See docs/methods.md, sections Token sets, Token controls and Strongest connections. numpy and
pandas only; no Streamlit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.render.matrix import DrawMatrix

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.attention.result import AttentionResult

CLS_TOKENS = frozenset({"[CLS]", "<s>", "<cls>", "<|endoftext|>", "<|begin_of_text|>", "<bos>"})
SEP_TOKENS = frozenset({"[SEP]", "</s>", "<sep>", "<eos>"})


# --- token sets -----------------------------------------------------------------------------

def punctuation_mask(display_tokens: Sequence[str], special_mask: np.ndarray | None = None) -> np.ndarray:
    """bool [n]: tokens made only of Unicode punctuation (category P*), e.g. ".", ",", "##?".

    Set used by Clark et al. 2019 ("What Does BERT Look At?") for attention to punctuation.
    A leading "##" (continuation marker) is ignored; special tokens are never punctuation.
    """
    out = np.zeros(len(display_tokens), dtype=bool)
    for i, tok in enumerate(display_tokens):  # O(n) over labels, not over the n^2 cells
        body = tok[2:] if tok.startswith("##") and len(tok) > 2 else tok
        body = body.strip()
        out[i] = bool(body) and all(unicodedata.category(ch).startswith("P") for ch in body)
    if special_mask is not None:
        out &= ~np.asarray(special_mask, dtype=bool)
    return out


def cls_mask(tokens: Sequence[str], special_mask: np.ndarray) -> np.ndarray:
    """bool [n]: the sequence-start special token: [CLS], <s>, or <|endoftext|> in first place.

    Rule: a special token that is a known start token, or any special token at position 0
    that is not a known separator (Clark et al. 2019 treat [CLS] and [SEP] separately).
    """
    special = np.asarray(special_mask, dtype=bool)
    n = len(tokens)
    known = np.fromiter((t in CLS_TOKENS and t != "<|endoftext|>" for t in tokens), dtype=bool, count=n)
    first = np.zeros(n, dtype=bool)
    if n:
        first[0] = tokens[0] not in SEP_TOKENS
    return special & (known | first)


def sep_mask(tokens: Sequence[str], special_mask: np.ndarray) -> np.ndarray:
    """bool [n]: separator special tokens: [SEP], </s>, <|endoftext|> after position 0, and any
    other special token that is not the start token (Clark et al. 2019's [SEP] set)."""
    return np.asarray(special_mask, dtype=bool) & ~cls_mask(tokens, special_mask)


def word_keys(word_ids: Sequence[int | None], segment_ids: Sequence[int]) -> list[Hashable | None]:
    """Word key per token for Clark et al. 2019's word merge: (segment_ids[i], word_ids[i]);
    None for special tokens.

    Word ids restart at 0 in the second text, hence the segment in the key.
    """
    return [None if w is None else (int(s), int(w)) for w, s in zip(word_ids, segment_ids)]

# --- token controls -------------------------------------------------------------------------

def hide_special(matrix: np.ndarray, special_mask: np.ndarray, renormalise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Drop special-token rows and columns (exBERT, Hoover et al. 2020, zeroes without
    renormalising; `renormalise=True` rescales each remaining row to sum 1 over kept keys).

    matrix: [..., query, key] -> (matrix[..., kept, kept], kept_index int [k]). Rows whose
    kept mass is 0 stay 0.
    """
    m = np.asarray(matrix)
    kept = np.flatnonzero(~np.asarray(special_mask, dtype=bool))
    sub = m[..., kept[:, None], kept[None, :]]
    if renormalise:
        sums = sub.sum(axis=-1, keepdims=True, dtype=np.float64)
        sub = np.divide(sub, sums, out=np.zeros(sub.shape, dtype=np.float64), where=sums > 0)
    return sub.astype(np.float32), kept


def merge_words(matrix: np.ndarray, word_keys: Sequence[Hashable | None],
                tokens: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], list[list[int]]]:
    """Word-level attention (Clark et al. 2019, section 4.1): SUM over a word's pieces for
    attention TO it (columns), MEAN over its pieces for attention FROM it (rows); rows still
    sum to 1. Tokens with key None (special tokens) stay their own word.

    matrix: [..., n, n]; word_keys: per token, e.g. `word_keys(word_ids, segment_ids)`.
    Returns (merged [..., w, w], labels [w] (pieces joined, "##" dropped), groups [w] of token
    indices), words in order of first appearance.
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[-1]
    if len(word_keys) != n:
        raise ValueError(f"{len(word_keys)} word keys for {n} tokens")
    group_of: dict[Hashable, int] = {}
    groups: list[list[int]] = []
    for i, key in enumerate(word_keys):  # O(n) bookkeeping
        if key is None:
            groups.append([i])
            continue
        if key not in group_of:
            group_of[key] = len(groups)
            groups.append([])
        groups[group_of[key]].append(i)
    assign = np.zeros((len(groups), n))  # [w, n] 0/1
    for g, members in enumerate(groups):
        assign[g, members] = 1.0
    row_mean = assign / assign.sum(axis=1, keepdims=True)
    merged = row_mean @ m @ assign.T
    if tokens is None:
        labels = [str(g[0]) if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups]
    else:
        labels = ["".join(tokens[i][2:] if (k and tokens[i].startswith("##")) else tokens[i]
                          for k, i in enumerate(g)) for g in groups]
    return merged.astype(np.float32), labels, groups


def keep_top_k(matrix: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's k largest weights, set the rest to 0, no renormalising (BertViz/exBERT
    style sparsification, Hoover et al. 2020). matrix: [..., query, key] -> same shape."""
    m = np.asarray(matrix)
    n = m.shape[-1]
    if k >= n:
        return m.copy()
    if k <= 0:
        return np.zeros_like(m)
    top = np.argpartition(-m, k - 1, axis=-1)[..., :k]
    out = np.zeros_like(m)
    np.put_along_axis(out, top, np.take_along_axis(m, top, axis=-1), axis=-1)
    return out


def keep_cumulative(matrix: np.ndarray, share: float) -> np.ndarray:
    """exBERT's rule (Hoover et al., ACL 2020 demos): per row keep the largest weights until
    they cover `share` of the row's mass; the rest set to 0, not renormalised.

    matrix: [..., query, key] -> same shape. An edge is kept when the mass of the strictly
    earlier (larger) edges in the sorted row is still below share * row sum.
    """
    m = np.asarray(matrix)
    order = np.argsort(-m, axis=-1, kind="stable")
    sorted_vals = np.take_along_axis(m, order, axis=-1).astype(np.float64)
    before = np.cumsum(sorted_vals, axis=-1) - sorted_vals
    total = sorted_vals.sum(axis=-1, keepdims=True)
    keep_sorted = (before < share * total - 1e-12) & (sorted_vals > 0)
    keep = np.zeros(m.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, m, np.zeros_like(m))


PRUNE_MODES = ("none", "top_k", "cumulative")


@dataclass(frozen=True)
class TokenControls:
    """What a page's token controls ask for (docs/methods.md, section Token controls)."""

    hide_special: bool = False
    renormalise: bool = True  # with hide_special: rescale the kept keys so rows sum to 1 again
    merge_words: bool = False
    prune: str = "none"  # one of PRUNE_MODES
    k: int = 3  # prune "top_k": keep each row's k largest weights
    share: float = 0.7  # prune "cumulative": keep each row's largest weights up to this share


def apply_controls(matrix: np.ndarray, result: AttentionResult, controls: TokenControls, *,
                   allowed: np.ndarray | None = None) -> DrawMatrix:
    """One ``[n, n]`` matrix of ``result`` with the token controls applied, ready to draw.

    In this order: merge subwords into words (Clark et al. 2019: columns sum, rows mean; a
    causal mask cannot be folded into words and is dropped, with a note), hide special tokens
    (optionally renormalising the kept keys), prune each row (top k, or a cumulative share).
    Positions stay sentence positions: a merged word is its first piece's position and hidden
    tokens leave gaps, so labels, clicks and tables keep the sentence's numbering. Each step
    that changed something adds a note.
    """
    tokens = list(result.display_tokens)
    special = np.asarray(result.special_mask, dtype=bool).copy()
    positions = np.arange(len(tokens))
    notes: list[str] = []
    m = np.asarray(matrix, dtype=np.float32)
    if controls.merge_words:
        m, tokens, groups = merge_words(m, word_keys(result.word_ids, result.segment_ids), tokens)
        special = np.array([len(g) == 1 and bool(result.special_mask[g[0]]) for g in groups], dtype=bool)
        positions = np.array([g[0] for g in groups], dtype=np.int64)
        if allowed is not None:
            allowed = None
            notes.append("Words merged: masked (future) keys are folded into their words.")
        notes.append("Merged subwords into words (columns: sum over pieces; rows: mean over pieces).")
    if controls.hide_special and special.any() and (~special).sum() >= 1:
        m, kept = hide_special(m, special, controls.renormalise)
        tokens = [tokens[i] for i in kept]
        positions = positions[kept]
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)[np.ix_(kept, kept)]
        special = special[kept]
        kept_note = "renormalised so rows sum to 1." if controls.renormalise else "NOT renormalised (rows sum to < 1)."
        notes.append(f"Special tokens hidden; remaining keys {kept_note}")
    if controls.prune == "top_k":
        m = keep_top_k(m, controls.k)
        notes.append(f"Only each row's top {controls.k} connections are kept (others shown as 0).")
    elif controls.prune == "cumulative":
        m = keep_cumulative(m, controls.share)
        notes.append(f"Each row keeps its largest connections until they cover {controls.share:.0%} of its mass.")
    return DrawMatrix.of(m, tokens, positions=positions, allowed=allowed, special=special, notes=notes)


# --- listing --------------------------------------------------------------------------------

def strongest_connections(matrix: np.ndarray, tokens: Sequence[str], k: int = 5,
                          exclude_self: bool = True, allowed: np.ndarray | None = None, *,
                          positions: Sequence[int] | None = None) -> pd.DataFrame:
    """The k largest entries of one [query, key] matrix, as the tutorial's "strongest attention
    connections" list (its code prints all pairs before sorting; this returns only the top k).

    Returns rows rank, from, to, from_token, to_token, weight, in descending weight; from / to
    are ``positions`` of the row and column (default their indices 0..n-1: pass a DrawMatrix's
    positions so they stay sentence positions after hiding or merging tokens).
    `allowed` (bool [n, n]) drops cells that are not allowed (causal upper triangle).
    """
    m = np.asarray(matrix, dtype=np.float64).copy()
    n = m.shape[-1]
    if exclude_self:
        np.fill_diagonal(m, -np.inf)
    if allowed is not None:
        m[~np.asarray(allowed, dtype=bool)] = -np.inf
    m[np.isnan(m)] = -np.inf
    flat = m.ravel()
    k = int(max(0, min(k, int(np.isfinite(flat).sum()))))
    if k == 0:
        top = np.array([], dtype=int)
    else:
        top = np.argpartition(-flat, k - 1)[:k]
        top = top[np.argsort(-flat[top], kind="stable")]
    qi, kj = np.divmod(top, n)
    toks = np.asarray(list(tokens), dtype=object)
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    return pd.DataFrame({"rank": np.arange(1, len(top) + 1), "from": pos[qi], "to": pos[kj],
                         "from_token": toks[qi] if len(top) else np.array([], dtype=object),
                         "to_token": toks[kj] if len(top) else np.array([], dtype=object),
                         "weight": flat[top]})
