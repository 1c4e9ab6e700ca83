"""Token sets and token operations: punctuation / [CLS] / [SEP] masks (from
core.models.token_sets), word keys, hiding special tokens, merging subwords into words, pruning
rows and the strongest connections. `core.render.controls.apply_controls` chains them into what
a page draws.

See docs/methods.md, sections Token sets, Token controls and Strongest connections. numpy and
pandas only; no Streamlit.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

# The token sets are defined below the attention layer (batched extraction needs them too) and
# are part of this module's API.
from core.models.token_sets import CLS_TOKENS, SEP_TOKENS, cls_mask, punctuation_mask, sep_mask  # noqa: F401


# --- token sets -----------------------------------------------------------------------------

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
