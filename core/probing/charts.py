"""Charts for syntax probing (core.probing): the head x relation accuracy map, the best head per
relation against its fixed-offset baseline, and one sentence's dependency arcs (above the words)
drawn against one head's strongest attention (below the words), agreeing arcs in green.
No Streamlit here; every chart fits the width it is given (`FIT_X`), a narrow column included.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.probing.syntax import DIRECTIONS
from core.render.vega import (
    HIGHLIGHT,
    marked_datasets,
    marked_source,
    no_init_validation,
    selection_outline,
    title_params,
)

MAX_WIDTH = 640  # whole chart (axes and legend included) when drawn at its own width
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")
"""Every chart here is `width` wide in all (axes and legend included): drawn with
``st.altair_chart(width="stretch")`` Streamlit sets width = its column, so it never runs past it
(a 420 px window included); heights stay the plot's."""
AGREE = "#2ca02c"  # green: the head's strongest attention is a parse arc
PARSE_ONLY = "#8c8c8c"  # grey: a parse arc the head does not follow
ATTENTION_ONLY = HIGHLIGHT  # orange: the head's strongest attention is not a parse arc
BASELINE_FILL = "#bab0ac"
HEAD_FILL = "#4c78a8"
STATUS = ("agrees", "parse only", "attention only")


HEAD_BAR, OFFSET_BAR = "best attention head", "best offset guess"


def head_label(layer: int, head: int) -> str:
    return f"L{layer}-H{head}"


# --- head x relation map -------------------------------------------------------------------------

