"""Streaming aggregation over a corpus: memory stays the same whatever the number of sentences.

Per sentence, the statistics are `core.analysis.statistics.head_statistics` (every column the
Head atlas shows, vectorised over heads; not reimplemented here). Sentences of a batch whose
token masks are identical (same length, same special, [CLS], [SEP] and punctuation positions)
go through one call, stacked along the layer axis: every statistic is computed per (layer,
head) from that head's own n x n matrix and the shared masks, so stacking changes no number,
and the per-call pandas cost is paid once per group instead of once per sentence.

What is kept, per head (L x H rows) and per statistic (`STAT_NAMES`):
- count, mean and M2 (the sum of squared deviations), merged batch by batch with Chan et al.'s
  parallel update (the same information as sums and sums of squares, without their
  cancellation); NaN values (a causal model's next-token score) are not counted;
- how many sentences put the head in each pattern class (`core.analysis.patterns`);
- a bounded pool of candidate sentences for "most typical" and "least typical": a sentence's
  distance to a head's mean is the root mean square of its z-scores over `TYPICALITY_COLUMNS`.
  Each batch rescores the pool against the running mean and keeps the `pool_size` closest
  (and farthest); the final table ranks the pool against the final mean. Exact when the
  corpus has at most `pool_size` sentences, an approximation beyond (a sentence dropped early,
  against an early mean, cannot come back).
Summary per head and statistic: mean, standard deviation (n - 1) and a 95% confidence
interval of the mean (mean +- t_{0.975, n-1} * sd / sqrt(n)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analysis.patterns import PATTERN_CLASSES
from core.analysis.statistics import STAT_COLUMNS, head_statistics
from core.analysis.tokens import cls_mask, punctuation_mask, sep_mask

if TYPE_CHECKING:
    from core.corpus.batch import SentenceAttention

# Every per-head number head_statistics returns (the Clark labels as 0/1: their mean is a share).
STAT_NAMES: tuple[str, ...] = tuple(c for c in STAT_COLUMNS if c not in {"layer", "head", "pattern", "clark_label"})
TYPICALITY_COLUMNS: tuple[str, ...] = (
    "entropy_norm", "distance_ratio", "special_share", "punct_share", "self_score", "prev_score",
    "next_score", "confidence", "first_token_share", "vertical_score", "diagonal_score",
)
TYPICAL_K = 5  # sentences shown per head and kind
POOL_SIZE = 128  # candidates kept per head and kind while streaming
# A group of sentences with identical masks waits for more (small batches) up to this many
# sentences or bytes of attention: head_statistics costs ~5 ms a call plus ~0.4 ms a sentence
# (6 x 12 heads, 15 tokens), so sharing calls matters.
FLUSH_SENTENCES = 256
FLUSH_BYTES = 32 * 2**20
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

def _mask_key(rec: SentenceAttention) -> tuple:
    res = rec.result
    special = np.asarray(res.special_mask, dtype=bool)
    punct = punctuation_mask(res.display_tokens, special)
    cls = cls_mask(res.tokens, special)
    sep = sep_mask(res.tokens, special)
    return (res.n_tokens, bool(res.causal), special.tobytes(), punct.tobytes(), cls.tobytes(), sep.tobytes(),
            np.asarray(res.segment_ids).tobytes()), (special, punct, cls, sep)


def _group(records: Sequence[SentenceAttention]) -> dict[tuple, tuple[tuple, list[SentenceAttention]]]:
    """Records by mask key: {key: (masks, records)}, in first-seen order."""
    groups: dict[tuple, tuple[tuple, list[SentenceAttention]]] = {}
    for rec in records:
        key, masks = _mask_key(rec)
        groups.setdefault(key, (masks, []))[1].append(rec)
    return groups


def _group_statistics(groups: Sequence[tuple[tuple, list[SentenceAttention]]]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One head_statistics call per group of sentences with identical masks (stacked along the
    layer axis); (indices, stats, codes) concatenated group after group."""
    all_idx, all_stats, all_codes = [], [], []
    for (special, punct, cls, sep), members in groups:
        first = members[0].result
        layers, heads, n = first.num_layers, first.num_heads, first.n_tokens
        lh = layers * heads
        stacked = np.stack([r.result.attention for r in members]).reshape(len(members) * layers, heads, n, n)
        df = head_statistics(stacked, special, punct, first.segment_ids, first.causal, cls=cls, sep=sep)
        values = np.column_stack([df[c].to_numpy(dtype=np.float64) for c in STAT_NAMES])
        names = df["pattern"].to_numpy(dtype=object)
        pattern = np.full(len(names), len(PATTERN_CLASSES) - 1, dtype=np.int8)
        for c, name in enumerate(PATTERN_CLASSES[:-1]):
            pattern[names == name] = c
        all_idx.append(np.fromiter((r.index for r in members), dtype=np.int64, count=len(members)))
        all_stats.append(values.reshape(len(members), lh, len(STAT_NAMES)))
        all_codes.append(pattern.reshape(len(members), lh))
    if not all_idx:
        return np.zeros(0, np.int64), np.zeros((0, 0, len(STAT_NAMES))), np.zeros((0, 0), np.int8)
    return np.concatenate(all_idx), np.concatenate(all_stats), np.concatenate(all_codes)


