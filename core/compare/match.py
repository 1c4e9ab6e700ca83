"""Which head is which: for every head of A, the most similar head of B, by the Jensen-Shannon
divergence between their word-level rows (Clark et al. 2019, section 6, compare heads this way;
`core.analysis.statistics.jensen_shannon`), over one text or several (the tutorial's six).

- `match_heads` pools the divergence of every (head of A, head of B) pair over the rows of all
  texts: D[a, b] = (sum over texts and query words of JS(A_row, B_row)) / (number of rows).
  0 = the same attention on every word, ln 2 ≈ 0.693 = no overlap at all.
- `HeadMatching.best()`: for each head of A, the head of B with the smallest D.
- `HeadMatching.layer_map()`: [layers A, layers B], the mean over A's heads in a layer of the
  divergence to their best match in B's layer: where A's layers find their counterparts.
- `changed_heads` (a fine-tuned model against its base, same grid): each head against the SAME
  head of the other model, ranked by divergence, largest first: "which heads changed most?".

Rows are word-level (so different tokenizers compare), with special tokens hidden by default
(their rows renormalised over the words). Rows with no mass on either side are skipped.
No Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


MATCH_MAX_WORDS = 96
"""Texts longer than this (words) are left out of head matching: every pair of heads costs
m x m, so a 12 x 12 model against another at 96 words is already ~190 M cell divergences."""
_CHUNK = 2_000_000  # B heads compared at once: at most this many cells in flight (~16 MB float64)


def _row_entropies(heads: np.ndarray) -> np.ndarray:
    """sum_j x ln x of every row (0 ln 0 = 0): heads [..., m, m] (float64) -> [..., m]."""
    logs = np.log(heads, out=np.zeros_like(heads), where=heads > 0)
    return (heads * logs).sum(axis=-1)


def _row_divergences(head_a: np.ndarray, heads_b: np.ndarray, ent_a: np.ndarray,
                     ent_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """head_a [m, m], heads_b [k, m, m] and their row sums of x ln x (ent_a [m], ent_b [k, m]) ->
    (sum over usable rows of JS per head of B [k], number of usable rows [k]).

    JS(p, q) = KL(p || mid)/2 + KL(q || mid)/2 with mid = (p + q)/2 is, term by term,
    (sum p ln p + sum q ln q)/2 - sum mid ln mid: the same value as
    core.analysis.statistics.jensen_shannon (the tests hold them to 1e-12) with one logarithm per
    cell pair instead of two logarithms and two divisions, the rows' own terms computed once."""
    mid = 0.5 * (head_a[None] + heads_b)
    js = np.clip(0.5 * ent_a[None] + 0.5 * ent_b - _row_entropies(mid), 0.0, np.log(2.0))  # [k, m]
    usable = (head_a.sum(axis=-1) > 0)[None] & (heads_b.sum(axis=-1) > 0)
    return np.where(usable, js, 0.0).sum(axis=-1), usable.sum(axis=-1)


