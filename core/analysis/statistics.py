"""Pure, vectorised analysis of attention weights (numpy + pandas; no Streamlit, no torch).

Conventions (see /work/shared/ANALYSIS.md): `weights: np.ndarray  # [layers, heads, query, key]`;
row i (query, attending FROM) sums to 1 over the keys j (attending TO) it may see. Layers and
heads are 0-indexed. Head numbers are an arbitrary order inside each layer: head 3 of layer 1
has nothing to do with head 3 of layer 2.

Every public function works on plain arrays, so it can be tested on synthetic heads and reused
for any model. Loops run over layers at most; nothing loops in Python over the n^2 cells,
except attention flow, whose max-flow solver (networkx) is inherently per edge and therefore
bounded by `FLOW_MAX_TOKENS`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from core.errors import AttentionDashboardError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.attention import AttentionResult

FLOW_MAX_TOKENS = 40  # one query row at 6 layers: ~0.6 s at n=40 on 2 CPU cores; grows ~n^3
DETERMINERS = frozenset({"the", "a", "an"})  # the tutorial's "syntactic" rule
CATEGORIES = ("positional", "special", "syntactic", "semantic")  # tutorial order of precedence
CLS_TOKENS = frozenset({"[CLS]", "<s>", "<cls>", "<|endoftext|>", "<|begin_of_text|>", "<bos>"})
SEP_TOKENS = frozenset({"[SEP]", "</s>", "<sep>", "<eos>"})
_TINY = np.float32(1e-30)


class FlowTooLargeError(AttentionDashboardError, ValueError):
    """Attention flow was asked for more tokens than the bound allows."""

    def __init__(self, n_tokens: int, limit: int) -> None:
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"Attention flow solves one max-flow problem per token and gets slow quickly: "
            f"this text has {n_tokens} tokens, the limit is {limit}. Shorten the text "
            f"(or lower the token limit), or use attention rollout, which has no limit."
        )


# --- shapes and small helpers ---------------------------------------------------------------

def _as_4d(att: np.ndarray) -> np.ndarray:
    """[layers, heads, n, n] view of att; a single head [n, n] or a layer [H, n, n] is lifted."""
    a = np.asarray(att)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected attention of shape [layers, heads, n, n], got {np.shape(att)}")
    return a


def _allowed(n: int, causal: bool) -> np.ndarray:
    """bool [n, n]: keys each query may see (lower triangle incl. diagonal when causal)."""
    if causal:
        return np.tril(np.ones((n, n), dtype=bool))
    return np.ones((n, n), dtype=bool)


def receptive_field(n: int, causal: bool) -> np.ndarray:
    """int [n]: m_i, the number of keys row i may see (n for encoders, i+1 for causal models).

    The receptive field Abnar & Zuidema (ACL 2020) say causal rows must be normalised by.
    """
    return np.arange(1, n + 1) if causal else np.full(n, n)


def head_average(att: np.ndarray) -> np.ndarray:
    """Mean over heads (Abnar & Zuidema, ACL 2020, use it as the layer's attention).

    att: [layers, heads, query, key] -> [layers, query, key]
    """
    a = _as_4d(att)
    return (a.sum(axis=1) / np.float32(a.shape[1])).astype(np.float32)  # float32: 4x cheaper than float64


def residual_corrected(att: np.ndarray) -> np.ndarray:
    """Ahat = 0.5 * Abar + 0.5 * I per layer (Abnar & Zuidema, ACL 2020, residual connection).

    att: [layers, heads, query, key] -> float64 [layers, query, key]; rows still sum to 1.
    """
    avg = head_average(att).astype(np.float64)
    n = avg.shape[-1]
    return 0.5 * avg + 0.5 * np.eye(n)[None]


# --- attention rollout and flow -------------------------------------------------------------

def rollout(att: np.ndarray, causal: bool = False) -> np.ndarray:
    """Attention rollout per layer (Abnar & Zuidema, "Quantifying Attention Flow", ACL 2020).

    att: [layers, heads, query, key] -> R: [layers, query, key], with R[0] = Ahat[0] and
    R[l] = Ahat[l] @ R[l-1] (the higher layer multiplies from the left), so row i of R[l] is
    the input attribution of query i after layer l; rows sum to 1. With `causal`, entries
    above the diagonal (keys not allowed) are forced to exact zeros. The paper warns that
    causal rows need normalising by their receptive field: see `relative_to_uniform`.
    """
    ahat = head_average(att)
    n = ahat.shape[-1]
    ahat *= np.float32(0.5)
    ahat[:, np.arange(n), np.arange(n)] += np.float32(0.5)
    if causal:
        ahat = np.tril(ahat)
    out = np.empty_like(ahat)  # float32 products: rows stay stochastic to ~1e-6, half the cost of float64
    out[0] = ahat[0]
    for layer in range(1, ahat.shape[0]):
        np.matmul(ahat[layer], out[layer - 1], out=out[layer])
    return out


def rollout_last(att: np.ndarray, causal: bool = False) -> np.ndarray:
    """Rollout after the last layer (Abnar & Zuidema, ACL 2020). att [L, H, n, n] -> [n, n]."""
    return rollout(att, causal=causal)[-1]


def relative_to_uniform(matrix: np.ndarray, causal: bool) -> np.ndarray:
    """Each row divided by its uniform value 1/m_i (Abnar & Zuidema 2020: normalise causal rows
    by their receptive field). 1.0 means "as much as uniform attention would give".

    matrix: [..., query, key] -> same shape, float32.
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[-1]
    return (m * receptive_field(n, causal)[:, None]).astype(np.float32)


def _flow_graph(ahat: np.ndarray, top: int, sources: Sequence[int] | None):  # -> nx.DiGraph
    """Layered graph: node l*n + i; edge (l, i) -> (l-1, j) with capacity Ahat[l-1][i, j].

    Only levels 0..top are built; at the top level only `sources` get edges (None = all).
    """
    import networkx as nx

    n = ahat.shape[-1]
    graph = nx.DiGraph()
    graph.add_nodes_from(range((top + 1) * n))
    for level in range(1, top + 1):
        cap = ahat[level - 1]
        rows = np.arange(n) if (level < top or sources is None) else np.asarray(sources, dtype=int)
        sub = cap[rows]
        qi, kj = np.nonzero(sub > 0)
        u = (level * n + rows[qi]).tolist()
        v = ((level - 1) * n + kj).tolist()
        c = sub[qi, kj].tolist()
        graph.add_edges_from((a, b, {"capacity": w}) for a, b, w in zip(u, v, c))
    return graph


def _check_flow_size(n: int, max_tokens: int | None) -> None:
    if max_tokens is not None and n > max_tokens:
        raise FlowTooLargeError(n, max_tokens)


def _flow_rows(att: np.ndarray, queries: Sequence[int], layer: int | None, causal: bool,
               progress: Callable[[float], None] | None, max_tokens: int | None) -> np.ndarray:
    from networkx.algorithms.flow import build_residual_network, shortest_augmenting_path
    from networkx.algorithms.flow import maximum_flow_value

    ahat = residual_corrected(att)
    if causal:
        ahat = np.tril(ahat)
    n_layers, n = ahat.shape[0], ahat.shape[-1]
    _check_flow_size(n, max_tokens)
    top = n_layers if layer is None else int(layer) + 1
    if not 1 <= top <= n_layers:
        raise ValueError(f"layer must be in 0..{n_layers - 1}, got {layer}")
    for q in queries:
        if not 0 <= q < n:
            raise ValueError(f"query must be in 0..{n - 1}, got {q}")
    graph = _flow_graph(ahat, top, queries)
    residual = build_residual_network(graph, "capacity")  # reused by every solve (it resets flows)
    out = np.zeros((len(queries), n), dtype=np.float64)
    total, done = len(queries) * n, 0
    for r, q in enumerate(queries):
        src = top * n + q
        for j in range(n):
            if not (causal and j > q):  # causal: no path to a later token
                # shortest augmenting path with a reused residual network: measured fastest of
                # networkx's solvers here (n=40, L=6: 0.57 s vs preflow_push 1.0 s)
                out[r, j] = maximum_flow_value(graph, src, j, capacity="capacity",
                                               flow_func=shortest_augmenting_path, residual=residual)
            done += 1
            if progress is not None:
                progress(done / total)
    sums = out.sum(axis=1, keepdims=True)
    out = np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)
    return out.astype(np.float32)