@no_init_validation
def head_relation_heatmap(table: pd.DataFrame, layers: int, heads: int, *, value: str = "accuracy",
                          relations: Sequence[str] | None = None, selected: tuple[int, int] | None = None,
                          max_width: int = MAX_WIDTH, title: str = "Every attention head against every relation",
                          marking: bool | None = None) -> alt.LayerChart:
    """Rows = relations (most frequent first, or `relations`), columns = every head, grouped by
    layer (layer 0's heads first). table: `core.probing.syntax.head_relation_map` (layer, head,
    relation, direction, correct, count, accuracy, baseline, margin). value: "accuracy" (0..1,
    blues) or "margin" (accuracy minus the relation's best baseline, red-blue around 0).
    Point selection "head" (layer, head) on click; `selected` gets an orange dashed rule, drawn
    from the top-level dataset vega.MARKED_DATA (marking=True with selected=None: the layer
    marking nothing yet, for a memo that vega.with_marked moves on each run)."""
    if value not in ("accuracy", "margin"):
        raise ValueError("value must be 'accuracy' or 'margin'")
    df = table.copy()
    if relations is None:
        relations = (df.groupby("relation", sort=False)["count"].max().sort_values(ascending=False, kind="stable")
                     .index.tolist())
    relations = [str(r) for r in relations]
    df = df[df["relation"].isin(relations)].copy()
    df["column"] = (df["layer"] * heads + df["head"]).astype(int)
    df["head_label"] = [head_label(int(l), int(h)) for l, h in zip(df["layer"], df["head"])]
    df["value"] = df[value].astype(float)
    df["value_text"] = [f"{v:.0%}" if value == "accuracy" else f"{v:+.0%}" for v in df["value"]]
    df["baseline_text"] = [f"{b:.0%}" for b in df["baseline"]]
    columns = layers * heads
    cell_w = max(3, min(24, max_width // max(columns, 1)))
    cell_h = 22 if len(relations) <= 30 else 14  # rows that hold their label, 18 px in presenter mode too
    if value == "accuracy":
        scale = alt.Scale(scheme="blues", domain=[0, 1], clamp=True)
        legend_title, fmt = "Accuracy", ".0%"
    else:
        scale = alt.Scale(scheme="redblue", domain=[-1, 1], clamp=True)
        legend_title, fmt = "Accuracy − baseline", "+.0%"
    x = alt.X("column:O", title="Head (grouped by layer)", scale=alt.Scale(domain=list(range(columns))),
              axis=alt.Axis(labelExpr=f"datum.value % {heads} == 0 ? 'L' + floor(datum.value / {heads}) : ''",
                            labelAngle=0, labelFontSize=12, titleFontSize=14, ticks=False, labelOverlap=False))
    # Every relation named (Vega's overlap rule dropped every other one: nsubj, dobj unlabelled).
    y = alt.Y("relation:N", title="Relation", sort=relations,
              axis=alt.Axis(labelFontSize=min(12, cell_h - 2), titleFontSize=14, labelOverlap=False, labelFlush=False))
    tooltip = [alt.Tooltip("head_label:N", title="Attention head"), alt.Tooltip("relation:N", title="Relation"),
               alt.Tooltip("value_text:N", title=legend_title), alt.Tooltip("direction:N", title="Direction"),
               alt.Tooltip("correct:Q", title="Words right"), alt.Tooltip("count:Q", title="Words"),
               alt.Tooltip("baseline_text:N", title="Best offset baseline")]
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick", empty=False)
    rect = alt.Chart().mark_rect().encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("value:Q", title=legend_title, scale=scale,
                        legend=alt.Legend(format=fmt, titleFontSize=13, labelFontSize=12, orient="bottom")),
    ).add_params(param).encode(**selection_outline(param))
    layers_: list[alt.Chart] = [rect]
    if layers > 1:  # thin rules between layers
        bounds = pd.DataFrame({"column": [lay * heads for lay in range(1, layers)]})
        layers_.append(alt.Chart(bounds).mark_rule(color="#ffffff", strokeWidth=1.5).encode(
            x=alt.X("column:O", scale=alt.Scale(domain=list(range(columns))), bandPosition=0)))
    marking = selected is not None if marking is None else bool(marking)
    if marking:
        # A dashed rule on the marked head's column, drawn from its own one-row dataset
        # (vega.MARKED_DATA), so a drawn copy moves it without a rebuild (vega.with_marked).
        layers_.append(alt.Chart(marked_source()).mark_rule(color=HIGHLIGHT, strokeWidth=1.5, strokeDash=[3, 2])
                       .encode(x=alt.X("column:O", scale=alt.Scale(domain=list(range(columns)))))
                       .transform_calculate(column=f"datum.layer * {int(heads)} + datum.head"))
    top = df.sort_values("value", ascending=False).head(1)
    description = (f"Heatmap: {title}. {legend_title} of each of {columns} heads (columns, grouped by layer) for "
                   f"{len(relations)} dependency relations (rows)")
    if len(top):
        description += (f"; highest: {top['head_label'].iloc[0]} on {top['relation'].iloc[0]} "
                        f"({top['value_text'].iloc[0]})")
    return alt.LayerChart(data=df, layer=layers_, width=min(max_width, cell_w * columns + 120),
                          datasets=marked_datasets(selected) if marking else alt.Undefined,
                          height=cell_h * len(relations), autosize=FIT_X, description=description + ".",
                          title=title_params(title, "Click a cell to show that head on the sentence below."))


# --- best head per relation vs the baseline ------------------------------------------------------

@no_init_validation
def best_head_chart(best: pd.DataFrame, *, max_relations: int = 20, held_out: bool = False,
                    title: str = "Best attention head vs best offset guess, per relation") -> alt.Chart:
    """Horizontal bars, two per relation: the best head's accuracy (labelled with the head) and
    the best fixed-offset baseline's (labelled with its offset). best: `syntax.best_heads`.
    held_out=True draws the held-out accuracies instead (head and offset chosen on the other
    half of the sentences)."""
    b = best.head(max_relations).copy()
    acc_col, base_col = ("held_out", "held_out_baseline") if held_out else ("accuracy", "baseline")
    rows = []
    for r in b.itertuples(index=False):
        rel = f"{r.relation} ({r.count})"
        said = str(getattr(r, "verdict", ""))
        rows.append({"relation": rel, "bar": HEAD_BAR, "value": float(getattr(r, acc_col)),
                     "label": f"{head_label(r.layer, r.head)} {'→' if r.direction == DIRECTIONS[0] else '←'}",
                     "detail": f"attention head {r.head} of layer {r.layer}, {r.direction}", "verdict": said})
        rows.append({"relation": rel, "bar": OFFSET_BAR, "value": float(getattr(r, base_col)),
                     "label": f"{r.offset:+d}", "detail": f"the word {r.offset:+d} positions away", "verdict": said})
    df = pd.DataFrame(rows, columns=["relation", "bar", "value", "label", "detail", "verdict"])
    df["value_text"] = [("n/a" if not np.isfinite(v) else f"{v:.0%}") for v in df["value"]]
    order = list(dict.fromkeys(df["relation"]))
    y = alt.Y("relation:N", title=None, sort=order, axis=alt.Axis(labelFontSize=12, labelLimit=160))
    x = alt.X("value:Q", title="Share of words whose syntactic head is found" + (" (held out)" if held_out else ""),
              scale=alt.Scale(domain=[0, 1.12]), axis=alt.Axis(format=".0%", values=[0, .25, .5, .75, 1],
                                                               labelFontSize=12, titleFontSize=13))
    color = alt.Color("bar:N", title=None, scale=alt.Scale(domain=[HEAD_BAR, OFFSET_BAR],
                                                           range=[HEAD_FILL, BASELINE_FILL]),
                      legend=alt.Legend(orient="top", labelFontSize=12))
    tooltip = [alt.Tooltip("relation:N", title="Relation (words)"), alt.Tooltip("bar:N", title="Bar"),
               alt.Tooltip("detail:N", title="Which"), alt.Tooltip("value_text:N", title="Accuracy"),
               alt.Tooltip("verdict:N", title="Verdict (held out)")]
    base = alt.Chart().encode(y=y, yOffset=alt.YOffset("bar:N", sort=[HEAD_BAR, OFFSET_BAR]), tooltip=tooltip)
    bars = base.mark_bar(height={"band": 0.9}).encode(x=x, color=color)
    text = base.mark_text(align="left", dx=3, fontSize=11).encode(x=x, text=alt.Text("label:N"))
    description = f"Bar chart: {title}, for {len(order)} relations"
    if len(b):
        r0 = b.iloc[0]
        description += (f"; the most frequent, {r0['relation']}: best attention head {head_label(r0['layer'], r0['head'])} "
                        f"{float(r0[acc_col]):.0%}, best offset {int(r0['offset']):+d} {float(r0[base_col]):.0%}")
    return alt.LayerChart(data=df, layer=[bars, text], width=MAX_WIDTH,
                          height=alt.Step(15) if len(order) > 12 else alt.Step(17),  # an 18 px presenter label fits
                          autosize=FIT_X, title=title_params(title), description=description + ".")


# --- one sentence: parse arcs over one head's attention ------------------------------------------

def arc_table(words: Sequence[str], arcs: Sequence[tuple[int, int, str]], attention: np.ndarray,
              direction: str = DIRECTIONS[0]) -> pd.DataFrame:
    """One row per word: its parse head and relation (if probed; head_position -1 if not) and the
    head's prediction (strongest_position, -1 when every other word gets 0) —
    the word it attends to most (dependent → head), or the word that attends to it most
    (head → dependent) — with the weight and whether the two agree."""
    w = np.array(attention, dtype=np.float64, copy=True)
    n = len(words)
    if w.shape != (n, n):
        raise ValueError(f"attention {w.shape} for {n} words")
    if direction == DIRECTIONS[1]:
        w = w.T
    elif direction != DIRECTIONS[0]:
        raise ValueError(direction)
    np.fill_diagonal(w, -np.inf)
    head_of = {d: (h, rel) for d, h, rel in arcs}
    rows = []
    for i in range(n):
        j = int(np.argmax(w[i])) if n > 1 else -1
        weight = float(w[i, j]) if j >= 0 else 0.0
        if weight <= 0:
            j = -1
        h, rel = head_of.get(i, (None, None))
        rows.append({"position": i, "word": words[i], "relation": rel,
                     "parse_head": None if h is None else words[h], "head_position": -1 if h is None else int(h),
                     "strongest": None if j < 0 else words[j], "strongest_position": j,
                     "weight": weight if j >= 0 else np.nan,
                     "agrees": None if h is None else bool(j == h)})
    return pd.DataFrame(rows, columns=["position", "word", "relation", "parse_head", "head_position", "strongest",
                                       "strongest_position", "weight", "agrees"])


WORD_GAP = 0.13  # arcs start this far above / below the words' line, so words stay readable


def _arc_points(a: float, b: float, height: float, above: bool, steps: int = 24) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, np.pi, steps)
    mid, r = (a + b) / 2.0, (b - a) / 2.0
    x = mid - r * np.cos(t)  # from a to b
    y = WORD_GAP + height * np.sin(t)
    return x, (y if above else -y)


