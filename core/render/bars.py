"""Bar charts: one bar per token (rollout row, flow, sink share) and the tutorial's
connection categories per layer or per sentence. No Streamlit here.
"""

from __future__ import annotations

from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.analysis.patterns import CATEGORIES
from core.render.matrix import CELL_BUDGET, CellBudgetError, token_labels
from core.render.vega import CATEGORY_COLOURS, HIGHLIGHT, label_font, no_init_validation, title_params, value_if

FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")
"""Bar charts: `width` is the whole chart's (axes and legend included), so a chart drawn with
``st.altair_chart(width="stretch")`` (Streamlit sets width = its column) or with a width that
fits a narrow column never runs past it; heights stay the plot's (as vega.PAD)."""
NARROW_PX = 380
"""Total width of the category charts: fits a 420 px window's column (about 388 px)."""

CATEGORY_COLORS = CATEGORY_COLOURS[:4]  # one per CATEGORIES entry, same order (Okabe-Ito: colour-blind safe)


def _category_long(counts_df: pd.DataFrame, group: str, drop: Sequence[str] = ()) -> pd.DataFrame:
    """-> long (group, category, count). Accepts long (group, category, count), raw edges
    (group, category: one row per edge, e.g. patterns.categorise_connections) or wide
    (group + one column per category, e.g. patterns.category_counts; "total" is ignored)."""
    df = counts_df.copy()
    if group not in df.columns and df.index.name == group:
        df = df.reset_index()
    if group not in df.columns:
        raise ValueError(f"expected a {group!r} column, got {list(df.columns)}")
    if "category" in df.columns:
        df["category"] = df["category"].astype(str)
        if "count" in df.columns:
            out = df[[group, "category", "count"]]
        else:
            out = df.groupby([group, "category"], as_index=False, sort=False).size().rename(
                columns={"size": "count"})
    else:
        skip = {group, "total", *drop}
        cats = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
        out = df.melt(id_vars=[group], value_vars=cats, var_name="category", value_name="count")
    out = out.copy()
    out["category"] = out["category"].astype(str)
    out["count"] = pd.to_numeric(out["count"]).astype(float)
    return out


def _category_scale(cats: Sequence[str]) -> alt.Scale:
    known = [c for c in CATEGORIES if c in cats]
    other = sorted(c for c in set(cats) if c not in CATEGORIES)
    domain = known + other
    palette = list(CATEGORY_COLOURS)
    rng = [palette[CATEGORIES.index(c)] if c in CATEGORIES else palette[4 + i % 4]
           for i, c in enumerate(other)]
    rng = [palette[CATEGORIES.index(c)] for c in known] + rng
    return alt.Scale(domain=domain, range=rng)


@no_init_validation
def category_chart(counts_df: pd.DataFrame, *, title: str = "Strong connections by category",
                   normalize: bool = False, layer_col: str = "layer") -> alt.Chart:
    """Stacked bar per layer of the tutorial's categories (positional, special, syntactic, semantic).

    counts_df: long (layer, category, count) or wide (layer + one column per category; layer may
    be the index). normalize=True stacks shares instead of counts.
    """
    df = _category_long(counts_df, layer_col)
    cats = df["category"].unique().tolist()
    scale = _category_scale(cats)
    order = scale.domain
    df["order"] = df["category"].map({c: i for i, c in enumerate(order)})
    y_title = "Share of strong connections" if normalize else "Strong connections"
    totals = df.groupby(layer_col)["count"].sum()
    description = (f"Stacked bar chart: {title}. {y_title} in each of {len(totals)} layers, split into "
                   f"{', '.join(order)}")
    if len(totals) and totals.max() > 0:
        top = df.loc[df["count"].idxmax()]
        description += (f"; most: layer {top[layer_col]}, {totals.max():.0f} in all; the largest part is "
                        f"{top['category']} in layer {top[layer_col]} ({top['count']:.0f})")
    # Top-level properties go to the constructor: .properties() validates each one against the schema.
    return alt.Chart(df, width=NARROW_PX, height=280, title=title_params(title), autosize=FIT_X,
                     description=description + ".").mark_bar().encode(
        x=alt.X(f"{layer_col}:O", title="Layer", axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14)),
        y=alt.Y("sum(count):Q", title=y_title, stack="normalize" if normalize else "zero",
                axis=alt.Axis(labelFontSize=12, titleFontSize=14, format=".0%" if normalize else "d")),
        color=alt.Color("category:N", title="Category", scale=scale, sort=order,
                        legend=alt.Legend(orient="bottom", direction="horizontal", columns=2, titleFontSize=13,
                                          labelFontSize=12)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip(f"{layer_col}:O", title="Layer"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("count:Q", title="Count")],
    )