def attention_flow(att: np.ndarray, query: int, layer: int | None = None, *, causal: bool = False,
                   progress: Callable[[float], None] | None = None,
                   max_tokens: int | None = FLOW_MAX_TOKENS) -> np.ndarray:
    """Attention flow for one query (Abnar & Zuidema, "Quantifying Attention Flow", ACL 2020).

    att: [layers, heads, query, key] -> [key]: max-flow from node (layer+1, query) to every
    input node (0, j) in the layered graph of residual-corrected head averages, divided by
    the row sum. `layer` None = the top layer. `progress(fraction)` is called after each of the
    n max-flow solves. Raises FlowTooLargeError above `max_tokens` (None = no bound).
    """
    return _flow_rows(att, [int(query)], layer, causal, progress, max_tokens)[0]


def attention_flow_matrix(att: np.ndarray, layer: int | None = None, *, causal: bool = False,
                          progress: Callable[[float], None] | None = None,
                          max_tokens: int | None = FLOW_MAX_TOKENS) -> np.ndarray:
    """Attention flow for every query (Abnar & Zuidema, ACL 2020); n^2 max-flows: small n only.

    att: [layers, heads, query, key] -> [query, key], rows sum to 1.
    """
    n = _as_4d(att).shape[-1]
    return _flow_rows(att, list(range(n)), layer, causal, progress, max_tokens)


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


