"""Does a head attend to syntax? Clark et al. 2019, section 4.2 and Table 1, over a stream of
sentences.

For a head and a dependency relation r, over every word w whose relation to its head p is r (the
root is skipped), with W the head's word-level attention (units from `core.probing.align`,
Clark's merge: sum over a word's pieces for attention TO it, mean for attention FROM it;
special tokens left out; a word never counts as its own prediction):

- dependent -> head: correct when argmax_{j != w} W[w, j] = p (w looks at its head most);
- head -> dependent: correct when argmax_{j != w} W[j, w] = p (of all words, the head looks at
  w most; Clark's code takes this transposed map);
- baseline: for each offset k in `offsets` (k != 0), the share of the relation's words whose
  head is the word k positions away; out of range counts as wrong. The best k per relation is
  reported beside the head, never the head alone.

Ties in an argmax go to the earlier word (numpy's argmax, as Clark's code). A row whose other
words all get zero weight (a causal model's first word) predicts nothing and counts as wrong.

Streaming: `probe_sentence` turns one sentence's attention [L, H, n, n] and its alignment into
hit counts; `SyntaxCounts.add` adds them up. The counts are integers of shape [folds, 2, L, H, R]
plus [folds, K, R] for the baselines: memory depends on the model and the relations seen, never on
the number of sentences. Sentences alternate between two folds so that a head can be chosen on one
half and scored on the other (`held_out` in `best_heads`): choosing the best of L x H x 2 heads on
the same sentences that score it flatters the winner, most on a small corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.analysis.tokens import merge_words
from core.probing.align import Alignment, align
from core.probing.parser import Parse

DEFAULT_OFFSETS: tuple[int, ...] = tuple(k for k in range(-5, 6) if k != 0)
DIRECTIONS: tuple[str, ...] = ("dependent → head", "head → dependent")
FOLDS = 2
SKIP_REASONS = ("merged", "unmatched", "space", "same unit")


@dataclass(frozen=True)
class Arcs:
    """The parse's arcs in unit positions: dependent unit, head unit, relation."""

    dependent: np.ndarray  # int [A]
    head: np.ndarray  # int [A]
    relation: tuple[str, ...]  # [A]
    skipped: dict[str, int]  # arcs left out, by reason (see SKIP_REASONS)


def arcs_for(parse: Parse, alignment: Alignment) -> Arcs:
    """Every non-root arc whose dependent and head are each alone in their unit (clean)."""
    dep, head, rel = [], [], []
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    for i, tok in enumerate(parse.tokens):
        if tok.head == i or tok.dep.upper() == "ROOT":
            continue
        if tok.is_space or parse.tokens[tok.head].is_space:
            skipped["space"] += 1
            continue
        ud, uh = alignment.unit_of_word[i], alignment.unit_of_word[tok.head]
        if ud is None or uh is None:
            skipped["unmatched"] += 1
            continue
        if ud == uh:
            skipped["same unit"] += 1
            continue
        if not (alignment.units[ud].clean and alignment.units[uh].clean):
            skipped["merged"] += 1
            continue
        dep.append(ud)
        head.append(uh)
        rel.append(tok.dep)
    return Arcs(np.asarray(dep, dtype=np.int64), np.asarray(head, dtype=np.int64), tuple(rel), skipped)


def unit_attention(attention: np.ndarray, alignment: Alignment) -> np.ndarray:
    """[..., U, U] word-level attention between units (Clark's merge via merge_words; special
    tokens and any unaligned token dropped, rows not renormalised: argmaxes are unchanged)."""
    keys = alignment.word_keys()
    merged, _, groups = merge_words(attention, keys)
    index = {}
    for g, members in enumerate(groups):
        k = keys[members[0]]
        if k is not None:
            index[int(k)] = g
    pick = np.array([index[u] for u in range(alignment.n_units)], dtype=np.int64)
    return merged[..., pick[:, None], pick[None, :]]


@dataclass(frozen=True)
class SentenceProbe:
    """One sentence's hits: what `SyntaxCounts.add` needs (and what a batch worker returns)."""

    relation: tuple[str, ...]  # [A]
    hits: np.ndarray  # bool [2, L, H, A]: (dependent -> head, head -> dependent)
    baseline: np.ndarray  # bool [K, A]
    offsets: tuple[int, ...]
    skipped: dict[str, int]
    n_units: int
    unmatched_words: int = 0
    predicted: np.ndarray | None = None  # int [2, L, H, U]: each unit's argmax (-1: none)

    @property
    def n_arcs(self) -> int:
        return len(self.relation)