def sentence_statistics(records: Sequence[SentenceAttention]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corpus indices [k], statistics [k, layers*heads, len(STAT_NAMES)] float64, pattern codes
    [k, layers*heads] int8 into PATTERN_CLASSES), in the order of `records`.

    Row h of a sentence is head (h // heads, h % heads): head_statistics' row order. Sentences with
    identical masks share one head_statistics call (stacked along the layer axis).
    """
    groups = _group(records)
    indices, stats, codes = _group_statistics(list(groups.values()))
    position = {id(r): i for i, r in enumerate(records)}
    back = np.empty(len(records), dtype=np.int64)  # back[original position] = position in the groups' order
    back[[position[id(r)] for _, members in groups.values() for r in members]] = np.arange(len(records))
    return indices[back], stats[back], codes[back]


# --- the streaming aggregate ---------------------------------------------------------------------

class CorpusAggregate:
    """Per-head moments, pattern-class counts and bounded typical / least typical pools.

    Size: O(layers x heads x (statistics + pool_size x typicality columns)), whatever the corpus.
    `add` takes a batch of SentenceAttention; `add_statistics` takes what `sentence_statistics`
    returns (so a worker elsewhere can compute them); `merge` combines two aggregates (Ray).
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
        self._open: dict[tuple, list] = {}  # mask key -> [masks, waiting records, their attention bytes]
        self.statistics_calls = 0  # head_statistics calls so far (a diagnostic, not part of the state)

    # -- adding ---------------------------------------------------------------------------------
    def add(self, records: Sequence[SentenceAttention]) -> None:
        """Take a batch. Sentences wait in groups of identical masks (batch.py sorts a pool by
        length and punctuation, so such sentences arrive together); a group's statistics are
        computed in one head_statistics call once a batch ends with another group, or once it
        holds FLUSH_SENTENCES sentences or FLUSH_BYTES of attention. At most one group waits
        between batches; `flush()` (called by every result method) computes it."""
        if not records:
            return
        last = None
        for rec in records:
            key, masks = _mask_key(rec)
            group = self._open.setdefault(key, [masks, [], 0])
            group[1].append(rec)
            group[2] += rec.result.attention.nbytes
            last = key
        waiting = self._open[last]
        ready = [k for k in self._open if k != last]
        if len(waiting[1]) >= FLUSH_SENTENCES or waiting[2] >= FLUSH_BYTES:
            ready.append(last)
        self._flush(ready)

    def flush(self) -> None:
        """Compute the statistics of every sentence still waiting."""
        self._flush(list(self._open))

    def _flush(self, keys: list[tuple]) -> None:
        groups = [self._open.pop(k) for k in keys]
        if not groups:
            return
        indices, stats, codes = _group_statistics([(g[0], g[1]) for g in groups])
        self.statistics_calls += len(groups)
        records = [r for g in groups for r in g[1]]
        lengths = [r.result.n_tokens for r in records]
        truncated = sum(1 for r in records if r.result.truncated_tokens)
        self.add_statistics(indices, stats, codes, tokens=sum(lengths), truncated=truncated,
                            max_tokens=max(lengths))

    def add_statistics(self, indices: np.ndarray, stats: np.ndarray, codes: np.ndarray, *, tokens: int = 0,
                       truncated: int = 0, max_tokens: int = 0) -> None:
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
        self.tokens += int(tokens)
        self.truncated_sentences += int(truncated)
        self.max_tokens_seen = max(self.max_tokens_seen, int(max_tokens))
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

