"""Streaming aggregation over a corpus: memory stays the same whatever the number of sentences.

Per sentence, the statistics are those of `core.analysis.statistics.head_statistics` (every
column the Head atlas shows), computed by `batch_statistics` for a whole padded batch
(`core.attention.batch.PaddedBatch`) in one vectorised pass over sentences, layers and heads: the
same formulas, each mean taken over the sentence's own rows and keys (the pads' rows and
columns are 0 and their positions masked), equal to one head_statistics call per sentence to
float rounding (tests/core/test_corpus_aggregate.py holds them together).

What is kept, per head (L x H rows) and per statistic (`STAT_NAMES`):
- count, mean and M2 (the sum of squared deviations), merged with Chan et al.'s parallel
  update (the same information as sums and sums of squares, without their cancellation); NaN
  values (a causal model's next-token score) are not counted;
- how many sentences put the head in each pattern class (`core.analysis.patterns`);
- a bounded pool of candidate sentences for "most typical" and "least typical": a sentence's
  distance to a head's mean is the root mean square of its z-scores over `TYPICALITY_COLUMNS`.
  Each merge rescores the pool against the running mean and keeps the `pool_size` closest
  (and farthest); the final table ranks the pool against the final mean. Exact when the
  corpus has at most `pool_size` sentences, an approximation beyond (a sentence dropped early,
  against an early mean, cannot come back).
The statistics of small batches wait (a few KB a sentence, never their attention) until
FLUSH_SENTENCES have come, so the merge's fixed cost is paid once for many sentences.
Summary per head and statistic: mean, standard deviation (n - 1) and a 95% confidence
interval of the mean (mean +- t_{0.975, n-1} * sd / sqrt(n)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.patterns import PATTERN_CLASSES, PatternThresholds
from core.analysis.statistics import STAT_COLUMNS, ClarkThresholds
from core.attention.batch import PaddedBatch

if TYPE_CHECKING:
    from core.attention.batch import SentenceAttention

# Every per-head number head_statistics returns (the Clark labels as 0/1: their mean is a share).
STAT_NAMES: tuple[str, ...] = tuple(c for c in STAT_COLUMNS if c not in {"layer", "head", "pattern", "clark_label"})
TYPICALITY_COLUMNS: tuple[str, ...] = (
    "entropy_norm", "distance_ratio", "special_share", "punct_share", "self_score", "prev_score",
    "next_score", "confidence", "first_token_share", "vertical_score", "diagonal_score",
)
TYPICAL_K = 5  # sentences shown per head and kind
POOL_SIZE = 128  # candidates kept per head and kind while streaming
# Statistics of this many sentences are merged at once (a merge costs ~5 ms whatever its size at
# 6 x 12 heads: per batch of one sentence it would cost more than the sentence).
FLUSH_SENTENCES = 256
# The entropy's p ln p temporary is made for this many bytes of attention at a time.
ENTROPY_CHUNK_BYTES = 4 * 2**20
_TINY = np.float32(1e-30)  # head_statistics' clamp: 0 ln 0 = 0
_T_IDX = np.array([STAT_NAMES.index(c) for c in TYPICALITY_COLUMNS])

# Student's t, 97.5% quantile, for 1..30 degrees of freedom (beyond: Cornish-Fisher from z).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)


def t975(df: np.ndarray) -> np.ndarray:
    """Student's t 97.5% quantile for each degrees-of-freedom value (NaN for df < 1)."""
    d = np.asarray(df, dtype=np.float64)
    z = 1.959963984540054
    big = np.maximum(d, 30.0)
    approx = z + (z**3 + z) / (4 * big) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * big**2)  # error < 1e-4 past 30
    table = np.asarray(_T975)
    small = np.clip(d, 1, 30).astype(np.int64) - 1
    out = np.where(d <= 30, table[small], approx)
    return np.where(d >= 1, out, np.nan)


# --- per-sentence statistics --------------------------------------------------------------------