def predictions(units_att: np.ndarray) -> np.ndarray:
    """int [2, L, H, U]: for each unit w, argmax_{j != w} W[w, j] (dependent -> head) and
    argmax_{j != w} W[j, w] (head -> dependent); -1 where every candidate has weight 0."""
    w = np.array(units_att, dtype=np.float64, copy=True)
    u = w.shape[-1]
    idx = np.arange(u)
    w[..., idx, idx] = -np.inf
    out = np.full((2,) + w.shape[:-1], -1, dtype=np.int64)
    if u < 2:
        return out
    for d, m in enumerate((w, np.swapaxes(w, -1, -2))):
        arg = m.argmax(axis=-1)
        best = np.take_along_axis(m, arg[..., None], axis=-1)[..., 0]
        out[d] = np.where(best > 0, arg, -1)
    return out


def probe_sentence(attention: np.ndarray, parse: Parse, offsets: Sequence[tuple[int, int]],
                   special_mask: Sequence[bool], word_ids: Sequence[int | None] | None = None, *,
                   text: str | None = None, baseline_offsets: Sequence[int] = DEFAULT_OFFSETS,
                   keep_predictions: bool = False) -> SentenceProbe:
    """One sentence: align the parse to the model's tokens, merge attention to units and score
    every arc for every head. attention: float [L, H, n, n] for the n model tokens (one text,
    no padding); offsets, special_mask, word_ids: per model token (the fast tokenizer's)."""
    att = np.asarray(attention)
    if att.ndim != 4 or att.shape[-1] != att.shape[-2] or att.shape[-1] != len(offsets):
        raise ValueError(f"attention {att.shape} does not match {len(offsets)} tokens")
    alignment = align(parse, offsets, special_mask, word_ids, text=text)
    return probe_aligned(att, parse, alignment, baseline_offsets=baseline_offsets,
                         keep_predictions=keep_predictions)


def probe_aligned(attention: np.ndarray, parse: Parse, alignment: Alignment, *,
                  baseline_offsets: Sequence[int] = DEFAULT_OFFSETS, keep_predictions: bool = False) -> SentenceProbe:
    arcs = arcs_for(parse, alignment)
    layers, heads = attention.shape[:2]
    ks = tuple(int(k) for k in baseline_offsets)
    if alignment.n_units == 0:
        pred = np.full((2, layers, heads, 0), -1, dtype=np.int64)
    else:
        pred = predictions(unit_attention(attention, alignment))
    hits = pred[..., arcs.dependent] == arcs.head[None, None, None, :]  # [2, L, H, A]
    base = (arcs.dependent[None, :] + np.asarray(ks, dtype=np.int64)[:, None]) == arcs.head[None, :]  # [K, A]
    return SentenceProbe(arcs.relation, hits, base, ks, dict(arcs.skipped), alignment.n_units,
                         len(alignment.unmatched_words), pred if keep_predictions else None)