def divergence_sums(heads_a: np.ndarray, heads_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word-level heads of one text: heads_a [La, Ha, m, m], heads_b [Lb, Hb, m, m] ->
    (sums [La, Ha, Lb, Hb] of row divergences, row counts of the same shape)."""
    la, ha, m, _ = heads_a.shape
    lb, hb = heads_b.shape[:2]
    if heads_b.shape[2:] != (m, m):
        raise ValueError(f"word-level heads of different sizes {heads_a.shape} and {heads_b.shape}")
    flat_a = np.asarray(heads_a, dtype=np.float64).reshape(la * ha, m, m)
    flat_b = np.asarray(heads_b, dtype=np.float64).reshape(lb * hb, m, m)
    ent_a, ent_b = _row_entropies(flat_a), _row_entropies(flat_b)
    sums = np.zeros((la * ha, lb * hb))
    counts = np.zeros((la * ha, lb * hb))
    step = max(1, _CHUNK // max(m * m, 1))
    for i in range(la * ha):
        for k in range(0, lb * hb, step):
            sums[i, k:k + step], counts[i, k:k + step] = _row_divergences(flat_a[i], flat_b[k:k + step], ent_a[i],
                                                                        ent_b[k:k + step])
    return sums.reshape(la, ha, lb, hb), counts.reshape(la, ha, lb, hb)


@dataclass(frozen=True)
class HeadMatching:
    """Divergence between every head of A and every head of B, pooled over texts."""

    divergence: np.ndarray  # float [La, Ha, Lb, Hb], nats; NaN where no row was comparable
    rows: int  # query rows pooled (over all texts)
    texts: int

    @property
    def grid_a(self) -> tuple[int, int]:
        return int(self.divergence.shape[0]), int(self.divergence.shape[1])

    @property
    def grid_b(self) -> tuple[int, int]:
        return int(self.divergence.shape[2]), int(self.divergence.shape[3])

    def best(self) -> pd.DataFrame:
        """One row per head of A: layer, head, match_layer, match_head (B's most similar head)
        and divergence (nats), in A's order."""
        la, ha, lb, hb = self.divergence.shape
        flat = self.divergence.reshape(la, ha, lb * hb)
        filled = np.where(np.isnan(flat), np.inf, flat)
        idx = filled.argmin(axis=-1)
        val = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        return pd.DataFrame({
            "layer": np.repeat(np.arange(la), ha), "head": np.tile(np.arange(ha), la),
            "match_layer": (idx // hb).ravel(), "match_head": (idx % hb).ravel(),
            "divergence": val.ravel(),
        })

    def best_of(self, layer: int, head: int) -> tuple[int, int, float]:
        """(layer, head, divergence) of B's head most similar to A's (layer, head)."""
        row = self.divergence[layer, head]
        filled = np.where(np.isnan(row), np.inf, row)
        lb, hb = np.unravel_index(int(filled.argmin()), row.shape)
        return int(lb), int(hb), float(row[lb, hb])

    def layer_map(self) -> np.ndarray:
        """[La, Lb]: mean over A's heads in layer a of the divergence to their best match among
        B's heads in layer b (small = layer b holds heads like layer a's)."""
        filled = np.where(np.isnan(self.divergence), np.inf, self.divergence)
        best_in_layer = filled.min(axis=-1)  # [La, Ha, Lb]
        best_in_layer = np.where(np.isinf(best_in_layer), np.nan, best_in_layer)
        return np.nanmean(best_in_layer, axis=1) if best_in_layer.size else best_in_layer[:, 0]


def match_heads(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> HeadMatching:
    """Pool over texts: each pair is (A's word-level heads [La, Ha, m, m], B's [Lb, Hb, m, m]) for
    one text whose words line up (m may differ between texts)."""
    total = counts = None
    texts = 0
    for heads_a, heads_b in pairs:
        s, c = divergence_sums(np.asarray(heads_a), np.asarray(heads_b))
        total = s if total is None else total + s
        counts = c if counts is None else counts + c
        texts += 1
    if total is None or counts is None:
        raise ValueError("match_heads needs at least one text")
    with np.errstate(invalid="ignore", divide="ignore"):
        div = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    rows = int(counts.max()) if counts.size else 0
    return HeadMatching(divergence=div, rows=rows, texts=texts)


def changed_heads(matching: HeadMatching) -> pd.DataFrame:
    """A fine-tuned model against its base (same layer x head grid): every head against the same
    head of the other model, largest divergence first.

    Columns: rank, layer, head, divergence (to the same head), match_layer, match_head,
    match_divergence (its best match anywhere in the other model: a head that moved, rather
    than changed, has a small match divergence elsewhere).
    """
    if matching.grid_a != matching.grid_b:
        raise ValueError(f"'which heads changed' needs the same grid on both sides, "
                         f"not {matching.grid_a} and {matching.grid_b}")
    la, ha = matching.grid_a
    same = np.array([[matching.divergence[i, j, i, j] for j in range(ha)] for i in range(la)])
    best = matching.best()
    table = pd.DataFrame({
        "layer": np.repeat(np.arange(la), ha), "head": np.tile(np.arange(ha), la),
        "divergence": same.ravel(),
        "match_layer": best["match_layer"].to_numpy(), "match_head": best["match_head"].to_numpy(),
        "match_divergence": best["divergence"].to_numpy(),
    })
    table = table.sort_values(["divergence", "layer", "head"], ascending=[False, True, True],
                              na_position="last", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def word_level_pair(result_a, result_b, *, mode: str = "text", specials: str = "hidden",
                    renormalise: bool = True):
    """(Alignment, A's word-level heads, B's word-level heads) for two results; the heads are
    `core.compare.words.WordMatrix` with values [layers, heads, m, m]. Check
    `alignment.lines_up` and `core.compare.align.rows_line_up` before comparing cells."""
    from core.compare import align as align_mod
    from core.compare import words

    map_a, map_b = words.word_maps_for(result_a, result_b, mode)
    alignment = align_mod.align(map_a, map_b)
    heads_a = words.word_heads(result_a, map_a, specials=specials, renormalise=renormalise)
    heads_b = words.word_heads(result_b, map_b, specials=specials, renormalise=renormalise)
    return alignment, heads_a, heads_b