def _masked_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum(values * weights) / sum(weights) over the last axis: values [B, LH, N], weights [B, N]
    float64; NaN where a sentence has no weight."""
    total = weights.sum(axis=-1)[:, None]
    sums = (values * weights[:, None, :]).sum(axis=-1)
    return np.divide(sums, total, out=np.full(sums.shape, np.nan), where=total > 0)


def _pattern_codes(v: np.ndarray, d: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int8 codes into PATTERN_CLASSES: `core.analysis.patterns.classify_patterns`' rule (first
    match wins) with its default thresholds, on arrays instead of a DataFrame of labels."""
    t = PatternThresholds()
    b = np.nan_to_num(b, nan=-np.inf)
    conditions = [
        (v >= t.vertical_min_v) & (d < t.vertical_max_d),
        (d >= t.diagonal_min_d) & (v < t.diagonal_max_v),
        (v + d >= t.both_min_sum) & (v >= t.both_min_each) & (d >= t.both_min_each),
        b >= t.block_min,
    ]
    return np.select(conditions, [0, 1, 2, 3], default=len(PATTERN_CLASSES) - 1).astype(np.int8)


def batch_statistics(batch: PaddedBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corpus indices [B], statistics [B, layers*heads, len(STAT_NAMES)] float64, pattern codes
    [B, layers*heads] int8 into PATTERN_CLASSES) of every sentence of a padded batch.

    head_statistics' formulas (see its docstring and docs/methods.md), each mean over the
    sentence's own rows (n of them; the pads' rows are 0 in `batch.attention` and masked here),
    with its default pattern and Clark thresholds; one segment per sentence. Row h of a sentence
    is head (h // heads, h % heads), head_statistics' row order.
    """
    B, L, H, N, _ = batch.attention.shape
    flat = batch.attention.reshape(B, L * H, N, N)
    n = batch.lengths.astype(np.float64)[:, None]  # [B, 1]
    idx = np.arange(N)
    real = idx[None, :] < batch.lengths[:, None]  # [B, N]
    causal = batch.causal
    m = np.broadcast_to(idx + 1 if causal else batch.lengths[:, None], (B, N)).astype(np.float64)  # receptive field

    shares = _batch_shares(flat, batch, n, real, m)
    positional = _batch_positional_scores(flat, n, causal)
    # block: one segment per sentence, so the within-segment share is the row's weight over the
    # real keys and its uniform expectation is 1
    block_score = batch.row_sums.astype(np.float64).sum(axis=-1) / n - 1.0
    vertical_keys = (batch.cls | batch.sep).any(axis=1)[:, None]
    vertical_score = np.where(vertical_keys | (not causal), shares["cls_share"] + shares["sep_share"],
                              shares["first_token_share"])
    columns = {**_batch_entropies(flat, n, real, m), **_batch_distances(flat, n, causal), **shares, **positional,
               "confidence": _batch_confidence(flat, batch, real), "vertical_score": vertical_score,
               "block_score": block_score}
    t = ClarkThresholds()  # clark_labels' rule (NaN compares False)
    columns.update(broad=columns["entropy_norm"] > t.broad_entropy_norm,
                   attends_previous=columns["prev_score"] > t.positional,
                   attends_next=columns["next_score"] > t.positional,
                   attends_special=columns["special_share"] > t.special_share)
    stats = np.stack([np.asarray(columns[name], dtype=np.float64) for name in STAT_NAMES], axis=-1)
    codes = _pattern_codes(vertical_score, positional["diagonal_score"], block_score)
    return np.array(batch.indices, dtype=np.int64), stats, codes


def _batch_entropies(flat: np.ndarray, n: np.ndarray, real: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    """entropy and entropy_norm per sentence and head of ``flat[B, LH, N, N]`` (n: [B, 1] tokens,
    real: [B, N] the sentence's own positions, m: [B, N] keys each row may see)."""
    # 0 ln 0 = 0 (the clamp makes 0 * ln(tiny) = 0; pad rows are all 0, so their H is 0)
    B = flat.shape[0]
    row_h = np.empty(flat.shape[:3], dtype=np.float64)
    step = max(1, ENTROPY_CHUNK_BYTES // max(1, flat[0].nbytes))
    buf = np.empty((min(step, B), *flat.shape[1:]), dtype=np.float32)
    for s in range(0, B, step):
        part, out = flat[s:s + step], buf[:min(step, B - s)]
        np.maximum(part, _TINY, out=out)
        np.log(out, out=out)
        out *= part
        row_h[s:s + len(out)] = out.sum(axis=-1)
    del buf
    np.negative(row_h, out=row_h)
    norm_rows = real & (m > 1)
    entropy_norm = _masked_mean(row_h / np.log(np.where(norm_rows, m, 2.0))[:, None, :], norm_rows.astype(np.float64))
    return {"entropy": row_h.sum(axis=-1) / n, "entropy_norm": entropy_norm}


def _batch_distances(flat: np.ndarray, n: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """mean_distance and distance_ratio (against uniform attention over each row's keys)."""
    idx = np.arange(flat.shape[-1])
    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float32)  # [N, N]
    row_d = np.einsum("bkij,ij->bki", flat, dist).astype(np.float64)  # float32 inside, as head_statistics
    mean_distance = row_d.sum(axis=-1) / n
    if causal:
        base = (n - 1) / 4  # mean over rows of i / 2
    else:
        base = (n * n - 1) / (3 * n)  # mean over rows of sum_j |i - j| / n
    distance_ratio = np.divide(mean_distance, base, out=np.full(mean_distance.shape, np.nan),
                               where=np.broadcast_to(base > 0, mean_distance.shape))
    return {"mean_distance": mean_distance, "distance_ratio": distance_ratio}


def _batch_shares(flat: np.ndarray, batch: PaddedBatch, n: np.ndarray, real: np.ndarray,
                  m: np.ndarray) -> dict[str, np.ndarray]:
    """Shares of attention to [CLS], [SEP], special tokens, punctuation and the first token, and
    the first token's share against uniform attention (sink_ratio)."""
    col_mass = flat.sum(axis=2).astype(np.float64) / n[:, :, None]  # [B, LH, N]: (1/n) sum_i A_ij
    special, punct, cls, sep = (np.asarray(x, dtype=np.float64)[:, :, None]
                                for x in (batch.special, batch.punct, batch.cls, batch.sep))
    sink_rows = (real & (np.arange(flat.shape[-1]) >= 1)) if batch.causal else real
    first_share = _masked_mean(flat[:, :, :, 0].astype(np.float64), sink_rows.astype(np.float64))
    uniform_first = _masked_mean((1.0 / m)[:, None, :], sink_rows.astype(np.float64))
    return {"cls_share": (col_mass @ cls)[..., 0], "sep_share": (col_mass @ sep)[..., 0],
            "special_share": (col_mass @ special)[..., 0], "punct_share": (col_mass @ punct)[..., 0],
            "first_token_share": first_share, "sink_ratio": first_share / uniform_first}


def _batch_positional_scores(flat: np.ndarray, n: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """self_score, prev_score, next_score (NaN when causal) and diagonal_score."""
    idx = np.arange(flat.shape[-1])
    diag = flat[:, :, idx, idx].astype(np.float64)  # pads' entries are 0
    prev = flat[:, :, idx[1:], idx[:-1]].astype(np.float64).sum(axis=-1)
    nxt = flat[:, :, idx[:-1], idx[1:]].astype(np.float64).sum(axis=-1)
    several = n > 1
    prev_score = np.divide(prev, n - 1, out=np.full(prev.shape, np.nan), where=np.broadcast_to(several, prev.shape))
    next_score = (np.full(nxt.shape, np.nan) if causal else
                  np.divide(nxt, n - 1, out=np.full(nxt.shape, np.nan), where=np.broadcast_to(several, nxt.shape)))
    return {"self_score": diag.sum(axis=-1) / n, "prev_score": prev_score, "next_score": next_score,
            "diagonal_score": (diag.sum(axis=-1) + prev + nxt) / n}  # one token: prev = nxt = 0, the self score


def _batch_confidence(flat: np.ndarray, batch: PaddedBatch, real: np.ndarray) -> np.ndarray:
    """Row maxima over non-special keys; a pad key is 0, which changes no maximum of weights
    (>= 0) as long as the sentence has a non-special token, and without one it is NaN."""
    idx = np.arange(flat.shape[-1])
    plain = real & ~batch.special
    row_max = np.max(flat, axis=-1, where=~batch.special[:, None, None, :], initial=-np.inf).astype(np.float64)
    rows_ok = real & (idx >= np.argmax(plain, axis=1)[:, None]) if batch.causal else real
    rows_ok = rows_ok & plain.any(axis=1)[:, None]
    return _masked_mean(np.where(rows_ok[:, None, :], row_max, 0.0), rows_ok.astype(np.float64))


def sentence_statistics(records: Sequence[SentenceAttention], batch_size: int = 64
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`batch_statistics` for records (padded again, `batch_size` at a time in length order),
    returned in the order of `records`."""
    if not records:
        return np.zeros(0, np.int64), np.zeros((0, 0, len(STAT_NAMES))), np.zeros((0, 0), np.int8)
    order = sorted(range(len(records)), key=lambda i: records[i].n_tokens)
    parts = [batch_statistics(PaddedBatch.of_records([records[i] for i in order[s:s + batch_size]]))
             for s in range(0, len(order), batch_size)]
    back = np.argsort(np.asarray(order))  # back[position in records] = position in length order
    return tuple(np.concatenate(x)[back] for x in zip(*parts))  # type: ignore[return-value]


# --- the streaming aggregate ---------------------------------------------------------------------

class CorpusAggregate:
    """Per-head moments, pattern-class counts and bounded typical / least typical pools.

    Size: O(layers x heads x (statistics + pool_size x typicality columns)), whatever the corpus.
    `add` takes a batch (a PaddedBatch, or SentenceAttention records); `add_statistics` takes what
    `batch_statistics` returns (so a worker elsewhere can compute them); `merge` combines two
    aggregates (Ray).
    """

    def __init__(self, num_layers: int, num_heads: int, *, pool_size: int = POOL_SIZE) -> None:
        self.num_layers, self.num_heads = int(num_layers), int(num_heads)
        self.pool_size = int(pool_size)
        lh, s, t = self.num_layers * self.num_heads, len(STAT_NAMES), len(TYPICALITY_COLUMNS)
        self.count = np.zeros((lh, s), dtype=np.int64)
        self.mean = np.zeros((lh, s), dtype=np.float64)
        self.m2 = np.zeros((lh, s), dtype=np.float64)
        self.patterns = np.zeros((lh, len(PATTERN_CLASSES)), dtype=np.int64)
        self.sentences = 0
        self.tokens = 0
        self.truncated_sentences = 0
        self.max_tokens_seen = 0
        # pools: corpus index (-1 = empty slot) and the typicality vector of each candidate
        self.typical_idx = np.full((lh, self.pool_size), -1, dtype=np.int64)
        self.typical_vec = np.full((lh, self.pool_size, t), np.nan, dtype=np.float64)
        self.atypical_idx = np.full((lh, self.pool_size), -1, dtype=np.int64)
        self.atypical_vec = np.full((lh, self.pool_size, t), np.nan, dtype=np.float64)
        self._waiting: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # statistics not merged yet
        self._waiting_sentences = 0
        self.statistics_calls = 0  # batch_statistics passes so far (a diagnostic, not part of the state)

    # -- adding ---------------------------------------------------------------------------------
    def add(self, batch: PaddedBatch | Sequence[SentenceAttention]) -> None:
        """Take a batch: a `PaddedBatch` (`core.attention.batch.iter_padded`) or records
        (`iter_batches`; padded again here). Its statistics are computed now and merged once
        FLUSH_SENTENCES wait; `flush()` (called by every result method) merges the rest."""
        if not isinstance(batch, PaddedBatch):
            if not batch:
                return
            records = sorted(batch, key=lambda r: r.n_tokens)
            for s in range(0, len(records), 64):
                self.add(PaddedBatch.of_records(records[s:s + 64]))
            return
        if batch.size == 0:
            return
        self._waiting.append(batch_statistics(batch))
        self.statistics_calls += 1
        self._waiting_sentences += batch.size
        self.tokens += batch.tokens
        self.truncated_sentences += int(batch.truncated)
        self.max_tokens_seen = max(self.max_tokens_seen, int(batch.lengths.max()))
        if self._waiting_sentences >= FLUSH_SENTENCES:
            self.flush()

    def flush(self) -> None:
        """Merge the statistics still waiting."""
        if not self._waiting:
            return
        waiting, self._waiting, self._waiting_sentences = self._waiting, [], 0
        indices, stats, codes = (np.concatenate(x) for x in zip(*waiting))
        self._merge_statistics(indices, stats, codes)

    def add_statistics(self, indices: np.ndarray, stats: np.ndarray, codes: np.ndarray, *, tokens: int = 0,
                       truncated: int = 0, max_tokens: int = 0) -> None:
        """Take statistics computed elsewhere (what `batch_statistics` returns) and merge them now."""
        self.flush()
        self.tokens += int(tokens)
        self.truncated_sentences += int(truncated)
        self.max_tokens_seen = max(self.max_tokens_seen, int(max_tokens))
        self._merge_statistics(indices, stats, codes)

    def _merge_statistics(self, indices: np.ndarray, stats: np.ndarray, codes: np.ndarray) -> None:
        k = len(indices)
        if k == 0:
            return
        if stats.shape[1:] != self.count.shape:
            raise ValueError(f"statistics of shape {stats.shape[1:]}, expected {self.count.shape}")
        valid = ~np.isnan(stats)
        nb = valid.sum(axis=0)
        xb = np.where(valid, stats, 0.0)
        mb = np.divide(xb.sum(axis=0), nb, out=np.zeros_like(self.mean), where=nb > 0)
        m2b = (np.where(valid, stats - mb, 0.0) ** 2).sum(axis=0)
        self._merge_moments(nb, mb, m2b)
        onehot = np.zeros((k, self.patterns.shape[0], len(PATTERN_CLASSES)), dtype=np.int64)
        np.put_along_axis(onehot, codes.astype(np.int64)[..., None], 1, axis=2)
        self.patterns += onehot.sum(axis=0)
        self.sentences += k
        vec = np.ascontiguousarray(stats[:, :, _T_IDX].transpose(1, 0, 2))  # [LH, k, T] float64
        new_idx = np.broadcast_to(np.asarray(indices, dtype=np.int64)[None, :], (vec.shape[0], k))
        self.typical_idx, self.typical_vec = self._select(
            np.concatenate([self.typical_idx, new_idx], axis=1), np.concatenate([self.typical_vec, vec], axis=1),
            largest=False)
        self.atypical_idx, self.atypical_vec = self._select(
            np.concatenate([self.atypical_idx, new_idx], axis=1), np.concatenate([self.atypical_vec, vec], axis=1),
            largest=True)

    def _merge_moments(self, nb: np.ndarray, mb: np.ndarray, m2b: np.ndarray) -> None:
        """Chan, Golub & LeVeque's pairwise update of (count, mean, M2)."""
        na = self.count
        n = na + nb
        safe = np.maximum(n, 1)
        delta = mb - self.mean
        self.mean = np.where(n > 0, self.mean + delta * nb / safe, 0.0)
        self.m2 = self.m2 + m2b + delta**2 * na * nb / safe
        self.count = n

    # -- typicality -----------------------------------------------------------------------------
    def _sd(self) -> np.ndarray:
        return np.sqrt(np.divide(self.m2, self.count - 1, out=np.full_like(self.m2, np.nan), where=self.count > 1))

    def distances(self, vec: np.ndarray) -> np.ndarray:
        """Root mean square z-score of candidate vectors [LH, m, T] against the current mean: [LH, m].
        Columns with no spread (or no value) count as 0; a candidate with no values is at 0."""
        mean = self.mean[:, None, _T_IDX]
        sd = self._sd()[:, None, _T_IDX]
        ok = ~np.isnan(vec) & (sd > 0)
        z = np.divide(vec - mean, sd, out=np.zeros(vec.shape, dtype=np.float64), where=ok)
        used = ok.sum(axis=2)
        return np.sqrt(np.divide((z * z).sum(axis=2), used, out=np.zeros(used.shape), where=used > 0))

    def _select(self, idx: np.ndarray, vec: np.ndarray, *, largest: bool) -> tuple[np.ndarray, np.ndarray]:
        """Keep the pool_size candidates per head closest to (or farthest from) the running mean."""
        if idx.shape[1] <= self.pool_size:
            return idx, vec
        d = self.distances(vec)
        empty = idx < 0
        key = np.where(empty, np.inf, -d if largest else d)
        keep = np.argpartition(key, self.pool_size - 1, axis=1)[:, :self.pool_size]
        return np.take_along_axis(idx, keep, axis=1), np.take_along_axis(vec, keep[..., None], axis=1)

    # -- merging (Ray) and state ------------------------------------------------------------------
    def merge(self, other: CorpusAggregate) -> CorpusAggregate:
        """Fold `other` into this aggregate (in place) and return self."""
        if (other.num_layers, other.num_heads) != (self.num_layers, self.num_heads):
            raise ValueError("aggregates of different models cannot be merged")
        self.flush()
        other.flush()
        self._merge_moments(other.count, other.mean, other.m2)
        self.patterns += other.patterns
        self.sentences += other.sentences
        self.tokens += other.tokens
        self.truncated_sentences += other.truncated_sentences
        self.max_tokens_seen = max(self.max_tokens_seen, other.max_tokens_seen)
        self.typical_idx, self.typical_vec = self._select(
            np.concatenate([self.typical_idx, other.typical_idx], axis=1),
            np.concatenate([self.typical_vec, other.typical_vec], axis=1), largest=False)
        self.atypical_idx, self.atypical_vec = self._select(
            np.concatenate([self.atypical_idx, other.atypical_idx], axis=1),
            np.concatenate([self.atypical_vec, other.atypical_vec], axis=1), largest=True)
        return self

    _ARRAYS = ("count", "mean", "m2", "patterns", "typical_idx", "typical_vec", "atypical_idx", "atypical_vec")
    _SCALARS = ("num_layers", "num_heads", "pool_size", "sentences", "tokens", "truncated_sentences",
                "max_tokens_seen")

    def to_state(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (no pickle needed to ship or store them)."""
        self.flush()
        state = {name: getattr(self, name) for name in self._ARRAYS}
        state["scalars"] = np.array([getattr(self, name) for name in self._SCALARS], dtype=np.int64)
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> CorpusAggregate:
        scalars = dict(zip(cls._SCALARS, (int(v) for v in state["scalars"])))
        agg = cls(scalars["num_layers"], scalars["num_heads"], pool_size=scalars["pool_size"])
        for name in cls._ARRAYS:
            setattr(agg, name, np.array(state[name]))
        for name in cls._SCALARS[3:]:
            setattr(agg, name, scalars[name])
        return agg

    # -- results ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, np.ndarray]:
        """Per head and statistic ([LH, S]): n, mean, sd, ci_low, ci_high (NaN where undefined)."""
        self.flush()
        n = self.count
        mean = np.where(n > 0, self.mean, np.nan)
        sd = self._sd()
        half = t975(n - 1) * sd / np.sqrt(np.maximum(n, 1))
        return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}

    def typical(self, k: int = TYPICAL_K) -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        """Per head (LH lists): the k most typical and the k least typical (corpus index, distance),
        ranked against the final mean. With fewer than 2k sentences each list gets half of them,
        so no sentence is in both."""
        self.flush()
        k = max(0, min(int(k), self.sentences // 2)) if self.sentences >= 2 else min(int(k), self.sentences)
        out_typ: list[list[tuple[int, float]]] = []
        out_atyp: list[list[tuple[int, float]]] = []
        d_typ = self.distances(self.typical_vec)
        d_atyp = self.distances(self.atypical_vec)
        for h in range(self.typical_idx.shape[0]):
            typ = _ranked(self.typical_idx[h], d_typ[h], k, largest=False)
            taken = {i for i, _ in typ}
            atyp = [p for p in _ranked(self.atypical_idx[h], d_atyp[h], k + len(taken), largest=True)
                    if p[0] not in taken][:k] if self.sentences >= 2 else []
            out_typ.append(typ)
            out_atyp.append(atyp)
        return out_typ, out_atyp

    def heads_frame(self, text_of: Callable[[int], str], k: int = TYPICAL_K) -> pd.DataFrame:
        """One row per head: layer, head; per statistic s: s__n, s__mean, s__m2, s__sd, s__ci_low,
        s__ci_high; pattern__<class> counts; typical_/atypical_ index, distance and text lists."""
        L, H = self.num_layers, self.num_heads
        summary = self.summary()
        data: dict[str, object] = {"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)}
        for j, name in enumerate(STAT_NAMES):
            data[f"{name}__n"] = summary["n"][:, j]
            data[f"{name}__mean"] = summary["mean"][:, j]
            data[f"{name}__m2"] = self.m2[:, j]
            data[f"{name}__sd"] = summary["sd"][:, j]
            data[f"{name}__ci_low"] = summary["ci_low"][:, j]
            data[f"{name}__ci_high"] = summary["ci_high"][:, j]
        for c, name in enumerate(PATTERN_CLASSES):
            data[f"pattern__{name}"] = self.patterns[:, c]
        typ, atyp = self.typical(k)
        texts: dict[int, str] = {}

        def text(i: int) -> str:
            if i not in texts:
                texts[i] = text_of(i)
            return texts[i]

        for kind, lists in (("typical", typ), ("atypical", atyp)):
            data[f"{kind}_index"] = [[i for i, _ in row] for row in lists]
            data[f"{kind}_distance"] = [[float(d) for _, d in row] for row in lists]
            data[f"{kind}_text"] = [[text(i) for i, _ in row] for row in lists]
        return pd.DataFrame(data)


def _ranked(idx: np.ndarray, d: np.ndarray, k: int, *, largest: bool) -> list[tuple[int, float]]:
    ok = idx >= 0
    idx, d = idx[ok], d[ok]
    order = np.lexsort((idx, -d if largest else d))  # ties: lower corpus index first
    return [(int(idx[i]), float(d[i])) for i in order[:k]] if k > 0 else []

