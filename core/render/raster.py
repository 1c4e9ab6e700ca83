"""Raster heatmaps: every cell in one PNG, with a few transparent hit marks for exact tooltips and
clicks. No Streamlit here.

Why: a heatmap of n tokens drawn as one Vega mark per cell is n*n rects (plus a text mark each
when annotated); at 256 tokens that is 65,536 marks for Vega to build, lay out and paint, seconds
in a browser. Here the cells are colours in a PNG (numpy), and the chart draws 1 image + 2n
rects whatever n*n is (Streamlit draws it with the canvas renderer):

  layer "image"  the PNG (one pixel per cell, colours applied in numpy exactly as Vega's linear,
                 clamped colour scale with the scheme would: see :func:`colorize`), stretched over
                 the plot with smoothing off (crisp cells);
  layer "focus"  optional orange outline of the focused query row;
  layer "rows"   n transparent rects, one per query row, spanning the plot's width. They own the
                 band y scale and axis and a point parameter ``hover`` (on pointerover) whose
                 fields are the row's position, label and its weights as one fixed-width string
                 (:func:`row_strings`: the exact tooltip text of every cell of the row);
  layer "cells"  the same n-row token table read as KEYS and filtered to the hovered row: n
                 transparent rects = the hovered row's cells. Their tooltip is today's (query,
                 key, the weight to 3 decimals or "n/a (masked: key after query)"), they own the
                 click parameter ``cell`` (fields query_pos, key_pos: what
                 ``st.altair_chart(on_select=...)`` returns) and the colour legend.

A click on any mark of the layer group reports that mark's datum, so every layer's rows carry
the fields the parameters read (cells repeat the hovered row's fields; see the calculate list).

Grids (:func:`raster_facet`) facet the same layers: one PNG per panel (a column of the panel's
first row), the panel fields added to the parameters' fields, and rows/cells filtered to the
hovered panel. Thumbnails have no axes; a click anywhere on a thumbnail (image included) reports
its layer and head.

Built with typed constructors and Altair's validate-on-construction off (``from_dict`` would
resolve every ``anyOf`` and validate each sub-object: about 1.8 s at 512 tokens); the tests
validate the finished specs against the Vega-Lite schema. Colours: the continuous schemes below
are vega-scale's (BSD-3-Clause), which interpolates them piecewise-linearly in RGB.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image

from core.render.vega import HIGHLIGHT, MASKED_FILL, PAD, label_font, no_init_validation, placeholder_labels, title_params

RASTER_MIN_N = 20
"""Heatmaps with more rows than this (and no cell numbers) are drawn as one image."""

MASKED_TEXT = "n/a (masked: key after query)"
X_TITLE = "Keys (attending to)"
Y_TITLE = "Queries (attending from)"
MINUS = "\u2212"  # d3-format's minus sign: Vega writes -0.25 as "−0.250"
_MASKED_MARK = "-"  # a masked cell in a row string

# vega-scale's continuous schemes used by the app (hex RGB stops, piecewise-linear in RGB).
SCHEMES: dict[str, str] = {
    "blues": "cfe1f2bed8eca8cee58fc1de74b2d75ba3cf4592c63181bd206fb2125ca40a4a90",
    "greens": "d3eecdc0e6baabdda594d3917bc77d60ba6c46ab5e329a512089430e7735036429",
    "greys": "e2e2e2d4d4d4c4c4c4b1b1b19d9d9d8888887575756262624d4d4d3535351e1e1e",
    "oranges": "fdd8b3fdc998fdb87bfda55efc9244f87f2cf06b18e4580bd14904b93d029f3303",
    "purples": "e2e1efd4d4e8c4c5e0b4b3d6a3a0cc928ec3827cb97566ae684ea25c3696501f8c",
    "reds": "fdc9b4fcb49afc9e80fc8767fa7051f6573fec3f2fdc2a25c81b1db21218970b13",
    "redblue": "8c0d25bf363adf745ef4ae91fbdbc9f2efeed2e5ef9dcae15da2cb2f78b3134b85",
    "redgrey": "8c0d25bf363adf745ef4ae91fcdccbfaf4f1e2e2e2c0c0c0969696646464343434",
    "blueorange": "134b852f78b35da2cb9dcae1d2e5eff2f0ebfce0bafbbf74e8932fc5690d994a07",
    "viridis": "440154470e61481a6c482575472f7d443a834144873d4e8a39568c35608d31688e2d708e2a788e27818e23888e"
               "21918d1f988b1fa08822a8842ab07f35b77943bf7154c56866cc5d7ad1518fd744a5db36bcdf27d2e21be9e51afde725",
}
_MASKED_RGB = tuple(int(MASKED_FILL[i:i + 2], 16) for i in (1, 3, 5))


def supports(scheme: str) -> bool:
    """True when :func:`colorize` reproduces this Vega scheme (else the caller draws vector cells)."""
    return isinstance(scheme, str) and scheme.lower() in SCHEMES


def _stops(scheme: str) -> np.ndarray:
    hexes = SCHEMES[scheme.lower()]
    return np.array([[int(hexes[i + j:i + j + 2], 16) for j in (0, 2, 4)] for i in range(0, len(hexes), 6)],
                    dtype=np.float64)


# --------------------------------------------------------------------------- pixels


def colorize(values: np.ndarray, lo: float, hi: float, scheme: str = "blues",
             allowed: np.ndarray | None = None) -> np.ndarray:
    """``values[..., n, n]`` -> RGBA uint8 ``[..., n, n, 4]``, each cell the colour Vega paints.

    Values are taken as float32 (what the vector chart ships). Vega: a linear scale with
    ``clamp`` maps x to t = (x - lo) / (hi - lo) in [0, 1]; the scheme (d3 ``piecewise`` of
    ``interpolateRgb`` over its stops) gives channel a + (t*m - i) * (b - a) in segment
    i = floor(t*m) of m; d3-color rounds each channel half up. Masked cells (``allowed`` False,
    broadcast over leading axes) are MASKED_FILL grey; NaN is transparent (Vega-Lite drops it).
    """
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    stops = _stops(scheme)
    m = len(stops) - 1
    t = np.clip((x - float(lo)) / (float(hi) - float(lo)), 0.0, 1.0) * m
    bad = ~np.isfinite(t)
    t = np.where(bad, 0.0, t)
    i = np.clip(np.floor(t), 0, m - 1).astype(np.int64)
    f = (t - i)[..., None]
    a, b = stops[i], stops[i + 1]
    rgb = np.floor(a + f * (b - a) + 0.5)  # Math.round: half up
    out = np.empty(x.shape + (4,), dtype=np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    if allowed is not None:
        mask = np.broadcast_to(np.asarray(allowed, dtype=bool), x.shape)
        out[~mask] = (*_MASKED_RGB, 255)
    out[bad & np.isnan(x)] = 0
    return out


@functools.lru_cache(maxsize=64)
def light_text_spans(scheme: str, *, reverse: bool = False, samples: int = 512) -> tuple[tuple[float, float], ...]:
    """Where on the scheme (t from 0 to 1; `reverse` as Vega's scale reverse) white text reads
    better than black: the spans of t whose colour has the higher WCAG contrast with white.
    One of black and white always reaches 4.58:1 on any fill, so choosing by the fill's own
    luminance keeps every cell number readable (a fixed threshold on the value did not: white on
    pale cells of a diverging scheme, black on dark purple)."""
    t = np.linspace(0.0, 1.0, samples + 1)
    rgb = colorize(1.0 - t if reverse else t, 0.0, 1.0, scheme)[..., :3].astype(np.float64) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lum = lin @ np.array([0.2126, 0.7152, 0.0722])
    white = 1.05 / (lum + 0.05) > (lum + 0.05) / 0.05
    spans, start = [], None
    for i, w in enumerate(white):
        if w and start is None:
            start = i
        if start is not None and (not w or i == samples):
            end = i if w else i - 1
            spans.append((float(t[start]), float(t[end])))
            start = None
    return tuple(spans)


def light_text_test(field: str, lo: float | str, hi: float | str, scheme: str, *, reverse: bool = False) -> str:
    """A Vega expression, true where ``datum[field]``'s cell (linear, clamped scale from lo to hi)
    is dark enough for white text (:func:`light_text_spans`); "false" where it never is.
    lo / hi: numbers, or the names of the parameters that hold them (vega.colour_scale)."""
    named = isinstance(lo, str) or isinstance(hi, str)

    def at(t: float) -> str:  # the value at fraction t of the scale
        if named:
            return f"({lo} + {t!r} * ({hi} - {lo}))"
        return repr(lo + t * (hi - lo))  # type: ignore[operator]

    if not supports(scheme):  # a scheme not reproduced here: its darker end, as a guess
        return f"isFinite(datum[{field!r}]) && datum[{field!r}] {'<' if reverse else '>'} {at(0.45 if reverse else 0.55)}"
    parts = []
    for a, b in light_text_spans(scheme, reverse=reverse):
        lower = None if a <= 0 else at(a)
        upper = None if b >= 1 else at(b)
        conds = [f"datum[{field!r}] >= {lower}"] if lower is not None else []
        conds += [f"datum[{field!r}] <= {upper}"] if upper is not None else []
        parts.append("(" + " && ".join(conds) + ")" if conds else "true")
    if not parts:
        return "false"
    return f"isFinite(datum[{field!r}]) && (" + " || ".join(parts) + ")"


def png_data_url(rgba: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of an ``[h, w, 4]`` uint8 image (RGB when opaque)."""
    arr = np.ascontiguousarray(rgba, dtype=np.uint8)
    img = Image.fromarray(arr[..., :3], "RGB") if (arr[..., 3] == 255).all() else Image.fromarray(arr, "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- tooltip text


def _thousandths(x: np.ndarray) -> np.ndarray:
    """round-half-up(|x| * 1000) of float64 values, exactly (JavaScript's toFixed(3) digits).

    float64 gets it right except within a hair of a ...5 boundary, where |x|*1000 itself rounds;
    those few cells are redone in 80-bit long double, where |x|*1000 is exact (53 + 10 bits) and
    so is the tie rule; on platforms without it, with Decimal.
    """
    a = np.abs(x)
    scaled = a * 1000.0
    k = np.floor(scaled + 0.5)
    frac = scaled - np.floor(scaled)
    near = np.isfinite(scaled) & (np.abs(frac - 0.5) < 1e-6)
    if near.any():
        if np.finfo(np.longdouble).nmant >= 63:
            k[near] = np.floor(a[near].astype(np.longdouble) * 1000 + np.longdouble(0.5)).astype(np.float64)
        else:  # pragma: no cover - exact but slow
            from decimal import ROUND_HALF_UP, Decimal
            k[near] = [float(Decimal(v).quantize(Decimal(1) / 1000, ROUND_HALF_UP) * 1000) for v in a[near].tolist()]
    return np.where(np.isfinite(k), k, 0).astype(np.int64)


def fixed3(values: np.ndarray) -> np.ndarray:
    """Vega's ``format(x, '.3f')`` of each value as float32, as a str array of the same shape.

    d3-format: JavaScript's ``toFixed(3)`` of |x| (the nearest 3-decimal number to the exact
    binary value, ties up), a minus sign U+2212 unless it rounds to zero, "NaN" for NaN.
    """
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    k = _thousandths(x)
    neg = (x < 0) & (k > 0)
    whole = (k // 1000).astype(str)
    frac = np.char.zfill((k % 1000).astype(str), 3)
    text = np.char.add(np.char.add(np.where(neg, MINUS, ""), whole), np.char.add(".", frac))
    text = np.where(np.isnan(x), "NaN", text)
    text = np.where(np.isposinf(x), "Infinity", np.where(np.isneginf(x), MINUS + "Infinity", text))
    return text.astype(str)


def _fast_rows_01(x: np.ndarray, allowed: np.ndarray | None) -> tuple[list[str], int] | None:
    """row_strings for finite values in [0, 1] without a per-cell string: 5 characters a cell."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.size == 0 or not np.isfinite(flat).all() or flat.min() < 0 or flat.max() > 1:
        return None
    k = _thousandths(flat)
    ch = np.empty(flat.shape + (5,), dtype=np.uint8)
    ch[..., 0] = 48 + k // 1000
    ch[..., 1] = 46
    ch[..., 2] = 48 + k // 100 % 10
    ch[..., 3] = 48 + k // 10 % 10
    ch[..., 4] = 48 + k % 10
    if allowed is not None:
        mask = np.broadcast_to(np.asarray(allowed, dtype=bool), x.shape).reshape(flat.shape)
        ch[~mask] = np.frombuffer(b"-    ", dtype=np.uint8)
    return [row.tobytes().decode("ascii") for row in ch.reshape(flat.shape[0], -1)], 5


def row_strings(values: np.ndarray, allowed: np.ndarray | None = None) -> tuple[list[str], int]:
    """Each row of ``values[..., n, n]`` as one string of n fixed-width cells, and the width.

    Cell j of a row is ``string[j*w:(j+1)*w]``, trimmed: the value's ``format(x, '.3f')``
    (:func:`fixed3`) or "-" for a masked cell. Rows come in C order of the leading axes.
    """
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    fast = _fast_rows_01(x, allowed)
    if fast is not None:
        return fast
    cells = fixed3(x)
    if allowed is not None:
        cells = np.where(np.broadcast_to(np.asarray(allowed, dtype=bool), x.shape), cells, _MASKED_MARK)
    flat = cells.reshape(-1, x.shape[-1])
    width = int(np.char.str_len(flat).max()) if flat.size else 1
    padded = np.char.ljust(flat, width)
    return ["".join(row) for row in padded.tolist()], width


# --------------------------------------------------------------------------- the layers


def _band(labels: Sequence[str]) -> dict[str, Any]:
    return {"domain": list(labels), "paddingInner": 0, "paddingOuter": 0}


def _axes(cell: float, axes: bool) -> tuple[Any, Any]:
    if not axes:
        return None, None
    font = label_font(int(cell))
    x_axis = {"title": X_TITLE, "labelAngle": -55, "labelFontSize": font, "labelLimit": 140,
              "labelOverlap": cell < 10, "ticks": False, "domain": False}
    y_axis = {"title": Y_TITLE, "labelFontSize": font, "labelLimit": 160, "labelOverlap": cell < 10,
              "ticks": False, "domain": False}
    return x_axis, y_axis


def _param(name: str, on: str, fields: list[str], view: str, *, clear: Any) -> alt.TopLevelSelectionParameter:
    select = {"type": "point", "on": on, "clear": clear, "fields": fields}
    return alt.TopLevelSelectionParameter(name=name, select=select, views=[view])


def _layers(*, labels: Sequence[str], cell: float, width: int, value_label: str, lo: float, hi: float, scheme: str,
            width_chars: int, axes: bool, legend: Mapping[str, Any] | None, panel_fields: Sequence[str] = (),
            panel_tooltip: Sequence[dict[str, Any]] = (), tooltip_after: Sequence[dict[str, Any]] = (),
            click: tuple[str, list[str]] | None,
            image_url: str | None, focus_filter: str | None, names: tuple[str, str],
            image_param: str | None = None, labels_in: str | None = None) -> tuple[list[alt.Chart], list]:
    """The layer charts (image, focus, rows, cells) and their top-level parameters. lo / hi:
    numbers, or the names of top-level parameters holding them; image_param: the name of a
    parameter holding the image's URL (instead of image_url). labels_in: the name of the rows'
    dataset; the bands are then the positions 0..k-1 and the axes read each position's word from
    its first k rows, so the spec holds no word (`labels` gives only k)."""
    rows_name, cells_name = names
    x_axis, y_axis = _axes(cell, axes)
    if labels_in is None:
        band, row_field, query_field, key_field = _band(labels), "label", "query", "key"
    else:
        band, row_field, query_field, key_field = _band(range(len(labels))), "idx", "query_idx", "idx"
        word = f"(data({labels_in!r})[datum.value] || {{}}).label || ''"
        x_axis, y_axis = (None if a is None else {**a, "labelExpr": word} for a in (x_axis, y_axis))
    y_rows = {"field": row_field, "type": "nominal", "sort": None, "scale": band, "axis": y_axis}
    y_cells = {**y_rows, "field": query_field}
    x_cells = {"field": key_field, "type": "nominal", "sort": None, "scale": band, "axis": x_axis}
    full_x = {"x": {"value": 0}, "x2": {"value": width}}
    # Hit marks are transparent and out of the accessibility tree: the chart's description is its
    # text alternative (a screen reader would otherwise read n rows of "label: 3 · cat").
    hit = {"type": "rect", "fill": "#ffffff", "fillOpacity": 0.001, "strokeWidth": 0, "aria": False}
    same_panel = " && ".join(f"datum[{f!r}] === hover[{f!r}][0]" for f in panel_fields)
    hovered = "isArray(hover.pos)" + (f" && {same_panel}" if same_panel else "")
    w = int(width_chars)
    cell_calc = [  # read the token table as KEYS of the hovered row; then take on the row's own fields
        {"calculate": "datum.pos", "as": "key_pos"},
        {"calculate": "datum.label", "as": "key"},
        {"calculate": "hover.pos[0]", "as": "query_pos"},
        {"calculate": "hover.label[0]", "as": "query"},
        {"calculate": f"trim(substring(hover.wrow[0], datum.idx * {w}, datum.idx * {w} + {w}))", "as": "wt"},
        {"calculate": f"datum.wt === {_MASKED_MARK!r} ? {MASKED_TEXT!r} : datum.wt", "as": "weight_text"},
        {"calculate": "hover.pos[0]", "as": "pos"},
        {"calculate": "hover.label[0]", "as": "label"},
        {"calculate": "hover.wrow[0]", "as": "wrow"},
    ]
    if labels_in is not None:
        cell_calc.insert(4, {"calculate": "hover.idx[0]", "as": "query_idx"})
    # The legend: an explicit-domain scale on the (transparent) cells; their value is the domain's
    # low end (a masked cell's text is not a number, and Vega-Lite drops marks with invalid values).
    named = isinstance(lo, str) or isinstance(hi, str)
    cell_calc.append({"calculate": str(lo) if named else repr(float(lo)), "as": "shade"})
    domain = ({"domainMin": {"expr": str(lo)}, "domainMax": {"expr": str(hi)}} if named
              else {"domain": [float(lo), float(hi)]})
    color: dict[str, Any] = {"field": "shade", "type": "quantitative", "title": value_label,
                             "scale": {"scheme": scheme, **domain, "clamp": True}}
    color["legend"] = dict(legend) if legend is not None else None
    tooltip = [*panel_tooltip, {"field": "query", "type": "nominal", "title": "Query (from)"},
               {"field": "key", "type": "nominal", "title": "Key (to)"},
               {"field": "weight_text", "type": "nominal", "title": value_label}, *tooltip_after]
    image_mark = {"type": "image", "width": width, "height": width, "aspect": False, "smooth": False,
                  "align": "left", "baseline": "top", "x": 0, "y": 0, "aria": False}
    charts: list[alt.Chart] = []
    if image_param is not None:  # one image, its URL in a parameter
        charts.append(alt.Chart(data=alt.InlineData(values=[{}]), mark={**image_mark, "url": {"expr": image_param}}))
    elif image_url is not None:  # one image: its own one-row dataset
        charts.append(alt.Chart(data=alt.InlineData(values=[{}]), mark={**image_mark, "url": image_url}))
    else:  # one image per panel: the panel's first row carries it
        charts.append(alt.Chart(mark=image_mark, transform=[{"filter": "datum.idx === 0"}],
                                encoding=alt.FacetedEncoding(url={"field": "img", "type": "nominal"})))
    if focus_filter is not None:
        charts.append(alt.Chart(mark={"type": "rect", "fill": None, "stroke": HIGHLIGHT, "strokeWidth": 3,
                                      "aria": False},
                                transform=[{"filter": focus_filter}],
                                encoding=alt.FacetedEncoding(y=y_rows, **full_x)))
    charts.append(alt.Chart(name=rows_name, mark=hit, encoding=alt.FacetedEncoding(y=y_rows, **full_x)))
    cells_enc: dict[str, Any] = {"x": x_cells, "y": y_cells, "color": color, "tooltip": tooltip}
    hover_fields = [*panel_fields, "pos", "label", "wrow", *(["idx"] if labels_in is not None else [])]
    params = [_param("hover", "pointerover", hover_fields, rows_name, clear=False)]
    if click is not None:
        name, fields = click
        params.append(_param(name, "click", fields, cells_name, clear="dblclick"))
        if name == "cell":
            cells_enc["stroke"] = {"condition": {"param": "cell", "empty": False, "value": HIGHLIGHT},
                                   "value": None}
            cells_enc["strokeWidth"] = {"condition": {"param": "cell", "empty": False, "value": 2.5}, "value": 0}
    charts.append(alt.Chart(name=cells_name, mark=hit, transform=[{"filter": hovered}, *cell_calc],
                            encoding=alt.FacetedEncoding(**cells_enc)))
    return charts, params


def cell_legend(cell: float) -> dict[str, Any]:
    """The colour legend of heatmaps with cells of `cell` px: its gradient grows with the cells."""
    return {"orient": "right", "gradientLength": int(min(240, max(120, cell * 8))), "format": ".2f",
            "titleFontSize": 13, "labelFontSize": 12}


def _table(values: np.ndarray, allowed: np.ndarray | None, labels: Sequence[str], positions: Sequence[int],
           leading: Mapping[str, Sequence[Any]] | None = None) -> tuple[pd.DataFrame, int]:
    """The hit marks' data: one row per (panel, query row): pos, idx, label, wrow (+ panel fields)."""
    v = np.asarray(values)
    k = v.shape[-1]
    rows, width = row_strings(v, allowed)
    reps = len(rows) // k
    frame: dict[str, Any] = {}
    for name, col in (leading or {}).items():
        frame[name] = col
    frame["pos"] = np.tile(np.asarray(positions, dtype=np.int32), reps)
    frame["idx"] = np.tile(np.arange(k, dtype=np.int16 if k < 32_000 else np.int32), reps)
    frame["label"] = pd.Categorical.from_codes(np.tile(np.arange(k), reps), categories=list(labels)) \
        if len(set(labels)) == len(labels) else np.tile(np.asarray(labels, dtype=object), reps)
    frame["wrow"] = rows
    return pd.DataFrame(frame), width


# --------------------------------------------------------------------------- builders


IMAGE_PARAM = "cell_image"
"""Top-level parameter holding a raster heatmap's image (a PNG data URL), beside the colour domain's
two (LO_PARAM, HI_PARAM): a raster heatmap's spec changes only in them, its title, description and rows."""
LO_PARAM, HI_PARAM = "cell_lo", "cell_hi"
ROWS_DATA = "heatmap_rows"
"""Name of a raster heatmap's one dataset (a row per query) in :func:`raster_layout_spec`'s template."""


def domain_params(lo: float, hi: float) -> list[alt.VariableParameter]:
    """The colour domain as the top-level params LO_PARAM and HI_PARAM, which a chart's scales and
    text colours read, so one spec serves every domain (a template fills them)."""
    return [alt.VariableParameter(name=LO_PARAM, value=float(lo)), alt.VariableParameter(name=HI_PARAM, value=float(hi))]


@dataclass(frozen=True)
class RasterLayout:
    """Everything of a raster heatmap's spec but its image, numbers, labels, title and text
    alternative."""

    n: int  # rows and columns (the labels are the view's own: vega.with_labels)
    plot_px: int
    value_label: str
    scheme: str
    width_chars: int  # characters per cell in the rows' value strings (row_strings)
    selectable: bool
    focus_index: int | None


@dataclass(frozen=True, eq=False)
class RasterParts:
    """What one matrix puts into a raster heatmap of its layout: the rows' table and the image."""

    layout: RasterLayout
    rows: pd.DataFrame
    image_url: str


def raster_parts(values: np.ndarray, labels: Sequence[str], positions: Sequence[int], *, lo: float, hi: float,
                 scheme: str = "blues", allowed: np.ndarray | None = None, plot_px: int = 600,
                 focus_index: int | None = None, selectable: bool = True,
                 value_label: str = "Attention weight") -> RasterParts:
    """One matrix ``values[n, n]`` as a raster heatmap's layout, rows table and image."""
    v = np.asarray(values)
    n = v.shape[-1]
    if v.shape != (n, n) or len(labels) != n or len(positions) != n:
        raise ValueError(f"expected [n, n] values with n labels and positions, got {v.shape}, {len(labels)}")
    if not supports(scheme):
        raise ValueError(f"no raster colours for scheme {scheme!r}; draw it as vector cells")
    df, w = _table(v, allowed, labels, positions)
    layout = RasterLayout(n, int(plot_px), value_label, scheme, int(w), bool(selectable),
                          None if focus_index is None else int(focus_index))
    return RasterParts(layout, df, png_data_url(colorize(v, lo, hi, scheme, allowed)))


def raster_chart(layout: RasterLayout, labels: Sequence[str], *, data: Any, lo: float, hi: float, image_url: str,
                 title: Any, description: str | None) -> alt.LayerChart:
    """The raster heatmap of `layout` over its rows `data`: image, colour domain in params."""
    width = layout.plot_px
    cell = width / max(layout.n, 1)
    focus = None if layout.focus_index is None else f"datum.idx === {layout.focus_index}"
    charts, params = _layers(labels=labels, cell=cell, width=width, value_label=layout.value_label,
                             lo=LO_PARAM, hi=HI_PARAM, scheme=layout.scheme, width_chars=layout.width_chars, axes=True,
                             legend=cell_legend(cell), click=("cell", ["query_pos", "key_pos"]) if layout.selectable else None,
                             image_url=None, image_param=IMAGE_PARAM, focus_filter=focus, names=("rows", "cells"))
    extra = {"description": description} if description else {}
    chart = alt.LayerChart(layer=charts, data=data, width=width, height=width, title=title,
                           autosize=PAD, usermeta={"embedOptions": {"renderer": "canvas"}}, **extra)
    values = [*domain_params(lo, hi), alt.VariableParameter(name=IMAGE_PARAM, value=image_url)]
    chart.params = [*values, *params]  # after construction: the constructor would validate each to compare them
    return chart


@no_init_validation
def raster_layout_spec(layout: RasterLayout) -> dict[str, Any]:
    """The Vega-Lite spec of every raster heatmap with this layout: its rows a named dataset
    (ROWS_DATA) and its image, colour domain, title and description placeholders."""
    return raster_chart(layout, placeholder_labels(layout.n), data=alt.NamedData(name=ROWS_DATA), lo=0.0, hi=1.0, image_url="",
                         title=title_params(""), description="").to_dict(validate=False)


def facet_rows(values: np.ndarray, labels: Sequence[str], positions: Sequence[int], *,
               panels: Mapping[str, Sequence[Any]], lo: float, hi: float, scheme: str = "blues",
               allowed: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """The data of a facet of raster heatmaps ``values[p, k, k]``: a row per (panel, query row)
    with the panel fields, pos, idx, label, the row's weights (wrow) and, on a panel's first row,
    the panel's PNG (img). -> (rows, characters per weight)."""
    v = np.asarray(values)
    p, k = v.shape[0], v.shape[-1]
    if v.shape != (p, k, k):
        raise ValueError(f"expected [p, k, k] panels, got {v.shape}")
    if not supports(scheme):
        raise ValueError(f"no raster colours for scheme {scheme!r}; draw it as vector cells")
    leading = {name: np.repeat(np.asarray(vals), k) for name, vals in panels.items()}
    for name, vals in panels.items():
        if np.asarray(vals).dtype.kind in "OUS":
            leading[name] = pd.Categorical(np.repeat(np.asarray(vals, dtype=object), k), categories=list(dict.fromkeys(vals)))
    df, w = _table(v, allowed, labels, positions, leading)
    rgba = colorize(v, lo, hi, scheme, allowed)
    img = np.full(p * k, None, dtype=object)
    img[::k] = [png_data_url(rgba[i]) for i in range(p)]
    df["img"] = img
    return df, w


@no_init_validation
def facet_chart(data: Any, labels: Sequence[str], width_chars: int, *, fields: Sequence[str],
                facet: dict[str, Any], lo: float | str, hi: float | str, scheme: str = "blues", cell: float = 8,
                axes: bool = True, value_label: str = "Attention weight", click: tuple[str, list[str]] | None = None,
                panel_tooltip: Sequence[dict[str, Any]] = (), tooltip_after: Sequence[dict[str, Any]] = (),
                legend: Mapping[str, Any] | None = None, outline: str | None = None, title: Any = None,
                description: str | None = None, spacing: int | None = None, panel_px: int | None = None,
                labels_in: str | None = None) -> alt.FacetChart:
    """The facet of raster heatmaps over `data` (facet_rows' rows, or the name of a dataset holding
    them: alt.NamedData). lo / hi and labels_in as in :func:`_layers`."""
    k = len(labels)
    width = int(panel_px) if panel_px else int(round(cell * k))
    charts, params = _layers(labels=labels, cell=width / max(k, 1), width=width, value_label=value_label, lo=lo, hi=hi,
                             scheme=scheme, width_chars=width_chars, axes=axes, legend=legend, panel_fields=fields,
                             panel_tooltip=panel_tooltip, tooltip_after=tooltip_after, click=click,
                             image_url=None, focus_filter=None, names=("rows", "cells"), labels_in=labels_in)
    if outline is not None:
        charts.append(alt.Chart(mark={"type": "rect", "fill": None, "stroke": HIGHLIGHT, "strokeWidth": 4,
                                      "aria": False},
                                transform=[{"filter": f"datum.idx === 0 && ({outline})"}],
                                encoding=alt.FacetedEncoding(x={"value": 0}, x2={"value": width},
                                                             y={"value": 0}, y2={"value": width})))
    inner = alt.LayerChart(layer=charts, width=width, height=width)
    extra: dict[str, Any] = {"description": description} if description else {}
    if spacing is not None:
        extra["spacing"] = spacing
    if title is not None:
        extra["title"] = title
    chart = alt.FacetChart(spec=inner, data=data, autosize=PAD, usermeta={"embedOptions": {"renderer": "canvas"}},
                           resolve=alt.Resolve(scale=alt.ScaleResolveMap(x="shared", y="shared", color="shared")),
                           **facet, **extra)
    chart.params = params  # after construction: the constructor would validate each to compare them
    return chart


@no_init_validation
def raster_facet(values: np.ndarray, labels: Sequence[str], positions: Sequence[int], *,
                 panels: Mapping[str, Sequence[Any]], facet: dict[str, Any], lo: float, hi: float,
                 scheme: str = "blues", allowed: np.ndarray | None = None, cell: float = 8, axes: bool = True,
                 value_label: str = "Attention weight", click: tuple[str, list[str]] | None = None,
                 panel_tooltip: Sequence[dict[str, Any]] = (), tooltip_after: Sequence[dict[str, Any]] = (),
                 legend: Mapping[str, Any] | None = None,
                 outline: str | None = None, title: Any = None, description: str | None = None,
                 spacing: int | None = None, panel_px: int | None = None) -> alt.FacetChart:
    """Panels ``values[p, k, k]`` as a facet of raster heatmaps, one PNG each.

    panels: field -> one value per panel (e.g. {"panel": names} or {"layer": [...], "head": [...]}),
    added to the data, the hover and the click. facet: the FacetChart's facet arguments (e.g.
    ``{"facet": {...}, "columns": 3}`` or ``{"row": ..., "column": ...}``). outline: a filter on
    a panel's first row (e.g. ``datum.layer === 1 && datum.head === 2``) whose panel gets an
    orange outline. panel_px: each panel's width in pixels (default cell * k; the image and the
    band scales stretch to it, so cells may differ by a pixel).
    """
    df, w = facet_rows(values, labels, positions, panels=panels, lo=lo, hi=hi, scheme=scheme, allowed=allowed)
    return facet_chart(df, labels, w, fields=list(panels), facet=facet, lo=lo, hi=hi,
                       scheme=scheme, cell=cell, axes=axes, value_label=value_label, click=click,
                       panel_tooltip=panel_tooltip, tooltip_after=tooltip_after, legend=legend, outline=outline,
                       title=title, description=description, spacing=spacing, panel_px=panel_px)