@dataclass
class SyntaxCounts:
    """Running totals over sentences (see the module docstring). Add sentences with `add`, join
    two runs (batches, workers) with `merge`; read results with the frame functions below."""

    layers: int
    heads: int
    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    relations: list[str] = field(default_factory=list)
    correct: np.ndarray | None = None  # int64 [F, 2, L, H, R]
    total: np.ndarray | None = None  # int64 [F, R]
    baseline: np.ndarray | None = None  # int64 [F, K, R]
    sentences: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    unmatched_words: int = 0

    def __post_init__(self) -> None:
        self.offsets = tuple(int(k) for k in self.offsets)
        r = len(self.relations)
        if self.correct is None:
            self.correct = np.zeros((FOLDS, 2, self.layers, self.heads, r), dtype=np.int64)
            self.total = np.zeros((FOLDS, r), dtype=np.int64)
            self.baseline = np.zeros((FOLDS, len(self.offsets), r), dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.correct.nbytes + self.total.nbytes + self.baseline.nbytes)

    @property
    def arcs(self) -> int:
        return int(self.total.sum())

    def _relation_index(self, name: str) -> int:
        try:
            return self.relations.index(name)
        except ValueError:
            self.relations.append(name)
            pad = [(0, 0)] * (self.correct.ndim - 1) + [(0, 1)]
            self.correct = np.pad(self.correct, pad)
            self.total = np.pad(self.total, [(0, 0), (0, 1)])
            self.baseline = np.pad(self.baseline, [(0, 0), (0, 0), (0, 1)])
            return len(self.relations) - 1

    def add(self, probe: SentenceProbe, fold: int | None = None) -> None:
        """Add one sentence. fold: any integer (its parity is used; pass the sentence's corpus
        position so that any processing order gives the same folds); default: alternate by the
        number of sentences added so far."""
        if probe.hits.shape[1:3] != (self.layers, self.heads):
            raise ValueError(f"a probe of {probe.hits.shape[1:3]} heads added to counts of "
                             f"{(self.layers, self.heads)}")
        if tuple(probe.offsets) != self.offsets:
            raise ValueError("the probe's baseline offsets differ from these counts'")
        f = self.sentences % FOLDS if fold is None else int(fold) % FOLDS
        rel = np.array([self._relation_index(r) for r in probe.relation], dtype=np.int64)
        for r in np.unique(rel):
            sel = rel == r
            self.correct[f, :, :, :, r] += probe.hits[..., sel].sum(axis=-1)
            self.total[f, r] += int(sel.sum())
            self.baseline[f, :, r] += probe.baseline[:, sel].sum(axis=-1)
        self.sentences += 1
        for k, v in probe.skipped.items():
            self.skipped[k] = self.skipped.get(k, 0) + int(v)
        self.unmatched_words += int(probe.unmatched_words)

    def merge(self, other: SyntaxCounts) -> SyntaxCounts:
        """A new SyntaxCounts holding both (same model shape and offsets)."""
        if (other.layers, other.heads, other.offsets) != (self.layers, self.heads, self.offsets):
            raise ValueError("cannot merge counts of different models or offsets")
        out = SyntaxCounts(self.layers, self.heads, self.offsets, list(self.relations), self.correct.copy(),
                           self.total.copy(), self.baseline.copy(), self.sentences, dict(self.skipped),
                           self.unmatched_words)
        for j, name in enumerate(other.relations):
            r = out._relation_index(name)
            out.correct[..., r] += other.correct[..., j]
            out.total[:, r] += other.total[:, j]
            out.baseline[:, :, r] += other.baseline[:, :, j]
        out.sentences += other.sentences
        for k, v in other.skipped.items():
            out.skipped[k] = out.skipped.get(k, 0) + int(v)
        out.unmatched_words += other.unmatched_words
        return out

    # --- plain-table form (Parquet, JSON, Ray) ---------------------------------------------

    def to_frame(self) -> pd.DataFrame:
        """Every count as one long table (the run's on-disk form); `from_frame` reads it back."""
        f, d, l, h, r = np.meshgrid(np.arange(FOLDS), np.arange(2), np.arange(self.layers), np.arange(self.heads),
                                    np.arange(len(self.relations)), indexing="ij")
        heads = pd.DataFrame({"kind": "head", "fold": f.ravel(), "direction": d.ravel(), "layer": l.ravel(),
                              "head": h.ravel(), "offset": 0,
                              "relation": np.asarray(self.relations, dtype=object)[r.ravel()] if self.relations
                              else np.array([], dtype=object), "count": self.correct.ravel()})
        f2, k2, r2 = np.meshgrid(np.arange(FOLDS), np.arange(len(self.offsets)), np.arange(len(self.relations)),
                                 indexing="ij")
        rels = np.asarray(self.relations, dtype=object)
        base = pd.DataFrame({"kind": "baseline", "fold": f2.ravel(), "direction": 0, "layer": -1, "head": -1,
                             "offset": np.asarray(self.offsets)[k2.ravel()] if self.offsets else np.array([], int),
                             "relation": rels[r2.ravel()] if self.relations else np.array([], dtype=object),
                             "count": self.baseline.ravel()})
        f3, r3 = np.meshgrid(np.arange(FOLDS), np.arange(len(self.relations)), indexing="ij")
        tot = pd.DataFrame({"kind": "total", "fold": f3.ravel(), "direction": 0, "layer": -1, "head": -1,
                            "offset": 0, "relation": rels[r3.ravel()] if self.relations else np.array([], dtype=object),
                            "count": self.total.ravel()})
        meta = pd.DataFrame({"kind": ["meta"] * (3 + len(self.skipped)), "fold": 0, "direction": 0,
                             "layer": [self.layers, -1, -1] + [-1] * len(self.skipped),
                             "head": [self.heads, -1, -1] + [-1] * len(self.skipped), "offset": 0,
                             "relation": ["shape", "sentences", "unmatched_words"] + [f"skipped:{k}" for k in
                                                                                       self.skipped],
                             "count": [0, self.sentences, self.unmatched_words] + list(self.skipped.values())})
        offs = pd.DataFrame({"kind": "offsets", "fold": 0, "direction": 0, "layer": -1, "head": -1,
                             "offset": list(self.offsets), "relation": "", "count": 0})
        out = pd.concat([meta, offs, tot, base, heads], ignore_index=True)
        return out.astype({"fold": "int8", "direction": "int8", "layer": "int32", "head": "int32",
                           "offset": "int32", "count": "int64", "kind": "string", "relation": "string"})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SyntaxCounts:
        meta = frame[frame["kind"] == "meta"].set_index("relation")
        layers, heads = int(meta.loc["shape", "layer"]), int(meta.loc["shape", "head"])
        offsets = tuple(int(k) for k in frame.loc[frame["kind"] == "offsets", "offset"])
        tot = frame[frame["kind"] == "total"]
        relations = list(dict.fromkeys(str(r) for r in tot["relation"]))
        out = cls(layers, heads, offsets, list(relations))
        ri = {r: i for i, r in enumerate(relations)}
        ki = {k: i for i, k in enumerate(offsets)}
        for row in tot.itertuples():
            out.total[row.fold, ri[row.relation]] = row.count
        base = frame[frame["kind"] == "baseline"]
        for row in base.itertuples():
            out.baseline[row.fold, ki[row.offset], ri[row.relation]] = row.count
        hd = frame[frame["kind"] == "head"]
        if len(hd):
            out.correct[hd["fold"].to_numpy(int), hd["direction"].to_numpy(int), hd["layer"].to_numpy(int),
                        hd["head"].to_numpy(int), hd["relation"].map(ri).to_numpy(int)] = hd["count"].to_numpy()
        out.sentences = int(meta.loc["sentences", "count"])
        out.unmatched_words = int(meta.loc["unmatched_words", "count"])
        out.skipped = {str(k).split(":", 1)[1]: int(v) for k, v in meta["count"].items()
                       if str(k).startswith("skipped:")}
        return out


