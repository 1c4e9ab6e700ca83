"""Charts of generation and of encoder-decoder attention, as plain arrays in: the candidates before
a choice, the newest token's attention over its context (one head, the layer average, rollout),
a rectangular heatmap (cross-attention: target rows over source columns) and a word alignment
drawn as links between two sentences. Every chart carries a text description.
No Streamlit, no core.generate: arrays in, Altair out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.render.vega import HIGHLIGHT, PAD, calculate, no_init_validation, title_params, unique_labels, value_if

BAR_BLUE = "#4c78a8"
CUT_GREY = "#9e9e9e"  # a candidate top-k / top-p left out of the draw


@no_init_validation
def candidates_chart(tokens: Sequence[str], probabilities: np.ndarray, kept: np.ndarray, chosen: int | None, *,
                     title: str) -> alt.LayerChart:
    """Horizontal bars, most probable first: `probabilities[k]` (the model's, at the temperature)
    of `tokens[k]`; `kept[k]` its probability in the distribution the choice is drawn from (0:
    cut by top-k or top-p, drawn grey); the bar of candidate `chosen` (an index) is orange."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    q = np.asarray(kept, dtype=np.float64).reshape(-1)
    labels = unique_labels([str(t) for t in tokens])
    status = ["chosen" if i == chosen else "in the draw" if q[i] > 0 else "left out" for i in range(len(p))]
    frame = pd.DataFrame({"token": labels, "p": p, "kept": q, "status": status, "rank": np.arange(1, len(p) + 1)})
    y = alt.Y("token:N", sort=labels, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=160))
    x = alt.X("p:Q", title="Probability", scale=alt.Scale(domain=[0, max(float(p.max()) if len(p) else 1.0, 1e-6)]),
              axis=alt.Axis(format="%", labelFontSize=12, titleFontSize=13))
    tooltip = [alt.Tooltip("rank:O", title="Rank"), alt.Tooltip("token:N", title="Token"),
               alt.Tooltip("p:Q", title="Probability", format=".2%"),
               alt.Tooltip("kept:Q", title="In the draw", format=".2%"), alt.Tooltip("status:N", title="Status")]
    colour = alt.Color("status:N", title=None,
                       scale=alt.Scale(domain=["chosen", "in the draw", "left out"],
                                       range=[HIGHLIGHT, BAR_BLUE, CUT_GREY]),
                       legend=alt.Legend(orient="bottom", labelFontSize=12))
    bars = alt.Chart().mark_bar().encode(x=x, y=y, color=colour, tooltip=tooltip)
    text = alt.Chart().mark_text(align="left", dx=3, fontSize=12).encode(x=x, y=y, text=alt.Text("p_text:N"),
                                                                          tooltip=tooltip)
    listed = ", ".join(f"{t} {v:.1%}" + ("" if s == "in the draw" else f" ({s})")
                       for t, v, s in zip(labels, p, status))
    description = f"Bar chart: {title}. {len(p)} most probable next tokens, most probable first: {listed}."
    return alt.layer(bars, text, data=frame, transform=calculate(p_text="format(datum.p, '.1%')"),
                     width=300, height=22 * max(len(p), 1), title=title_params(title), autosize=PAD,
                     description=description)


