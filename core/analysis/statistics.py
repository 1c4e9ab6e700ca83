"""Per-head statistics (Clark et al. 2019; Voita et al. 2019; Kovaleva et al. 2019), Clark's
head labels, attention-sink measures for causal models (Xiao et al. 2024) and the
Jensen-Shannon divergence between heads. Vectorised over all layers x heads at once.

See docs/methods.md, sections Head statistics, Clark labels and Jensen-Shannon divergence.
numpy and pandas only; no Streamlit, no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.lenses import allowed_keys, as_4d, receptive_field
from core.analysis.patterns import PatternThresholds, classify_patterns
from core.analysis.tokens import cls_mask, punctuation_mask, sep_mask

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.attention.result import AttentionResult

_TINY = np.float32(1e-30)


@dataclass(frozen=True)
class ClarkThresholds:
    """Clark et al. 2019's head labels (editable). Broad: normalised entropy above
    `broad_entropy_norm` (Clark used 3.8 nats on ~128-token inputs, about 0.78 of ln 128);
    previous/next: that positional score above `positional`; special: share to special tokens
    above `special_share`."""

    broad_entropy_norm: float = 0.78
    positional: float = 0.5
    special_share: float = 0.6


STAT_COLUMNS = (
    "layer", "head", "entropy", "entropy_norm", "mean_distance", "distance_ratio", "cls_share",
    "sep_share", "special_share", "punct_share", "self_score", "prev_score", "next_score",
    "confidence", "first_token_share", "sink_ratio", "vertical_score", "diagonal_score", "block_score", "pattern",
    "broad", "attends_previous", "attends_next", "attends_special", "clark_label",
)


def head_statistics(att: np.ndarray, special_mask: np.ndarray, punct_mask: np.ndarray,
                    segment_ids: np.ndarray | None = None, causal: bool = False, *,
                    cls: np.ndarray | None = None, sep: np.ndarray | None = None,
                    pattern_thresholds: PatternThresholds = PatternThresholds(),
                    clark_thresholds: ClarkThresholds = ClarkThresholds()) -> pd.DataFrame:
    """Per-head statistics for all layers x heads at once (Clark et al. 2019, "What Does BERT
    Look At?"; Voita et al. 2019 for confidence; Kovaleva et al. 2019 for pattern classes).

    att: [layers, heads, query, key]; masks bool [n]; segment_ids int [n].
    Returns one row per (layer, head), columns `STAT_COLUMNS`:
    - entropy: mean over rows of H_i = -sum_j A_ij ln A_ij (nats).
    - entropy_norm: mean of H_i / ln(m_i), m_i = keys row i may see (n, or i+1 when causal);
      rows with m_i = 1 are skipped (NaN when no row is left).
    - mean_distance: mean over rows of D_i = sum_j A_ij |i - j|.
    - distance_ratio: mean_i D_i / mean_i U_i, U_i the distance uniform attention over row i's
      keys would give. Encoders: mean_i U_i = (n^2 - 1) / (3n). Causal: U_i = i / 2 (uniform
      over keys 0..i), so the ratio compares to the per-row uniform baseline.
    - cls_share / sep_share / special_share / punct_share / first_token_share:
      (1/n) sum_i sum_{j in T} A_ij for T = [CLS], [SEP], all special tokens, punctuation, {0};
      for causal models first_token_share averages rows i >= 1 only (row 0 sees only itself, so
      its 1.0 says nothing).
    - sink_ratio: first_token_share divided by what uniform attention would give the first key,
      the mean of 1/m_i over the same rows (1/(i+1) causal, 1/n encoders): 1 = no preference,
      > 1 an attention sink (Xiao et al. 2024). See docs/methods.md#first-token-share.
    - self_score = mean_i A_ii; prev_score = mean_{i>=1} A_{i,i-1}; next_score =
      mean_{i<=n-2} A_{i,i+1} (NaN for causal models: those keys are not allowed).
    - confidence: mean over rows of max_j A_ij over NON-special keys (special keys excluded,
      or every no-op head looks confident); rows with no allowed non-special key are skipped.
    - vertical_score V = cls_share + sep_share (causal models without special tokens use the
      first token, their attention sink); diagonal_score D = mean_i sum_{|i-j|<=1} A_ij;
      block_score = within-segment share minus its uniform expectation; pattern: see
      `classify_patterns`; broad / attends_* / clark_label: see `clark_labels`.
    """
    a = as_4d(att)
    n_layers, n_heads, n, _ = a.shape
    special = np.asarray(special_mask, dtype=bool).reshape(n)
    punct = np.asarray(punct_mask, dtype=bool).reshape(n)
    seg = np.zeros(n, dtype=np.int64) if segment_ids is None else np.asarray(segment_ids, dtype=np.int64)
    if cls is None:  # positional fallback: the special token at position 0 is [CLS] / <s>
        cls = special & (np.arange(n) == 0)
    if sep is None:
        sep = special & ~np.asarray(cls, dtype=bool)
    cls = np.asarray(cls, dtype=bool)
    sep = np.asarray(sep, dtype=bool)
    m = receptive_field(n, causal)
    flat = a.reshape(n_layers * n_heads, n, n)

    shares = _shares(flat, m, causal, cls=cls, sep=sep, special=special, punct=punct)
    if causal and not (cls | sep).any():
        vertical_score = shares["first_token_share"]  # GPT-2 has no [CLS]/[SEP]: its vertical stripe is the sink
    else:
        vertical_score = shares["cls_share"] + shares["sep_share"]
    positional = _positional_scores(flat, causal)
    layer_col, head_col = np.divmod(np.arange(n_layers * n_heads), n_heads)
    df = pd.DataFrame({
        "layer": layer_col, "head": head_col, **_entropies(flat, m), **_distances(flat, causal), **shares,
        **positional, "confidence": _confidence(flat, special, causal), "vertical_score": vertical_score,
        "block_score": _block_score(flat, seg, m, causal),
    })
    df["pattern"] = classify_patterns(df, pattern_thresholds)
    labels = clark_labels(df, clark_thresholds)
    for col in labels.columns:
        df[col] = labels[col]
    return df[list(STAT_COLUMNS)]


def _entropies(flat: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    """entropy and entropy_norm of each head of ``flat[LH, n, n]``; m: keys each row may see."""
    # 0 ln 0 = 0 (the clamp makes 0 * ln(tiny) = 0 without a branch)
    plogp = np.maximum(flat, _TINY)  # one n^2 temporary, reused in place
    np.log(plogp, out=plogp)
    plogp *= flat
    row_h = -plogp.sum(axis=-1).astype(np.float64)  # [LH, n]
    del plogp
    valid = m > 1
    entropy_norm = ((row_h[:, valid] / np.log(m[valid])).mean(axis=1) if valid.any()
                    else np.full(len(flat), np.nan))
    return {"entropy": row_h.mean(axis=1), "entropy_norm": entropy_norm}


def _distances(flat: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """mean_distance and distance_ratio (against uniform attention over each row's keys)."""
    n = flat.shape[-1]
    idx = np.arange(n)
    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float32)  # [n, n]
    row_d = np.einsum("kij,ij->ki", flat, dist).astype(np.float64)  # [LH, n]; float32 inside: no copy
    mean_distance = row_d.mean(axis=1)
    uniform_d = idx / 2.0 if causal else dist.sum(axis=1, dtype=np.float64) / n
    base = uniform_d.mean()
    distance_ratio = mean_distance / base if base > 0 else np.full(len(flat), np.nan)
    return {"mean_distance": mean_distance, "distance_ratio": distance_ratio}


def _shares(flat: np.ndarray, m: np.ndarray, causal: bool, *, cls: np.ndarray, sep: np.ndarray,
            special: np.ndarray, punct: np.ndarray) -> dict[str, np.ndarray]:
    """The share of attention to [CLS], [SEP], special tokens, punctuation and the first token,
    and the first token's share against uniform attention (sink_ratio)."""
    n = flat.shape[-1]
    col_mass = flat.sum(axis=1).astype(np.float64) / n  # [LH, n]: (1/n) sum_i A_ij
    sink_rows = np.arange(n) >= 1 if causal else np.ones(n, dtype=bool)
    if sink_rows.any():
        first_share = flat[:, sink_rows, 0].astype(np.float64).mean(axis=1)
        sink_ratio = first_share / float((1.0 / m[sink_rows]).mean())
    else:  # a one-token causal text: row 0 is all there is
        first_share = sink_ratio = np.full(len(flat), np.nan)
    return {"cls_share": col_mass @ cls, "sep_share": col_mass @ sep, "special_share": col_mass @ special,
            "punct_share": col_mass @ punct, "first_token_share": first_share, "sink_ratio": sink_ratio}


def _positional_scores(flat: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """self_score, prev_score, next_score (NaN when causal) and diagonal_score."""
    n = flat.shape[-1]
    idx = np.arange(n)
    diag = flat[:, idx, idx].astype(np.float64)
    self_score = diag.mean(axis=1)
    if n > 1:
        prev = flat[:, idx[1:], idx[:-1]].astype(np.float64)
        nxt = flat[:, idx[:-1], idx[1:]].astype(np.float64)
        prev_score = prev.mean(axis=1)
        next_score = np.full(len(flat), np.nan) if causal else nxt.mean(axis=1)
        diag_score = (diag.sum(axis=1) + prev.sum(axis=1) + nxt.sum(axis=1)) / n
    else:
        prev_score = np.full(len(flat), np.nan)
        next_score = np.full(len(flat), np.nan)
        diag_score = self_score
    return {"self_score": self_score, "prev_score": prev_score, "next_score": next_score,
            "diagonal_score": diag_score}


def _confidence(flat: np.ndarray, special: np.ndarray, causal: bool) -> np.ndarray:
    """Mean over rows of the largest weight on a non-special key (rows that see none skipped)."""
    nonspecial = ~special
    if not nonspecial.any():
        return np.full(len(flat), np.nan)
    # `where` instead of flat[:, :, nonspecial]: no copy of the n^2 cells (10x faster at n=512)
    row_max = np.max(flat, axis=-1, where=nonspecial, initial=-np.inf).astype(np.float64)  # [LH, n]
    idx = np.arange(flat.shape[-1])
    rows_ok = idx >= int(np.argmax(nonspecial)) if causal else np.ones(len(idx), dtype=bool)
    return row_max[:, rows_ok].mean(axis=1)


def _block_score(flat: np.ndarray, seg: np.ndarray, m: np.ndarray, causal: bool) -> np.ndarray:
    """Within-segment share minus what uniform attention over allowed keys would give."""
    n = flat.shape[-1]
    idx = np.arange(n)
    segs, seg_index = np.unique(seg, return_inverse=True)
    onehot = np.zeros((n, len(segs)), dtype=np.float32)
    onehot[idx, seg_index] = 1.0
    per_seg = flat @ onehot  # [LH, n, S]: row i's mass on each segment
    within = per_seg[:, idx, seg_index].astype(np.float64).mean(axis=1)
    same = seg[:, None] == seg[None, :]
    expected = ((same & allowed_keys(n, causal)).sum(axis=1) / m).mean()
    return within - expected


def head_statistics_for(result: AttentionResult, **kwargs) -> pd.DataFrame:
    """`head_statistics` with the masks taken from an AttentionResult (Clark et al. 2019)."""
    special = np.asarray(result.special_mask, dtype=bool)
    return head_statistics(
        result.attention, special, punctuation_mask(result.display_tokens, special),
        result.segment_ids, result.causal,
        cls=cls_mask(result.tokens, special), sep=sep_mask(result.tokens, special), **kwargs,
    )

def clark_labels(stats: pd.DataFrame, thresholds: ClarkThresholds = ClarkThresholds()) -> pd.DataFrame:
    """Clark et al. 2019 ("What Does BERT Look At?") head labels from `head_statistics` columns.

    Returns bool columns broad, attends_previous, attends_next, attends_special and a text
    column clark_label ("broad, previous, special", or "" when none applies).
    """
    t = thresholds
    broad = stats["entropy_norm"].to_numpy(dtype=np.float64) > t.broad_entropy_norm
    prev = stats["prev_score"].to_numpy(dtype=np.float64) > t.positional
    nxt = stats["next_score"].to_numpy(dtype=np.float64) > t.positional  # NaN compares False
    special = stats["special_share"].to_numpy(dtype=np.float64) > t.special_share
    names = np.array(["broad", "previous", "next", "special"], dtype=object)
    flags = np.stack([broad, prev, nxt, special], axis=1)
    label = [", ".join(names[row]) for row in flags]  # O(layers x heads)
    return pd.DataFrame({"broad": broad, "attends_previous": prev, "attends_next": nxt,
                         "attends_special": special, "clark_label": label}, index=stats.index)

# --- causal models --------------------------------------------------------------------------

def sink_profile(att: np.ndarray) -> np.ndarray:
    """Per row, A[i, 0] divided by the uniform 1/(i+1) (Xiao et al. 2024; 1.0 = uniform).

    att: [layers, heads, query, key] -> [layers, heads, query].
    """
    a = as_4d(att)
    n = a.shape[-1]
    return (a[..., :, 0].astype(np.float64) * np.arange(1, n + 1)).astype(np.float32)


# --- comparing heads ------------------------------------------------------------------------

def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row Jensen-Shannon divergence in nats, 0..ln 2 (Clark et al. 2019 compare heads with
    it, section 6). p, q: [..., query, key] with rows summing to 1 -> [..., query]."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    m = 0.5 * (a + b)

    def kl(x: np.ndarray) -> np.ndarray:
        ratio = np.divide(x, m, out=np.ones_like(x), where=(x > 0) & (m > 0))
        return (x * np.log(ratio)).sum(axis=-1)

    return np.clip(0.5 * kl(a) + 0.5 * kl(b), 0.0, np.log(2.0))


def thresholds_table(pattern: PatternThresholds | None = None,
                     clark: ClarkThresholds | None = None) -> pd.DataFrame:
    """The thresholds in force (Kovaleva et al. 2019 classes, Clark et al. 2019 labels; defaults
    when None), as a table a page can show next to its classes."""
    rows = [("Kovaleva pattern", k, v) for k, v in asdict(pattern or PatternThresholds()).items()]
    rows += [("Clark label", k, v) for k, v in asdict(clark or ClarkThresholds()).items()]
    return pd.DataFrame(rows, columns=["rule", "threshold", "value"])