# --- results as tidy tables -------------------------------------------------------------------

def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def accuracy_frame(counts: SyntaxCounts) -> pd.DataFrame:
    """One row per (layer, head, relation, direction): correct, count, accuracy."""
    c = counts.correct.sum(axis=0)  # [2, L, H, R]
    t = counts.total.sum(axis=0)  # [R]
    d, l, h, r = np.meshgrid(np.arange(2), np.arange(counts.layers), np.arange(counts.heads),
                             np.arange(len(counts.relations)), indexing="ij")
    rels = np.asarray(counts.relations, dtype=object)
    return pd.DataFrame({
        "layer": l.ravel(), "head": h.ravel(),
        "relation": rels[r.ravel()] if len(rels) else np.array([], dtype=object),
        "direction": np.asarray(DIRECTIONS, dtype=object)[d.ravel()],
        "correct": c.ravel(), "count": t[r.ravel()] if len(rels) else np.array([], dtype=np.int64),
        "accuracy": _ratio(c, t[None, None, None, :]).ravel(),
    })


def baseline_frame(counts: SyntaxCounts) -> pd.DataFrame:
    """One row per (relation, offset k): the share of the relation's words whose head is k away."""
    b = counts.baseline.sum(axis=0)  # [K, R]
    t = counts.total.sum(axis=0)
    rows = [{"relation": rel, "offset": k, "correct": int(b[i, r]), "count": int(t[r]),
             "accuracy": float(b[i, r] / t[r]) if t[r] else float("nan")}
            for r, rel in enumerate(counts.relations) for i, k in enumerate(counts.offsets)]
    return pd.DataFrame(rows, columns=["relation", "offset", "correct", "count", "accuracy"])


def _best_head(correct: np.ndarray) -> tuple[int, int, int]:
    """(direction, layer, head) with the most hits in correct [2, L, H]; ties: dependent -> head,
    then the lower layer, then the lower head (the first in C order)."""
    d, l, h = np.unravel_index(int(np.argmax(correct)), correct.shape)
    return int(d), int(l), int(h)


