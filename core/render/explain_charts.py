"""Charts of the model's output beside attention (core.explain's numbers, as plain arrays): a
top-k of predictions, the words every method ranks side by side, the faithfulness of each lens
by layer beside Abnar & Zuidema's table, and two word scores one above the other (the
tutorial's "does the most-attended word matter most?"). Every chart carries a text description.
No Streamlit, no core.explain: arrays in, Altair out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render.raster import light_text_test
from core.render.vega import (CATEGORY_COLOURS, HIGHLIGHT, PAD, TEXT_DARK, TEXT_LIGHT, calculate, no_init_validation,
                              title_params, unique_labels, value_if)

BAR_BLUE = "#4c78a8"


@no_init_validation
def top_k_chart(tokens: Sequence[str], probabilities: np.ndarray, *, title: str,
                target: str | None = None, value_label: str = "Probability") -> alt.LayerChart:
    """Horizontal bars, most probable first: `probabilities[k]` of `tokens[k]`; the bar of
    `target` (the original word, or the actual next token) is orange."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    labels = unique_labels([str(t) for t in tokens])
    frame = pd.DataFrame({"token": labels, "p": p, "is_target": [str(t) == target for t in tokens],
                          "rank": np.arange(1, len(p) + 1)})
    y = alt.Y("token:N", sort=labels, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=160))
    x = alt.X("p:Q", title=value_label, scale=alt.Scale(domain=[0, max(float(p.max()) if len(p) else 1.0, 1e-6)]),
              axis=alt.Axis(format="%", labelFontSize=12, titleFontSize=13))
    tooltip = [alt.Tooltip("rank:O", title="Rank"), alt.Tooltip("token:N", title="Token"),
               alt.Tooltip("p:Q", title=value_label, format=".2%")]
    bars = alt.Chart().mark_bar().encode(x=x, y=y, color=value_if("datum.is_target", HIGHLIGHT, BAR_BLUE),
                                         tooltip=tooltip)
    text = alt.Chart().mark_text(align="left", dx=3, fontSize=12).encode(
        x=x, y=y, text=alt.Text("p_text:N"), tooltip=tooltip)
    listed = ", ".join(f"{t} {v:.1%}" for t, v in zip(labels, p))
    description = f"Bar chart: {title}. {len(p)} most probable tokens, most probable first: {listed}"
    if target is not None:
        description += (f"; the orange bar is ‘{target}’" if frame["is_target"].any()
                        else f"; ‘{target}’ is not among them")
    return alt.layer(bars, text, data=frame, transform=calculate(p_text="format(datum.p, '.1%')"),
                     width=300, height=22 * max(len(p), 1), title=title_params(title), autosize=PAD,
                     description=description + ".")


