"""Charts of the Compare page: word-level matrices as DrawMatrix (for core.render.heatmaps), the
best-match grid of A's heads and the layer-by-layer similarity map (Altair). No Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.compare.match import HeadMatching
from core.compare.words import WordMatrix
from core.render.matrix import DrawMatrix
from core.render.raster import light_text_test
from core.render.vega import PAD, TEXT_DARK, TEXT_LIGHT, no_init_validation, value_if

DIFF_MARK = "✱"


def word_draw_matrix(values: np.ndarray, wm: WordMatrix, *, differing: Sequence[int] = (),
                     labels: Sequence[str] | None = None, notes: Sequence[str] = ()) -> DrawMatrix:
    """A word-level [m, m] matrix ready to draw: rows/columns are the word positions 0..m-1, labels
    the words as typed (a right-to-left word keeps its logical order; the browser's bidi algorithm
    draws "3 · שלום" with the number on the left), words that differ in a minimal pair marked ✱."""
    marked = set(int(i) for i in differing)
    names = []
    for row, (label, wi) in enumerate(zip(labels or wm.labels, wm.word_index)):
        text = label
        names.append(f"{text} {DIFF_MARK}" if wi >= 0 and wi in marked else text)
    return DrawMatrix.of(np.asarray(values, dtype=np.float32), names, positions=np.arange(len(names)),
                         special=np.asarray(wm.special, dtype=bool), notes=tuple(notes))


def _grid_frame(matching: HeadMatching) -> pd.DataFrame:
    best = matching.best()
    best["value_text"] = best["divergence"].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3f}")
    best["match"] = [f"layer {int(a)}, head {int(b)}" for a, b in zip(best["match_layer"], best["match_head"])]
    return best


@no_init_validation
def match_grid(matching: HeadMatching, *, title: str, selected: tuple[int, int] | None = None,
               cell: int | None = None) -> alt.LayerChart:
    """One cell per head of A (rows = layer, columns = head), coloured by the Jensen-Shannon
    divergence to its most similar head of B (dark = a close match); the tooltip names the
    match; point selection "head" on (layer, head) opens the pair."""
    la, ha = matching.grid_a
    df = _grid_frame(matching)
    size = int(cell or max(20, min(40, 440 // max(ha, 1))))
    x = alt.X("head:O", title="Head of A", axis=alt.Axis(labelAngle=0), scale=alt.Scale(domain=list(range(ha))))
    y = alt.Y("layer:O", title="Layer of A", scale=alt.Scale(domain=list(range(la))))
    tooltip = [alt.Tooltip("layer:O", title="A layer"), alt.Tooltip("head:O", title="A head"),
               alt.Tooltip("match:N", title="Most similar head of B"),
               alt.Tooltip("value_text:N", title="JS divergence (nats)")]
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick", empty=False)
    hi = float(np.nanmax(df["divergence"])) if np.isfinite(df["divergence"]).any() else 1.0
    rect = alt.Chart().mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("divergence:Q", title="JS (nats)",
                        scale=alt.Scale(scheme="purples", reverse=True, domain=[0, max(hi, 1e-6)], clamp=True)),
    ).add_params(param)
    layers: list[alt.Chart] = [rect]
    if la * ha <= 144 and size >= 36:
        layers.append(alt.Chart().mark_text(fontSize=10).encode(
            x=x, y=y, text=alt.Text("value_text:N"), tooltip=tooltip,
            color=value_if(light_text_test("divergence", 0.0, max(hi, 1e-6), "purples", reverse=True),
                           TEXT_LIGHT, TEXT_DARK)))
    if selected is not None:
        layers.append(alt.Chart().mark_rect(fill=None, stroke="#ff7f0e", strokeWidth=3).encode(x=x, y=y)
                      .transform_filter(f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])}"))
    return alt.layer(*layers, data=df, width=size * ha, height=size * la, autosize=PAD,
                     title=alt.Title(title, subtitle="Click a head to open it beside its match (double-click clears)."),
                     description=f"{title}: for each of A's {la} x {ha} heads, the divergence to its most similar "
                                 "head of B; lower is more similar.")


@no_init_validation
def layer_map_chart(matching: HeadMatching, *, title: str) -> alt.Chart:
    """[layers of A, layers of B]: the mean over A's heads in a layer of the divergence to their
    best match among B's heads in the other layer (darker = the layers share heads)."""
    lmap = matching.layer_map()
    la, lb = lmap.shape
    df = pd.DataFrame({"layer_a": np.repeat(np.arange(la), lb), "layer_b": np.tile(np.arange(lb), la),
                       "divergence": lmap.ravel()})
    df["value_text"] = df["divergence"].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3f}")
    size = max(18, min(40, 360 // max(lb, 1)))
    hi = float(np.nanmax(lmap)) if np.isfinite(lmap).any() else 1.0
    param = alt.selection_point(name="layers", fields=["layer_a", "layer_b"], on="click", clear="dblclick",
                                empty=False)
    tooltip = [alt.Tooltip("layer_a:O", title="A layer"), alt.Tooltip("layer_b:O", title="B layer"),
               alt.Tooltip("value_text:N", title="Mean JS to the best head in B's layer")]
    return alt.Chart(df).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("layer_b:O", title="Layer of B", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("layer_a:O", title="Layer of A"),
        color=alt.Color("divergence:Q", title="Mean JS", scale=alt.Scale(scheme="purples", reverse=True,
                                                                        domain=[0, max(hi, 1e-6)], clamp=True)),
        tooltip=tooltip,
    ).add_params(param).properties(width=size * lb, height=size * la, autosize=PAD, title=alt.Title(
        title, subtitle=["Dark: A's heads in that layer have close", "counterparts in B's layer. Click to open them."]),
        description=f"{title}: {la} layers of A against {lb} layers of B, mean divergence to the best match.")
