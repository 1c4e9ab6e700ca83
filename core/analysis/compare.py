"""Comparisons the pages report: two heads cell by cell, attention weight against norm-based
share, and the tutorial's connection categories for one text or across the six example texts.

Pure functions of results and arrays (no Streamlit). Conventions and formulas: docs/methods.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis import lenses, norms, patterns, statistics
from core.attention.result import AttentionResult


@dataclass(frozen=True)
class HeadComparison:
    """Head B against head A on the same tokens."""

    difference: np.ndarray  # float32 [n, n]: B - A
    divergence: np.ndarray  # float [n]: Jensen-Shannon divergence of each query row, in nats
    mean_divergence: float  # mean over rows: 0 = identical, ln 2 = no overlap


def compare_heads(a: np.ndarray, b: np.ndarray) -> HeadComparison:
    """B - A and the rows' Jensen-Shannon divergence, for two [n, n] attention matrices."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"heads of different shapes {a.shape} and {b.shape} cannot be compared cell by cell")
    js = np.asarray(statistics.jensen_shannon(a, b))
    return HeadComparison(difference=(b - a).astype(np.float32), divergence=js, mean_divergence=float(np.mean(js)))


@dataclass(frozen=True)
class NormFinding:
    """Kobayashi et al. (2020)'s finding on one text, for one head and across all heads."""

    weight_share: float  # this head's attention weight on the token set (mean over rows)
    norm_share: float  # the same share of its norm-based attention
    heads_lower: float  # fraction of all heads whose norm share is below their weight share


def norm_finding(nr: norms.NormResult, token_mask: np.ndarray, layer: int, head: int) -> NormFinding:
    """Weight share vs norm share of a token set (e.g. [CLS]/[SEP]/punctuation) for (layer, head)."""
    table = norms.weight_vs_norm_share(nr, token_mask)
    row = table[(table["layer"] == layer) & (table["head"] == head)].iloc[0]
    return NormFinding(weight_share=float(row["weight_share"]), norm_share=float(row["norm_share"]),
                       heads_lower=float((table["norm_share"] < table["weight_share"]).mean()))


def category_breakdown(result: AttentionResult, threshold: float, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tutorial's categories of strong head-averaged connections: (every connection, counts per
    layer). `mode` and `threshold` as in core.analysis.patterns.categorise_connections."""
    average = lenses.head_average(result.attention)
    connections = patterns.categorise_connections(average, list(result.display_tokens), result.special_mask,
                                                  float(threshold), mode, causal=result.causal)
    return connections, patterns.category_counts(connections, result.num_layers)


def compare_examples(results: Mapping[str, AttentionResult], threshold: float, mode: str,
                     breakdown: Callable[[AttentionResult, float, str], tuple[pd.DataFrame, pd.DataFrame]]
                     = category_breakdown) -> pd.DataFrame:
    """category_breakdown's counts for several texts in one table, with a "sentence" column
    ("name: text") first. `breakdown` computes one text's (a cached category_breakdown, say)."""
    frames = []
    for name, result in results.items():
        _, counts = breakdown(result, threshold, mode)
        counts = counts.copy()
        counts.insert(0, "sentence", f"{name}: {result.text}")
        frames.append(counts)
    return pd.concat(frames, ignore_index=True)