@no_init_validation
def attention_rows_chart(labels: Sequence[str], rows: Mapping[str, np.ndarray], *, title: str) -> alt.LayerChart:
    """One row of bars per lens (`rows[name]`: [keys], each a distribution over the context):
    the newest token's attention over every token before it (x, in order; the newest last)."""
    words = unique_labels([str(t) for t in labels])
    names = list(rows)
    frame = pd.DataFrame([{"lens": name, "token": w, "position": i, "weight": float(v)}
                          for name in names for i, (w, v) in enumerate(zip(words, np.asarray(rows[name])))])
    width = max(240, min(26 * len(words), 900))
    x = alt.X("token:N", sort=words, title="Context (the newest token last)",
              axis=alt.Axis(labelAngle=-45, labelFontSize=12, titleFontSize=13, labelLimit=120))
    y = alt.Y("weight:Q", title="Weight", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%", labelFontSize=11, titleFontSize=12, tickCount=3))
    tooltip = [alt.Tooltip("lens:N", title="Lens"), alt.Tooltip("position:O", title="Position"),
               alt.Tooltip("token:N", title="Token"), alt.Tooltip("weight:Q", title="Weight", format=".1%")]
    last = len(words) - 1
    bars = alt.Chart().mark_bar().encode(x=x, y=y, tooltip=tooltip,
                                         color=value_if(f"datum.position == {last}", HIGHLIGHT, BAR_BLUE))
    parts = []
    for name in names:
        v = np.asarray(rows[name], dtype=np.float64)
        if v.size:
            top = int(np.argmax(v))
            parts.append(f"{name}: most on ‘{words[top]}’ ({v[top]:.0%})")
    description = (f"Bar charts: {title}. One row per lens over {len(words)} context tokens (the newest, orange, "
                   "last); " + "; ".join(parts) + ".")
    return alt.layer(bars, data=frame).properties(width=width, height=90).facet(
        row=alt.Row("lens:N", sort=names, title=None, header=alt.Header(labelFontSize=13, labelAngle=0,
                                                                        labelAlign="left", labelOrient="top")),
        title=title_params(title), description=description).configure_view(stroke=None)


@no_init_validation
def rect_heatmap(values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str,
                 row_title: str, col_title: str, allowed: np.ndarray | None = None) -> alt.LayerChart:
    """A [rows, columns] matrix of weights in [0, 1] (cross-attention: target rows over source
    columns), numbers in the cells up to 20 x 20; `allowed` False cells are masked (grey)."""
    v = np.asarray(values, dtype=np.float64)
    rows, cols = unique_labels([str(t) for t in row_labels]), unique_labels([str(t) for t in col_labels])
    ok = np.ones(v.shape, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    frame = pd.DataFrame([{"row": r, "col": c, "weight": float(v[i, j]) if ok[i, j] else None,
                           "masked": not ok[i, j]}
                          for i, r in enumerate(rows) for j, c in enumerate(cols)])
    cell = 26 if max(len(rows), len(cols)) <= 20 else max(8, 520 // max(len(rows), len(cols), 1))
    x = alt.X("col:N", sort=cols, title=col_title, axis=alt.Axis(labelAngle=-45, orient="top", labelFontSize=12))
    y = alt.Y("row:N", sort=rows, title=row_title, axis=alt.Axis(labelFontSize=12))
    tooltip = [alt.Tooltip("row:N", title=row_title), alt.Tooltip("col:N", title=col_title),
               alt.Tooltip("weight:Q", title="Weight", format=".3f")]
    rect = alt.Chart().mark_rect().encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.condition("datum.masked", alt.value("#d9d9d9"),
                            alt.Color("weight:Q", title="Weight", scale=alt.Scale(scheme="blues", domain=[0, 1]))))
    layers = [rect]
    if cell >= 20:
        layers.append(alt.Chart().transform_filter("!datum.masked").mark_text(fontSize=10).encode(
            x=x, y=y, text=alt.Text("weight:Q", format=".2f"), tooltip=tooltip,
            color=value_if("datum.weight > 0.55", "#ffffff", "#1b1b1b")))
    strongest = []
    for i, r in enumerate(rows[:12]):
        if ok[i].any():
            j = int(np.argmax(np.where(ok[i], v[i], -1)))
            strongest.append(f"‘{r}’ → ‘{cols[j]}’ {v[i, j]:.0%}")
    description = (f"Heatmap: {title}. {len(rows)} rows ({row_title}) by {len(cols)} columns ({col_title}); "
                   "darker = more attention. Strongest column per row: " + "; ".join(strongest) + ".")
    return alt.layer(*layers, data=frame, width=cell * max(len(cols), 1), height=cell * max(len(rows), 1),
                     title=title_params(title), autosize=PAD, description=description)


@no_init_validation
def alignment_chart(source_words: Sequence[str], target_words: Sequence[str], links: Sequence[int],
                    mass: Sequence[float], *, title: str) -> alt.LayerChart:
    """Two sentences as two rows of words (source on top, target below, each in order) and one
    line per target word to the source word it is aligned to (`links[t]`, -1: none); a line's
    opacity and width grow with `mass[t]`, the share of the word's cross-attention on it."""
    src, tgt = [str(w) for w in source_words], [str(w) for w in target_words]
    span = max(len(src), len(tgt), 1)

    def xs(n: int) -> np.ndarray:  # each sentence centred across the same width
        return (np.arange(n) + 0.5) * span / max(n, 1)

    sx, tx = xs(len(src)), xs(len(tgt))
    words = pd.DataFrame([{"x": float(sx[i]), "y": 1.0, "word": w, "side": "source", "index": i}
                          for i, w in enumerate(src)] +
                         [{"x": float(tx[i]), "y": 0.0, "word": w, "side": "target", "index": i}
                          for i, w in enumerate(tgt)])
    lines = pd.DataFrame([{"x": float(tx[t]), "y": 0.12, "x2": float(sx[s]), "y2": 0.88, "target": tgt[t],
                           "source": src[s], "mass": float(m)}
                          for t, (s, m) in enumerate(zip(links, mass)) if 0 <= s < len(src)],
                         columns=["x", "y", "x2", "y2", "target", "source", "mass"])
    width = max(320, min(70 * span, 1000))
    scale_x = alt.Scale(domain=[0, span])
    scale_y = alt.Scale(domain=[-0.15, 1.15])
    rule = alt.Chart(lines).mark_rule(color=BAR_BLUE).encode(
        x=alt.X("x:Q", scale=scale_x, axis=None), y=alt.Y("y:Q", scale=scale_y, axis=None), x2="x2:Q", y2="y2:Q",
        opacity=alt.Opacity("mass:Q", scale=alt.Scale(domain=[0, 1], range=[0.25, 1]), legend=None),
        strokeWidth=alt.StrokeWidth("mass:Q", scale=alt.Scale(domain=[0, 1], range=[1, 5]), legend=None),
        tooltip=[alt.Tooltip("target:N", title="Target word"), alt.Tooltip("source:N", title="Source word"),
                 alt.Tooltip("mass:Q", title="Cross-attention share", format=".0%")])
    # the theme's own text colour (a fixed one is unreadable on the other theme); the target in bold
    text = [alt.Chart(words).transform_filter(f"datum.side == '{side}'").mark_text(fontSize=14, fontWeight=weight)
            .encode(x=alt.X("x:Q", scale=scale_x, axis=None), y=alt.Y("y:Q", scale=scale_y, axis=None),
                    text="word:N", tooltip=[alt.Tooltip("side:N", title="Sentence"),
                                            alt.Tooltip("word:N", title="Word")])
            for side, weight in (("source", "normal"), ("target", "bold"))]
    pairs = "; ".join(f"‘{tgt[t]}’ → ‘{src[s]}’ ({m:.0%})" if 0 <= s < len(src) else f"‘{tgt[t]}’ → none"
                      for t, (s, m) in enumerate(zip(links, mass)))
    description = (f"Word alignment: {title}. Source sentence on top ({len(src)} words), target below "
                   f"({len(tgt)} words); each target word is joined to the source word it attends to most: {pairs}.")
    return alt.layer(rule, *text, width=width, height=150, title=title_params(
        title, "Source on top, target below; a thicker line = more of the word's cross-attention"),
        autosize=PAD, description=description).configure_view(stroke=None)