def _arc_frames(words: Sequence[str], arcs: Sequence[tuple[int, int, str]], table: pd.DataFrame,
                direction: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The arc view's data: the arcs as points (arc id, order, x, y: numbers only) and as one row
    per arc (status, weight, tooltip), which the browser joins by a lookup (the strings repeated on
    each of an arc's 24 points would make the data about six times larger, sent on every head
    change); the relation labels; the dots. Parse arcs above the words, attention below."""
    agree_dep = {int(r.position) for r in table.itertuples() if r.agrees}
    span_max = max([abs(d - h) for d, h, _ in arcs]
                   + [abs(int(p) - int(s)) for p, s in zip(table["position"], table["strongest_position"]) if s >= 0]
                   + [1])
    xs_all, ys_all, ids, arcs_info, labels, dots = [], [], [], [], [], []

    def add_arc(kind: str, status: str, weight: float, what: str, xs: np.ndarray, ys: np.ndarray) -> None:
        k = len(arcs_info)
        arcs_info.append({"arc": k, "kind": kind, "status": status, "weight": weight, "what": what})
        xs_all.append(xs)
        ys_all.append(ys)
        ids.append(np.full(len(xs), k, dtype=np.int32))

    for d, h, rel in arcs:
        height = 0.25 + 0.7 * abs(d - h) / span_max
        xs, ys = _arc_points(float(h), float(d), height, above=True)
        status = "agrees" if d in agree_dep else "parse only"
        what = f"parse: {words[d]} is the {rel} of {words[h]}"
        add_arc("parse", status, 1.0, what, xs, ys)
        labels.append({"x": (d + h) / 2.0, "y": WORD_GAP + height + 0.03, "text": rel, "status": status,
                       "what": what})
        dots.append({"x": float(d), "y": WORD_GAP, "status": status, "what": f"dependent: {words[d]}"})
    for r in table.itertuples():
        if r.strongest_position < 0:  # no prediction for this word
            continue
        i, j = int(r.position), int(r.strongest_position)
        src, dst = (i, j) if direction == DIRECTIONS[0] else (j, i)
        height = 0.25 + 0.7 * abs(i - j) / span_max
        xs, ys = _arc_points(float(src), float(dst), height, above=False)
        status = "agrees" if r.agrees else "attention only"
        what = (f"{words[src]} attends most to {words[dst]} ({r.weight:.2f})" if direction == DIRECTIONS[0]
                else f"of all words, {words[src]} attends most to {words[dst]} ({r.weight:.2f})")
        add_arc("attention", status, float(r.weight), what, xs, ys)
        dots.append({"x": float(dst), "y": -WORD_GAP, "status": status, "what": what})
    none = [np.zeros(0)]  # a sentence with no arc at all
    line_df = pd.DataFrame({
        "arc": np.concatenate(ids or none).astype(np.int32),
        "i": np.concatenate([np.arange(len(xs)) for xs in xs_all] or none).astype(np.int32),
        "x": np.concatenate(xs_all or none).astype(np.float32),
        "y": np.concatenate(ys_all or none).astype(np.float32),
    })
    info_df = pd.DataFrame(arcs_info, columns=["arc", "kind", "status", "weight", "what"])
    label_df = pd.DataFrame(labels, columns=["x", "y", "text", "status", "what"])
    dot_df = pd.DataFrame(dots, columns=["x", "y", "status", "what"])
    return line_df, info_df, label_df, dot_df


@no_init_validation
def arc_chart(words: Sequence[str], arcs: Sequence[tuple[int, int, str]], attention: np.ndarray, *,
              direction: str = DIRECTIONS[0], title: str = "The parse against one attention head",
              subtitle: str | None = None, max_width: int = MAX_WIDTH) -> alt.LayerChart:
    """Words on a line; above it the parse's arcs (head → dependent, relation at the top), below
    it the head's strongest attention for each word (`arc_table`), thicker for more weight, with a
    dot on the word attended to. Green = the two agree, grey = a parse arc the head misses,
    orange = attention that is not the word's parse head."""
    n = len(words)
    table = arc_table(words, arcs, attention, direction)
    width = int(min(max_width, max(320, 60 * max(n, 1))))
    line_df, info_df, label_df, dot_df = _arc_frames(words, arcs, table, direction)
    word_df = pd.DataFrame({"x": np.arange(n, dtype=float), "y": 0.0, "word": list(words)})

    xs = alt.Scale(domain=[-0.6, n - 0.4], nice=False, zero=False)
    ys = alt.Scale(domain=[-1.15, 1.25], nice=False, zero=False)
    X = alt.X("x:Q", scale=xs, axis=None)
    Y = alt.Y("y:Q", scale=ys, axis=None)
    color = alt.Color("status:N", title=None, scale=alt.Scale(domain=list(STATUS),
                                                            range=[AGREE, PARSE_ONLY, ATTENTION_ONLY]),
                      legend=alt.Legend(orient="bottom", labelFontSize=12, symbolType="stroke"))
    arcs_layer = alt.Chart(line_df).transform_lookup(
        lookup="arc", from_=alt.LookupData(data=info_df, key="arc", fields=["status", "weight", "what"]),
    ).mark_line(interpolate="monotone").encode(
        x=X, y=Y, detail=alt.Detail("arc:N"), order=alt.Order("i:Q"), color=color,
        strokeWidth=alt.StrokeWidth("weight:Q", scale=alt.Scale(domain=[0, 1], range=[1, 4]), legend=None),
        tooltip=[alt.Tooltip("what:N", title="Arc")])
    dot_layer = alt.Chart(dot_df).mark_point(filled=True, size=36, opacity=1).encode(
        x=X, y=Y, color=alt.Color("status:N", scale=alt.Scale(domain=list(STATUS),
                                                              range=[AGREE, PARSE_ONLY, ATTENTION_ONLY]), legend=None),
        tooltip=[alt.Tooltip("what:N", title="Arc")])
    label_layer = alt.Chart(label_df).mark_text(fontSize=11, baseline="bottom").encode(
        x=X, y=Y, text=alt.Text("text:N"), tooltip=[alt.Tooltip("what:N", title="Arc")])
    angle = 0 if n <= 10 else 330  # slanted from 11 words on, so neighbours do not overlap in a narrow column
    word_layer = alt.Chart(word_df).mark_text(fontSize=13 if n <= 16 else 11, fontWeight="bold", angle=angle,
                                              align="center" if angle == 0 else "right").encode(
        x=X, y=Y, text=alt.Text("word:N"))
    sub = [subtitle] if subtitle else []  # short lines: a title never runs past a narrow column
    sub += ["Above: the parse (a dot on each dependent).",
            "Below: each word's most-attended word (dot on it)." if direction == DIRECTIONS[0]
            else "Below: who attends most to each word (dot on it)."]
    # Nothing here names the head or counts what it gets right: the spec of another head's view of
    # the same sentence differs only in its data, so the browser updates the drawn view in place
    # (vega.with_stable_data; the page says the head and the count in text beside the chart).
    description = (f"Arc diagram: {title}. {n} words; above them {len(arcs)} arcs of the parse, below them each "
                   "word's strongest attention in the selected head, green where the two agree")
    return alt.LayerChart(layer=[arcs_layer, dot_layer, label_layer, word_layer], width=width, height=260,
                          autosize=FIT_X, title=title_params(title, sub), description=description + ".")