@no_init_validation
def rank_chart(labels: Sequence[str], methods: Sequence[str], ranks: np.ndarray, scores: np.ndarray, *,
               title: str, highlight_methods: Sequence[str] = ()) -> alt.LayerChart:
    """Every method's rank of every word in one chart: words (columns, in sentence order) by
    methods (rows); `ranks[m, k]` (1 = most important) is the cell's number, darker = higher;
    `scores[m, k]` in the tooltip. Rows named in `highlight_methods` get a bold label."""
    ranks = np.asarray(ranks, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    words = unique_labels([str(w) for w in labels])
    k = len(words)
    rows = [{"method": m, "word": w, "rank": int(ranks[i, j]), "score": float(scores[i, j]),
             "closeness": (k - int(ranks[i, j])) / max(k - 1, 1)}
            for i, m in enumerate(methods) for j, w in enumerate(words)]
    frame = pd.DataFrame(rows, columns=["method", "word", "rank", "score", "closeness"])
    cell = 30 if k <= 20 else max(12, 600 // max(k, 1))
    # Past about 50 words the chart is wider than its column: drawn on a canvas it keeps its size and
    # scrolls in its own box (an SVG would be shrunk to the column, its labels with it).
    wide = cell * k > 600
    x = alt.X("word:N", sort=words, title="Word (in sentence order)",
              axis=alt.Axis(labelAngle=-90 if cell < 16 else -45, labelFontSize=11 if cell < 16 else 12,
                            titleFontSize=13, orient="top"))
    y = alt.Y("method:N", sort=list(methods), title=None, axis=alt.Axis(labelFontSize=12, labelLimit=200))
    tooltip = [alt.Tooltip("method:N", title="Method"), alt.Tooltip("word:N", title="Word"),
               alt.Tooltip("rank:O", title="Rank (1 = most important)"), alt.Tooltip("score:Q", title="Score",
                                                                                     format=".4f")]
    rect = alt.Chart().mark_rect().encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("closeness:Q", title="Rank", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(values=[0, 1], labelExpr="datum.value == 1 ? 'first' : 'last'",
                                          titleFontSize=13)))
    layers = [rect]
    if cell >= 20:
        layers.append(alt.Chart().mark_text(fontSize=12).encode(
            x=x, y=y, text=alt.Text("rank:Q"), tooltip=tooltip,
            color=value_if(light_text_test("closeness", 0.0, 1.0, "blues"), TEXT_LIGHT, TEXT_DARK)))
    firsts = []
    for i, m in enumerate(methods):
        if k and (ranks[i] == 1).any():
            firsts.append(f"{m}: ‘{words[int(np.argmax(ranks[i] == 1))]}’")
    description = (f"Rank table: {title}. {len(methods)} methods (rows) rank {k} words (columns, sentence order); "
                   f"the cell's number is the word's rank, 1 = most important. First word by each method: "
                   + "; ".join(firsts))
    extra = {"usermeta": {"embedOptions": {"renderer": "canvas"}}} if wide else {}
    return alt.layer(*layers, data=frame, width=cell * max(k, 1), height=22 * max(len(methods), 1),
                     title=title_params(title, "1 = the word that method finds most important"),
                     autosize=PAD, description=description + ".", **extra)


@no_init_validation
def faithfulness_chart(rho: Mapping[str, np.ndarray], *, title: str, reference: str,
                       spread: Mapping[str, np.ndarray] | None = None,
                       paper: Mapping[str, Sequence[float]] | None = None) -> alt.LayerChart:
    """Spearman correlation of each lens with `reference`, by layer: one line per lens
    (`rho[lens]`: [layers], NaN where undefined), its +/- `spread[lens]` as a band (a corpus's
    standard deviation), and Abnar & Zuidema's values (`paper[lens]`) as dashed lines."""
    lenses = list(rho)
    colours = {lens: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, lens in enumerate(lenses)}
    rows = []
    for lens in lenses:
        values = np.asarray(rho[lens], dtype=np.float64)
        sd = None if spread is None or lens not in spread else np.asarray(spread[lens], dtype=np.float64)
        for layer, v in enumerate(values, start=1):
            if np.isfinite(v):
                s = float(sd[layer - 1]) if sd is not None and np.isfinite(sd[layer - 1]) else 0.0
                rows.append({"lens": lens, "layer": layer, "rho": float(v), "low": float(v) - s, "high": float(v) + s,
                             "source": "this model"})
    for lens, values in (paper or {}).items():
        for layer, v in enumerate(values, start=1):
            rows.append({"lens": lens, "layer": layer, "rho": float(v), "low": float(v), "high": float(v),
                         "source": "Abnar & Zuidema 2020"})
    frame = pd.DataFrame(rows, columns=["lens", "layer", "rho", "low", "high", "source"])
    domain = lenses + [lens for lens in (paper or {}) if lens not in colours]
    colour = alt.Color("lens:N", title="Lens", scale=alt.Scale(domain=domain, range=[
        colours.get(lens, CATEGORY_COLOURS[(len(lenses) + i) % len(CATEGORY_COLOURS)]) for i, lens in enumerate(domain)]),
        legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    n_layers = int(max([len(np.asarray(v)) for v in rho.values()] + [len(v) for v in (paper or {}).values()] + [1]))
    x = alt.X("layer:Q", title="Layer", scale=alt.Scale(domain=[1, max(n_layers, 2)]),
              axis=alt.Axis(tickMinStep=1, format="d", labelFontSize=12, titleFontSize=13))
    y = alt.Y("rho:Q", title=f"Spearman ρ with {reference}", scale=alt.Scale(domain=[-1, 1]),
              axis=alt.Axis(labelFontSize=12, titleFontSize=13))
    tooltip = [alt.Tooltip("source:N", title="From"), alt.Tooltip("lens:N", title="Lens"),
               alt.Tooltip("layer:Q", title="Layer"), alt.Tooltip("rho:Q", title="Spearman ρ", format=".2f")]
    ours = "datum.source == 'this model'"
    layers: list[alt.Chart] = []
    if spread is not None:
        layers.append(alt.Chart().mark_area(opacity=0.15).encode(x=x, y=alt.Y("low:Q"), y2="high:Q", color=colour)
                      .transform_filter(ours))
    layers.append(alt.Chart().mark_line(point=True, strokeWidth=2.5).encode(x=x, y=y, color=colour, tooltip=tooltip)
                  .transform_filter(ours))
    if paper:
        layers.append(alt.Chart().mark_line(strokeDash=[5, 4], strokeWidth=1.5, point=alt.OverlayMarkDef(
            shape="triangle", size=40)).encode(x=x, y=y, color=colour, tooltip=tooltip)
                      .transform_filter(f"!({ours})"))
    layers.append(alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#808495", strokeWidth=1)
                  .encode(y="zero:Q"))
    parts = []
    for lens in lenses:
        values = np.asarray(rho[lens], dtype=np.float64)
        if np.isfinite(values).any():
            parts.append(f"{lens}: " + ", ".join("n/a" if not np.isfinite(v) else f"{v:.2f}" for v in values))
    description = (f"Line chart: {title}. Spearman correlation with {reference} by layer, one line per lens: "
                   + "; ".join(parts))
    if paper:
        description += ". Dashed: Abnar & Zuidema's (2020) values, " + "; ".join(
            f"{lens}: " + ", ".join(f"{v:.2f}" for v in values) for lens, values in paper.items())
    subtitle = "Solid: this model. Dashed: Abnar & Zuidema 2020, Table 1 (their model)" if paper else None
    return alt.layer(*layers, data=frame, width=420, height=260, title=title_params(title, subtitle),
                     autosize=PAD, description=description + ".")


@no_init_validation
def word_pair_chart(labels: Sequence[str], first: np.ndarray, second: np.ndarray, *, title: str,
                    first_label: str, second_label: str) -> alt.VConcatChart:
    """Two scores of the same words, one bar chart above the other (words in sentence order);
    the largest bar of each is orange."""
    words = unique_labels([str(w) for w in labels])
    charts = []
    parts = []
    for values, label in ((first, first_label), (second, second_label)):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        best = int(np.nanargmax(v)) if np.isfinite(v).any() else -1
        frame = pd.DataFrame({"word": words, "value": v, "best": np.arange(len(v)) == best})
        charts.append(alt.Chart(frame, title=title_params(label)).mark_bar().encode(
            x=alt.X("word:N", sort=words, title=None, axis=alt.Axis(labelAngle=-45, labelFontSize=12)),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(labelFontSize=12)),
            color=value_if("datum.best", HIGHLIGHT, BAR_BLUE),
            tooltip=[alt.Tooltip("word:N", title="Word"), alt.Tooltip("value:Q", title=label, format=".4f")],
        ).properties(width=max(240, min(26 * len(words), 700)), height=150))
        if best >= 0:
            parts.append(f"{label}: highest ‘{words[best]}’ ({v[best]:.3f})")
    return alt.vconcat(*charts, title=title_params(title), autosize=PAD,
                       description=f"Two bar charts: {title}. " + "; ".join(parts) + ". The orange bar is each "
                                   "chart's largest.")