# --- head statistics ------------------------------------------------------------------------

@dataclass(frozen=True)
class PatternThresholds:
    """Rule version of Kovaleva et al. 2019's five classes (editable; defaults: ANALYSIS.md).

    V = share to [CLS]/[SEP]; D = mass on |i - j| <= 1; B = within-segment share minus its
    uniform expectation. Checked in this order: vertical, diagonal, vertical+diagonal, block.
    """

    vertical_min_v: float = 0.6
    vertical_max_d: float = 0.3
    diagonal_min_d: float = 0.5
    diagonal_max_v: float = 0.3
    both_min_sum: float = 0.7
    both_min_each: float = 0.25
    block_min: float = 0.3


@dataclass(frozen=True)
class ClarkThresholds:
    """Clark et al. 2019's head labels (editable). Broad: normalised entropy above
    `broad_entropy_norm` (Clark used 3.8 nats on ~128-token inputs, about 0.78 of ln 128);
    previous/next: that positional score above `positional`; special: share to special tokens
    above `special_share`."""

    broad_entropy_norm: float = 0.78
    positional: float = 0.5
    special_share: float = 0.6


PATTERN_CLASSES = ("vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous")

STAT_COLUMNS = (
    "layer", "head", "entropy", "entropy_norm", "mean_distance", "distance_ratio", "cls_share",
    "sep_share", "special_share", "punct_share", "self_score", "prev_score", "next_score",
    "confidence", "first_token_share", "vertical_score", "diagonal_score", "block_score", "pattern",
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
      (1/n) sum_i sum_{j in T} A_ij for T = [CLS], [SEP], all special tokens, punctuation, {0}.
      first_token_share is the attention-sink measure for causal models (Xiao et al. 2024).
    - self_score = mean_i A_ii; prev_score = mean_{i>=1} A_{i,i-1}; next_score =
      mean_{i<=n-2} A_{i,i+1} (NaN for causal models: those keys are not allowed).
    - confidence: mean over rows of max_j A_ij over NON-special keys (special keys excluded,
      or every no-op head looks confident); rows with no allowed non-special key are skipped.
    - vertical_score V = cls_share + sep_share (causal models without special tokens use the
      first token, their attention sink); diagonal_score D = mean_i sum_{|i-j|<=1} A_ij;
      block_score = within-segment share minus its uniform expectation; pattern: see
      `classify_patterns`; broad / attends_* / clark_label: see `clark_labels`.
    """
    a = _as_4d(att)
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
    idx = np.arange(n)
    flat = a.reshape(n_layers * n_heads, n, n)

    # entropy: 0 ln 0 = 0 (the clamp makes 0 * ln(tiny) = 0 without a branch)
    plogp = np.maximum(flat, _TINY)  # one n^2 temporary, reused in place
    np.log(plogp, out=plogp)
    plogp *= flat
    row_h = -plogp.sum(axis=-1).astype(np.float64)  # [LH, n]
    del plogp
    entropy = row_h.mean(axis=1)
    valid = m > 1
    entropy_norm = ((row_h[:, valid] / np.log(m[valid])).mean(axis=1) if valid.any()
                    else np.full(len(flat), np.nan))

    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float32)  # [n, n]
    row_d = np.einsum("kij,ij->ki", flat, dist).astype(np.float64)  # [LH, n]; float32 inside: no copy
    mean_distance = row_d.mean(axis=1)
    if causal:
        uniform_d = idx / 2.0
    else:
        uniform_d = (dist.sum(axis=1, dtype=np.float64) / n)
    base = uniform_d.mean()
    distance_ratio = mean_distance / base if base > 0 else np.full(len(flat), np.nan)

    col_mass = flat.sum(axis=1).astype(np.float64) / n  # [LH, n]: (1/n) sum_i A_ij
    cls_share = col_mass @ cls
    sep_share = col_mass @ sep
    special_share = col_mass @ special
    punct_share = col_mass @ punct
    first_share = col_mass[:, 0]

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

    nonspecial = ~special
    if nonspecial.any():
        # `where` instead of flat[:, :, nonspecial]: no copy of the n^2 cells (10x faster at n=512)
        row_max = np.max(flat, axis=-1, where=nonspecial, initial=-np.inf).astype(np.float64)  # [LH, n]
        first_plain = int(np.argmax(nonspecial))
        rows_ok = idx >= first_plain if causal else np.ones(n, dtype=bool)
        confidence = row_max[:, rows_ok].mean(axis=1)
    else:
        confidence = np.full(len(flat), np.nan)

    # block: within-segment share minus what uniform attention over allowed keys would give
    segs, seg_index = np.unique(seg, return_inverse=True)
    onehot = np.zeros((n, len(segs)), dtype=np.float32)
    onehot[idx, seg_index] = 1.0
    per_seg = flat @ onehot  # [LH, n, S]: row i's mass on each segment
    within = per_seg[:, idx, seg_index].astype(np.float64).mean(axis=1)
    same = seg[:, None] == seg[None, :]
    expected = ((same & _allowed(n, causal)).sum(axis=1) / m).mean()
    block_score = within - expected

    vertical_keys = cls | sep
    if causal and not vertical_keys.any():
        vertical_score = first_share  # GPT-2 has no [CLS]/[SEP]: its vertical stripe is the sink
    else:
        vertical_score = cls_share + sep_share

    layer_col, head_col = np.divmod(np.arange(n_layers * n_heads), n_heads)
    df = pd.DataFrame({
        "layer": layer_col, "head": head_col, "entropy": entropy, "entropy_norm": entropy_norm,
        "mean_distance": mean_distance, "distance_ratio": distance_ratio, "cls_share": cls_share,
        "sep_share": sep_share, "special_share": special_share, "punct_share": punct_share,
        "self_score": self_score, "prev_score": prev_score, "next_score": next_score,
        "confidence": confidence, "first_token_share": first_share, "vertical_score": vertical_score,
        "diagonal_score": diag_score, "block_score": block_score,
    })
    df["pattern"] = classify_patterns(df, pattern_thresholds)
    labels = clark_labels(df, clark_thresholds)
    for col in labels.columns:
        df[col] = labels[col]
    return df[list(STAT_COLUMNS)]


def head_statistics_for(result: AttentionResult, **kwargs) -> pd.DataFrame:
    """`head_statistics` with the masks taken from an AttentionResult (Clark et al. 2019)."""
    special = np.asarray(result.special_mask, dtype=bool)
    return head_statistics(
        result.attention, special, punctuation_mask(result.display_tokens, special),
        result.segment_ids, result.causal,
        cls=cls_mask(result.tokens, special), sep=sep_mask(result.tokens, special), **kwargs,
    )


def classify_patterns(stats: pd.DataFrame, thresholds: PatternThresholds = PatternThresholds()) -> pd.Series:
    """Kovaleva et al. 2019 ("Revealing the Dark Secrets of BERT") classes, as a transparent
    rule on `vertical_score` (V), `diagonal_score` (D) and `block_score` (B) instead of the
    paper's CNN. First match wins: vertical (V >= 0.6 and D < 0.3), diagonal (D >= 0.5 and
    V < 0.3), vertical+diagonal (V + D >= 0.7, each >= 0.25), block (B >= 0.3), heterogeneous.
    """
    t = thresholds
    v = stats["vertical_score"].to_numpy(dtype=np.float64)
    d = stats["diagonal_score"].to_numpy(dtype=np.float64)
    b = np.nan_to_num(stats["block_score"].to_numpy(dtype=np.float64), nan=-np.inf)
    conditions = [
        (v >= t.vertical_min_v) & (d < t.vertical_max_d),
        (d >= t.diagonal_min_d) & (v < t.diagonal_max_v),
        (v + d >= t.both_min_sum) & (v >= t.both_min_each) & (d >= t.both_min_each),
        b >= t.block_min,
    ]
    labels = np.select(conditions, list(PATTERN_CLASSES[:4]), default=PATTERN_CLASSES[4])
    return pd.Series(labels, index=stats.index, name="pattern")


@dataclass(frozen=True)
class PatternSummary:
    labelled: pd.DataFrame  # the statistics with a "pattern" column after layer, head
    counts: pd.DataFrame  # pattern, heads, share (largest first)
    codes: np.ndarray  # int [layers, heads]: index into PATTERN_CLASSES


def pattern_summary(stats: pd.DataFrame, thresholds: PatternThresholds = PatternThresholds()) -> PatternSummary:
    """Classes per head (classify_patterns), how many heads each class has, and a layer x head
    grid of class codes for the overview chart."""
    labelled = stats.copy()
    labelled["pattern"] = classify_patterns(stats, thresholds).to_numpy()
    ordered = ["layer", "head", "pattern"] + [c for c in labelled.columns if c not in {"layer", "head", "pattern"}]
    labelled = labelled[ordered]
    counts = labelled["pattern"].value_counts().rename_axis("pattern").reset_index(name="heads")
    counts["share"] = (counts["heads"] / max(len(labelled), 1)).round(3)
    index = {name: i for i, name in enumerate(PATTERN_CLASSES)}
    grid = labelled.pivot(index="layer", columns="head", values="pattern").sort_index().sort_index(axis=1)
    codes = np.vectorize(lambda name: index.get(name, len(PATTERN_CLASSES) - 1), otypes=[int])(grid.to_numpy())
    return PatternSummary(labelled.reset_index(drop=True), counts, codes)


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


# --- template scores ------------------------------------------------------------------------

TEMPLATE_NAMES = ("self", "previous", "next", "cls", "sep", "punctuation", "same_segment")


def make_templates(n: int, *, cls: np.ndarray | None = None, sep: np.ndarray | None = None,
                   punct: np.ndarray | None = None, segment_ids: np.ndarray | None = None,
                   causal: bool = False) -> dict[str, np.ndarray]:
    """0/1 templates P [n, n] for `template_scores` (TransformerLens head detector's patterns).

    self: diagonal; previous: j = i-1; next: j = i+1; cls / sep / punctuation: those key
    columns; same_segment: seg_i == seg_j. Causal: entries above the diagonal are 0.
    """
    idx = np.arange(n)
    allowed = _allowed(n, causal)

    def columns(mask: np.ndarray | None) -> np.ndarray:
        col = np.zeros(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        return np.broadcast_to(col[None, :], (n, n))

    seg = np.zeros(n, dtype=np.int64) if segment_ids is None else np.asarray(segment_ids)
    out = {
        "self": idx[:, None] == idx[None, :],
        "previous": idx[:, None] - 1 == idx[None, :],
        "next": idx[:, None] + 1 == idx[None, :],
        "cls": columns(cls),
        "sep": columns(sep),
        "punctuation": columns(punct),
        "same_segment": seg[:, None] == seg[None, :],
    }
    return {k: (v & allowed) for k, v in out.items()}


def template_scores(att: np.ndarray, templates: Mapping[str, np.ndarray], *,
                    exclude_first: bool = False, exclude_diagonal: bool = False) -> pd.DataFrame:
    """"mul" template score sum(A * P) / sum(A) per head (TransformerLens head detector,
    after Olsson et al. 2022); `exclude_first` drops attention to the first token (key 0),
    `exclude_diagonal` drops attention to the query itself, from both sums.

    att: [layers, heads, query, key]; templates: name -> 0/1 [n, n].
    Returns one row per (layer, head): layer, head, then one column per template (NaN when
    nothing is left after the exclusions).
    """
    a = _as_4d(att)
    n_layers, n_heads, n, _ = a.shape
    flat = a.reshape(n_layers * n_heads, n, n)
    keep = np.ones((n, n), dtype=np.float32)
    if exclude_first:
        keep[:, 0] = 0.0
    if exclude_diagonal:
        np.fill_diagonal(keep, 0.0)
    denom = np.einsum("kij,ij->k", flat, keep, dtype=np.float64)
    layer_col, head_col = np.divmod(np.arange(n_layers * n_heads), n_heads)
    data: dict[str, np.ndarray] = {"layer": layer_col, "head": head_col}
    for name, template in templates.items():
        p = np.asarray(template, dtype=np.float32) * keep
        if p.shape != (n, n):
            raise ValueError(f"template {name!r} has shape {p.shape}, expected {(n, n)}")
        num = np.einsum("kij,ij->k", flat, p, dtype=np.float64)
        data[name] = np.divide(num, denom, out=np.full_like(num, np.nan), where=denom > 0)
    return pd.DataFrame(data)


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


# --- the tutorial's categorisation ----------------------------------------------------------

def strong_mask(layer_avg: np.ndarray, threshold: float,
                mode: Literal["absolute", "relative", "cumulative"] = "absolute",
                causal: bool = False) -> np.ndarray:
    """bool [..., n, n] of "strong" off-diagonal edges.

    absolute: weight > threshold (the tutorial: 0.1). relative: weight > threshold / m_i, i.e.
    `threshold` times uniform attention (1/n, or 1/(i+1) when causal). cumulative: exBERT's
    rule, the largest edges of each row that cover `threshold` of its mass (see keep_cumulative).
    """
    m = np.asarray(layer_avg)
    n = m.shape[-1]
    if mode == "absolute":
        strong = m > threshold
    elif mode == "relative":
        strong = m > (threshold / receptive_field(n, causal))[:, None]
    elif mode == "cumulative":
        strong = keep_cumulative(m, threshold) > 0
    else:
        raise ValueError(f"mode must be 'absolute', 'relative' or 'cumulative', got {mode!r}")
    return strong & ~np.eye(n, dtype=bool)


def categorise_connections(layer_avg: np.ndarray, tokens: Sequence[str], special_mask: np.ndarray,
                           threshold: float = 0.1,
                           mode: Literal["absolute", "relative", "cumulative"] = "absolute",
                           causal: bool = False) -> pd.DataFrame:
    """The tutorial notebook's categorisation of strong head-averaged edges (i != j), kept to
    show its weakness (uniform 1/n passes 0.1 for every n < 10).

    layer_avg: [layers, query, key] (`head_average`); tokens: display labels [n].
    Precedence, exactly the tutorial's: positional (|i-j| == 1), then special (either end is a
    special token), then syntactic (FROM a determiner the/a/an, compared lower-cased), else
    semantic (a leftover bucket). Returns rows layer, from, to, from_token, to_token, weight,
    category, sorted by layer then weight (descending).
    """
    m = np.asarray(layer_avg)
    if m.ndim == 2:
        m = m[None]
    n = m.shape[-1]
    special = np.asarray(special_mask, dtype=bool)
    strong = strong_mask(m, threshold, mode, causal)
    layer, qi, kj = np.nonzero(strong)
    toks = np.asarray(list(tokens), dtype=object)
    is_det = np.fromiter((t.lower() in DETERMINERS for t in tokens), dtype=bool, count=n)
    category = np.select(
        [np.abs(qi - kj) == 1, special[qi] | special[kj], is_det[qi]],
        list(CATEGORIES[:3]), default=CATEGORIES[3],
    )
    df = pd.DataFrame({
        "layer": layer, "from": qi, "to": kj, "from_token": toks[qi], "to_token": toks[kj],
        "weight": m[layer, qi, kj].astype(np.float64),
        "category": pd.Categorical(category, categories=list(CATEGORIES)),
    })
    return df.sort_values(["layer", "weight"], ascending=[True, False], kind="stable").reset_index(drop=True)


def category_counts(connections: pd.DataFrame, num_layers: int | None = None) -> pd.DataFrame:
    """Per layer, how many strong edges fall in each tutorial category (the notebook's summary).

    connections: `categorise_connections` output. Returns columns layer, positional, special,
    syntactic, semantic, total; layers without strong edges appear with zeros when num_layers
    is given.
    """
    layers = (range(num_layers) if num_layers is not None
              else sorted(connections["layer"].unique().tolist()))
    cat = pd.Categorical(connections["category"], categories=list(CATEGORIES))
    table = pd.crosstab(connections["layer"], cat, dropna=False)
    table = table.reindex(index=list(layers), columns=list(CATEGORIES), fill_value=0).fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    table.index.name = "layer"
    table.columns.name = None
    return table.reset_index()


# --- causal models --------------------------------------------------------------------------

def sink_share(att: np.ndarray) -> pd.DataFrame:
    """Attention-sink measure for causal models (Xiao et al. 2024, "Efficient Streaming
    Language Models with Attention Sinks"): share of attention on the first token against
    the uniform share 1/(i+1), over rows i >= 1 (row 0 can only see itself).

    att: [layers, heads, query, key] -> rows (layer, head, sink_share, uniform_share, ratio).
    """
    a = _as_4d(att)
    n_layers, n_heads, n, _ = a.shape
    layer_col, head_col = np.divmod(np.arange(n_layers * n_heads), n_heads)
    if n < 2:
        nan = np.full(n_layers * n_heads, np.nan)
        return pd.DataFrame({"layer": layer_col, "head": head_col, "sink_share": nan,
                             "uniform_share": nan, "ratio": nan})
    first = a[:, :, 1:, 0].reshape(n_layers * n_heads, n - 1).astype(np.float64).mean(axis=1)
    uniform = float((1.0 / np.arange(2, n + 1)).mean())
    return pd.DataFrame({"layer": layer_col, "head": head_col, "sink_share": first,
                         "uniform_share": uniform, "ratio": first / uniform})


def sink_profile(att: np.ndarray) -> np.ndarray:
    """Per row, A[i, 0] divided by the uniform 1/(i+1) (Xiao et al. 2024; 1.0 = uniform).

    att: [layers, heads, query, key] -> [layers, heads, query].
    """
    a = _as_4d(att)
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


# --- listing --------------------------------------------------------------------------------

def strongest_connections(matrix: np.ndarray, tokens: Sequence[str], k: int = 5,
                          exclude_self: bool = True, allowed: np.ndarray | None = None) -> pd.DataFrame:
    """The k largest entries of one [query, key] matrix, as the tutorial's "strongest attention
    connections" list (its code prints all pairs before sorting; this returns only the top k).

    Returns rows rank, from, to, from_token, to_token, weight, in descending weight.
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
    return pd.DataFrame({"rank": np.arange(1, len(top) + 1), "from": qi, "to": kj,
                         "from_token": toks[qi] if len(top) else np.array([], dtype=object),
                         "to_token": toks[kj] if len(top) else np.array([], dtype=object),
                         "weight": flat[top]})


def thresholds_table(pattern: PatternThresholds = PatternThresholds(),
                     clark: ClarkThresholds = ClarkThresholds()) -> pd.DataFrame:
    """The thresholds in force (Kovaleva et al. 2019 classes, Clark et al. 2019 labels), as a
    table a page can show next to its classes."""
    rows = [("Kovaleva pattern", k, v) for k, v in asdict(pattern).items()]
    rows += [("Clark label", k, v) for k, v in asdict(clark).items()]
    return pd.DataFrame(rows, columns=["rule", "threshold", "value"])