CLEAR_MARGIN = 0.10  # an attention head "beats" the offset guess by at least 10 points
FEW_WORDS = 20  # below this many words a relation's verdict is "too few words"
VERDICTS = ("too few words", "no better than the offset guess", "barely above the offset guess",
            "beats the offset guess")


def verdict(count: int, margin: float) -> str:
    """What a relation's best attention head shows against its best offset guess, from the margin
    (held out where there is one): a head that only matches the word k positions away (det's best
    head and the +1 guess, both 88%) is no finding, and a few points above it is not much of one."""
    if count < FEW_WORDS or not np.isfinite(margin):
        return VERDICTS[0]
    if margin <= 0.005:
        return VERDICTS[1]
    return VERDICTS[2] if margin < CLEAR_MARGIN else VERDICTS[3]


def best_heads(counts: SyntaxCounts, min_count: int = 1) -> pd.DataFrame:
    """Per relation (most frequent first): the best attention head and direction against the best
    offset.

    Columns: relation, count, layer, head (the attention head), direction, accuracy, offset (best
    k), baseline (its accuracy), margin (accuracy − baseline), held_out (the attention head and the
    offset chosen on one fold of sentences and scored on the other, both ways, pooled; NaN when a
    fold has no arc of the relation), held_out_baseline, held_out_margin, and verdict (`verdict` of
    the held-out margin, or of the margin where there is none).
    """
    cols = ["relation", "count", "layer", "head", "direction", "accuracy", "offset", "baseline", "margin",
            "held_out", "held_out_baseline", "held_out_margin", "verdict"]
    rows = []
    t_all = counts.total.sum(axis=0)
    for r, rel in enumerate(counts.relations):
        count = int(t_all[r])
        if count < max(1, int(min_count)):
            continue
        c = counts.correct[..., r]  # [F, 2, L, H]
        d, l, h = _best_head(c.sum(axis=0))
        b = counts.baseline[..., r]  # [F, K]
        kb = int(np.argmax(b.sum(axis=0)))
        acc = c.sum(axis=0)[d, l, h] / count
        base = b.sum(axis=0)[kb] / count
        held, held_base = np.nan, np.nan
        tf = counts.total[:, r]
        if (tf > 0).all():
            hits = hits_b = 0
            for f in range(FOLDS):
                other = [g for g in range(FOLDS) if g != f]
                dd, ll, hh = _best_head(c[other].sum(axis=0))
                hits += int(c[f, dd, ll, hh])
                hits_b += int(b[f, int(np.argmax(b[other].sum(axis=0)))])
            held, held_base = hits / count, hits_b / count
        held_margin = held - held_base
        rows.append({"relation": rel, "count": count, "layer": l, "head": h, "direction": DIRECTIONS[d],
                     "accuracy": float(acc), "offset": counts.offsets[kb], "baseline": float(base),
                     "margin": float(acc - base), "held_out": held, "held_out_baseline": held_base,
                     "held_out_margin": held_margin,
                     "verdict": verdict(count, held_margin if np.isfinite(held_margin) else float(acc - base))})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["count", "relation"], ascending=[False, True], ignore_index=True)


def head_relation_map(counts: SyntaxCounts, direction: str = "best", min_count: int = 1) -> pd.DataFrame:
    """Long table for the head x relation heatmap: layer, head, relation, accuracy (the chosen
    direction, or the better of the two), direction used, count, baseline (the relation's best
    offset accuracy) and margin. Relations with fewer than `min_count` words are left out."""
    acc = accuracy_frame(counts)
    base = baseline_frame(counts)
    best_base = (base.sort_values("accuracy", ascending=False, kind="stable").groupby("relation", sort=False)
                 .head(1).set_index("relation")["accuracy"])
    acc = acc[acc["count"] >= max(1, int(min_count))]
    if direction == "best":
        acc = (acc.sort_values(["accuracy", "direction"], ascending=[False, True], kind="stable")
               .groupby(["layer", "head", "relation"], sort=False).head(1))
    elif direction in DIRECTIONS:
        acc = acc[acc["direction"] == direction]
    else:
        raise ValueError(f"direction must be 'best' or one of {DIRECTIONS}")
    out = acc.assign(baseline=acc["relation"].map(best_base).astype(float))
    out["margin"] = out["accuracy"] - out["baseline"]
    return out.sort_values(["layer", "head", "relation"], ignore_index=True)[
        ["layer", "head", "relation", "direction", "correct", "count", "accuracy", "baseline", "margin"]]
