"""Pattern classes (Kovaleva et al. 2019, as a transparent rule), template scores (the
TransformerLens head detector) and the tutorial's categorisation of strong connections.

See docs/methods.md, sections Pattern classes, Template scores and Tutorial categories. numpy
and pandas only; no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from core.analysis.lenses import allowed_keys, as_4d, receptive_field
from core.analysis.tokens import keep_cumulative

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.attention.result import AttentionResult

DETERMINERS = frozenset({"the", "a", "an"})  # the tutorial's "syntactic" rule
CATEGORIES = ("positional", "special", "syntactic", "semantic")  # tutorial order of precedence
PATTERN_CLASSES = ("vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous")


@dataclass(frozen=True)
class PatternThresholds:
    """Rule version of Kovaleva et al. 2019's five classes (editable; defaults: docs/methods.md,
    section Pattern classes).

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
    allowed = allowed_keys(n, causal)

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
    a = as_4d(att)
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


def template_scores_for(result: AttentionResult, *, exclude_first: bool = False,
                        exclude_diagonal: bool = False) -> pd.DataFrame:
    """template_scores of every head of `result` against the templates make_templates builds from
    its tokens ([CLS], [SEP], punctuation, segments; causal models masked)."""
    from core.analysis import tokens

    names = list(result.tokens)
    masks = make_templates(result.n_tokens, cls=tokens.cls_mask(names, result.special_mask),
                           sep=tokens.sep_mask(names, result.special_mask),
                           punct=tokens.punctuation_mask(list(result.display_tokens)),
                           segment_ids=result.segment_ids, causal=result.causal)
    return template_scores(result.attention, masks, exclude_first=exclude_first, exclude_diagonal=exclude_diagonal)


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