@no_init_validation
def category_compare_chart(df: pd.DataFrame, *, title: str = "Categories per sentence",
                           sentence_col: str = "sentence", normalize: bool = True) -> alt.Chart:
    """Side-by-side bars: x = category, one bar per sentence (xOffset), y = share (or count).

    df: long (sentence, category, count[, layer]) or wide (sentence + one column per category);
    layers are summed. normalize=True shows each sentence's share so lengths compare fairly.
    """
    long = _category_long(df, sentence_col, drop=("layer",))
    long = long.groupby([sentence_col, "category"], as_index=False, sort=False)["count"].sum()
    if normalize:
        tot = long.groupby(sentence_col)["count"].transform("sum").replace(0, np.nan)
        long["value"] = (long["count"] / tot).fillna(0.0)
    else:
        long["value"] = long["count"].astype(float)
    sentences = list(dict.fromkeys(long[sentence_col].astype(str)))
    long[sentence_col] = long[sentence_col].astype(str)
    order = _category_scale(long["category"].unique().tolist()).domain
    what = "share" if normalize else "number"
    description = (f"Grouped bar chart: {title}. The {what} of strong connections in each category "
                   f"({', '.join(order)}) for {len(sentences)} sentences")
    if len(long) and long["value"].max() > 0:
        parts = []
        for s_name in sentences:
            rows = long[long[sentence_col] == s_name]
            best = rows.loc[rows["value"].idxmax()]
            amount = f"{best['value']:.0%}" if normalize else f"{best['value']:.0f}"
            parts.append(f"{s_name}: {best['category']} {amount}")
        description += "; largest category per sentence: " + "; ".join(parts)
    return alt.Chart(long, width=NARROW_PX, height=280, title=title_params(title), autosize=FIT_X,
                     description=description + ".").mark_bar().encode(
        x=alt.X("category:N", title="Category", sort=order, axis=alt.Axis(labelAngle=0, labelFontSize=12,
                                                                          titleFontSize=14)),
        xOffset=alt.XOffset(f"{sentence_col}:N", sort=sentences),
        y=alt.Y("value:Q", title="Share of strong connections" if normalize else "Strong connections",
                axis=alt.Axis(format=".0%" if normalize else "d", labelFontSize=12, titleFontSize=14)),
        color=alt.Color(f"{sentence_col}:N", title="Sentence", sort=sentences,
                        scale=alt.Scale(range=list(CATEGORY_COLOURS)),
                        # The sentence type only ("Subordinate clause: When the cat..." ran past a
                        # phone's column); the whole sentence is in the tooltip.
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=NARROW_PX - 40,
                                          labelExpr="split(datum.label, ':')[0]", titleFontSize=13,
                                          labelFontSize=12)),
        tooltip=[alt.Tooltip(f"{sentence_col}:N", title="Sentence"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("count:Q", title="Count"),
                 alt.Tooltip("value:Q", title="Share" if normalize else "Count", format=".1%" if normalize else "d")],
    )


@no_init_validation
def bar_chart_for_tokens(values: np.ndarray, tokens: Sequence[str], title: str, *,
                         value_label: str = "Value", highlight: int | None = None,
                         reference: float | None = None, reference_label: str | None = None,
                         decimals: int = 3, max_bars: int = CELL_BUDGET) -> alt.LayerChart:
    """One bar per token in sentence order: ``values[n]`` (e.g. rollout row, flow, sink share).

    highlight: a position drawn orange (e.g. the query). reference: a dashed rule (e.g. uniform 1/n).
    Selection "token" on token_pos.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] != len(tokens):
        raise ValueError(f"{v.shape[0]} values but {len(tokens)} tokens")
    if v.shape[0] > max_bars:
        raise CellBudgetError(v.shape[0], max_bars)
    labels = token_labels(tokens)
    n = len(labels)
    df = pd.DataFrame({"token_pos": np.arange(n), "token": labels, "value": v,
                       "highlight": np.arange(n) == (-1 if highlight is None else int(highlight))})
    bar_px = 22 if n <= 30 else max(2, min(16, 900 // max(n, 1)))
    x = alt.X("token:N", sort=labels, title="Token",
              axis=alt.Axis(labelAngle=-55, labelLimit=140, labelFontSize=label_font(bar_px),
                            labelOverlap=bar_px < 10, titleFontSize=14))
    param = alt.selection_point(name="token", fields=["token_pos"], on="click", clear="dblclick", empty=False)
    bars = alt.Chart().mark_bar().encode(
        x=x,
        y=alt.Y("value:Q", title=value_label, axis=alt.Axis(labelFontSize=12, titleFontSize=14)),
        color=value_if("datum.highlight", HIGHLIGHT, "#4c78a8"),
        tooltip=[alt.Tooltip("token:N", title="Token"),
                 alt.Tooltip("value:Q", title=value_label, format=f".{int(decimals)}f")],
    ).add_params(param)
    layers: list[Any] = [bars]
    if reference is not None:
        rule_df = pd.DataFrame({"ref": [float(reference)], "ref_label": [reference_label or "reference"]})
        layers.append(alt.Chart(rule_df).mark_rule(strokeDash=[5, 4], color="#e45756", size=2).encode(
            y=alt.Y("ref:Q"), tooltip=[alt.Tooltip("ref_label:N", title="Line"),
                                alt.Tooltip("ref:Q", title="Value", format=f".{int(decimals)}f")]))
    top = int(np.nanargmax(v)) if np.isfinite(v).any() else None
    description = f"Bar chart: {title}. {value_label} for each of {n} tokens in sentence order"
    if top is not None:
        description += f"; highest: '{labels[top].split(' · ', 1)[-1]}' (position {top}) {v[top]:.{int(decimals)}f}"
    if highlight is not None and 0 <= int(highlight) < n:
        description += f"; the orange bar is '{labels[int(highlight)].split(' · ', 1)[-1]}'"
    if reference is not None:
        description += f"; the dashed line is {reference_label or 'a reference'} ({float(reference):.{int(decimals)}f})"
    # fit-x: drawn with width="stretch" (Streamlit sets width = the column), axes included it fits.
    return alt.layer(*layers, data=df, width=max(240, min(bar_px * n, 900)), height=260, title=title_params(title),
                     autosize=FIT_X, description=description + ".")
