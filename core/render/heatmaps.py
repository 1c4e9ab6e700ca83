"""Altair charts for attention: arrays in, charts out. No Streamlit here.

Conventions (see /work/shared/ANALYSIS.md): a matrix is ``[query n, key n]``; rows are the
query (attending FROM, y axis), columns the key (attending TO, x axis). Keys a causal query
may not see are drawn grey ("n/a"), never as zeros of the colour scale.

Design rules every chart here follows:

* Token axes use unique, position-prefixed labels ("0 · the", "5 · the") with an explicit
  ``sort`` in sentence order, so repeated tokens keep their own row/column and Vega-Lite
  never sorts them alphabetically.
* No chart sends more than ``CELL_BUDGET`` cells. :func:`heatmap` refuses (``CellBudgetError``)
  instead of downsampling behind the page's back; use :func:`prepare_matrix`,
  :func:`downsample` or :func:`window` first. Grids (:func:`head_grid`,
  :func:`thumbnail_grid`) downsample each panel so the total stays under the budget and say so
  in the subtitle.
* Only cell fills have fixed colours (a sequential scheme, grey for masked cells); axis and
  title colours come from the theme (Streamlit light or dark). Cell-label text switches
  between dark and white on the cell value so it stays readable on the fill.
* Data is inline (pandas -> "datasets"), never a URL, so export works offline.
* Building stays clear of Altair's schema machinery (a heatmap went from about 37 ms of CPU to
  about 7): conditional encodings are typed channel objects, never ``alt.condition`` dicts or
  shorthand strings that ``.encode()`` would run through ``from_dict``; composite charts get their
  transforms and properties in one constructor call; builders run with validate-on-creation off
  (:func:`_no_init_validation`). tests/core/test_charts.py validates every builder's spec.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import altair as alt
import numpy as np
import pandas as pd
from altair.utils import schemapi as _schemapi

from core.errors import AttentionDashboardError
from core.tokens import visible

CELL_BUDGET = 100_000
"""Most cells (rows of chart data) any chart here sends to the browser."""

ANNOTATE_MAX_N = 20
"""Heatmaps annotate each cell with its value (2 decimals) only up to this many tokens."""

LABEL_MAX_CHARS = 24
MASKED_FILL = "#a3a3a3"
MASKED_TEXT = "n/a (masked: key after query)"
HIGHLIGHT = "#ff7f0e"  # orange: visible on blues, on grey and on both themes
SUBTITLE_GREY = "#808495"  # contrast about 3.9:1 on white and 5:1 on Streamlit's dark background
TEXT_DARK = "#1b1b1b"  # cell text on light fills (fill colour is fixed, not the theme's)
TEXT_LIGHT = "#ffffff"  # cell text on dark fills
X_TITLE = "Keys (attending to)"
Y_TITLE = "Queries (attending from)"
HEAD_ORDER_NOTE = "Head numbers are arbitrary within a layer: the same number in two layers is not the same head."
PAD = alt.AutoSizeParams(type="pad", contains="padding")
"""Every chart sets autosize "pad": width/height are the plot area, so cells stay square. Without
it Streamlit injects autosize "fit", which squeezes title + axes into `height` (a 4-token heatmap
became 35 px tall). Draw fixed-size charts with ``st.altair_chart(chart, width="content")``."""
CATEGORIES = ("positional", "special", "syntactic", "semantic")
CATEGORY_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")


class CellBudgetError(AttentionDashboardError, ValueError):
    """A chart would send more cells than the budget allows."""

    def __init__(self, cells: int, budget: int) -> None:
        self.cells = cells
        self.budget = budget
        super().__init__(
            f"This view would draw {cells:,} cells; the limit is {budget:,} so the browser stays "
            "responsive. Pick a token window or the block-averaged view."
        )


# --------------------------------------------------------------------------- building without Altair's schema passes

_INIT_CHECKS_LOCK = threading.Lock()
_init_checks_off = 0  # builders running now (all threads)
_init_checks_saved = True  # DEBUG_MODE as the first of them found it


def _no_init_validation(builder: Any) -> Any:
    """Run a chart builder with Altair's validate-on-construction pass switched off.

    With ``altair.utils.schemapi.DEBUG_MODE`` on (Altair's default) every Axis, Scale, MarkDef,
    selection, transform, ... validates itself against the Vega-Lite JSON schema as it is
    created: 20-30 passes, about 5 ms a heatmap. The finished specs are validated instead:
    tests/core/test_charts.py calls ``to_dict(validate=True)`` on every builder. The flag is
    process-wide (Altair's own ``copy()`` flips it the same way); a counter under a lock keeps a
    builder on one thread (a Streamlit session) from switching it back on under another's feet.
    Output is unchanged: the flag only decides whether invalid objects raise early.
    """

    @functools.wraps(builder)
    def run(*args: Any, **kwargs: Any) -> Any:
        global _init_checks_off, _init_checks_saved
        with _INIT_CHECKS_LOCK:
            if _init_checks_off == 0:
                _init_checks_saved = _schemapi.DEBUG_MODE
                _schemapi.DEBUG_MODE = False
            _init_checks_off += 1
        try:
            return builder(*args, **kwargs)
        finally:
            with _INIT_CHECKS_LOCK:
                _init_checks_off -= 1
                if _init_checks_off == 0:
                    _schemapi.DEBUG_MODE = _init_checks_saved

    return run


# --------------------------------------------------------------------------- labels & frames


def _visible(text: str) -> str:
    """core.tokens.visible, but a space between two visible parts stays a space ("New York")."""
    if text and text.strip(" ") == text and "  " not in text:
        return " ".join(visible(part) for part in text.split(" "))
    return visible(text)


def _short(text: str, max_chars: int = LABEL_MAX_CHARS) -> str:
    text = _visible(str(text))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def token_labels(tokens: Sequence[str], positions: Sequence[int] | None = None) -> list[str]:
    """Unique labels in sentence order: ``"{pos} · {token}"``.

    tokens: length n. positions: length n original positions (default ``0..n-1``; pass them
    for a token window so labels keep the sentence's numbering). Invisible characters are
    made visible (core.tokens.visible) and long tokens are cut to 24 characters.
    """
    pos = range(len(tokens)) if positions is None else positions
    if len(pos) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(pos)} positions")
    return [f"{int(p)} · {_short(t)}" for p, t in zip(pos, tokens)]


def _check_square(matrix: np.ndarray, n_tokens: int | None = None) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square [n, n] matrix, got shape {m.shape}")
    if n_tokens is not None and m.shape[0] != n_tokens:
        raise ValueError(f"matrix is {m.shape[0]} x {m.shape[1]} but there are {n_tokens} tokens")
    return m


def _mask_or_all(allowed_mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if allowed_mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(allowed_mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"allowed_mask has shape {mask.shape}, expected {shape}")
    return mask


def attention_frame(matrix: np.ndarray, tokens: Sequence[str], allowed_mask: np.ndarray | None = None,
                    *, labels: Sequence[str] | None = None,
                    positions: Sequence[int] | None = None) -> pd.DataFrame:
    """Long form of one ``[n, n]`` matrix: n*n rows, query-major (row i*n + j is query i, key j).

    Columns: query_pos, key_pos (int, original positions), query, key (unique labels),
    weight (float), allowed (bool; False = key after query in a causal model).
    labels: optional ready-made unique labels (e.g. block ranges); default token_labels(tokens, positions).
    """
    m = _check_square(matrix, len(tokens))
    n = m.shape[0]
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    lab = np.asarray(token_labels(tokens, pos) if labels is None else list(labels), dtype=object)
    if len(lab) != n or len(pos) != n:
        raise ValueError("labels and positions must have one entry per token")
    if len(set(lab.tolist())) != n:
        raise ValueError("labels must be unique (repeated labels would merge rows)")
    mask = _mask_or_all(allowed_mask, (n, n))
    qi = np.repeat(np.arange(n), n)
    ki = np.tile(np.arange(n), n)
    return pd.DataFrame({
        "query_pos": pos[qi],
        "key_pos": pos[ki],
        "query": lab[qi],
        "key": lab[ki],
        "weight": m.reshape(-1).astype(np.float64),
        "allowed": mask.reshape(-1),
    })


# --------------------------------------------------------------------------- size guards


@dataclass(frozen=True)
class PreparedMatrix:
    """What a heatmap should draw. matrix ``[m, m]``; labels, positions, tokens length m.

    positions are original token positions (block starts for block averages), so a click's
    ``query_pos``/``key_pos`` always refers to the sentence. ``block`` is tokens per block (1 = none).
    """

    matrix: np.ndarray
    labels: list[str]
    positions: np.ndarray
    tokens: list[str]
    allowed_mask: np.ndarray | None
    note: str | None = None
    block: int = 1
    mode: str = "full"
    extra: dict[str, Any] = field(default_factory=dict)

    def heatmap_kwargs(self) -> dict[str, Any]:
        """``heatmap(**prep.heatmap_kwargs(), title=...)``."""
        return {"matrix": self.matrix, "tokens": self.tokens, "labels": self.labels,
                "positions": self.positions, "allowed_mask": self.allowed_mask}


def block_size_for(n: int, max_cells: int = CELL_BUDGET) -> int:
    """Smallest tokens-per-block b such that ceil(n / b)**2 <= max_cells."""
    if max_cells < 1:
        raise ValueError("max_cells must be >= 1")
    b = 1
    while math.ceil(n / b) ** 2 > max_cells:
        b = max(b + 1, math.ceil(n / math.isqrt(max_cells)))
    return b


def _block_reduce(arr: np.ndarray, b: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Block-average the last two axes of ``arr[..., n, n]`` with b tokens per block.

    out[..., I, J] = mean over queries i in block I of sum over keys j in block J of arr[..., i, j]
    (masked cells count as 0), so rows that summed to 1 still do. A block is allowed if any of
    its cells is.
    """
    n = arr.shape[-1]
    starts = np.arange(0, n, b)
    sizes = np.diff(np.append(starts, n))
    a = np.asarray(arr)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if mask is not None:
        a = np.where(mask, a, a.dtype.type(0))  # float32 stays float32: no 2x copy of [L, H, n, n]
    s = np.add.reduceat(a, starts, axis=-1)
    s = np.add.reduceat(s, starts, axis=-2).astype(np.float64) / sizes[:, None]
    small_mask = None
    if mask is not None:
        mm = np.add.reduceat(np.add.reduceat(mask.astype(np.int32), starts, axis=-1), starts, axis=-2)
        small_mask = mm > 0
    return s, small_mask


def _positions(n: int, positions: Sequence[int] | None) -> np.ndarray:
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    if len(pos) != n:
        raise ValueError(f"{n} tokens but {len(pos)} positions")
    return pos


def _block_labels(tokens: Sequence[str], b: int,
                  positions: Sequence[int] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Labels "12–19 · word…" (original positions, inclusive), block-start positions, first tokens."""
    n = len(tokens)
    pos = _positions(n, positions)
    starts = np.arange(0, n, b)
    labels: list[str] = []
    reps: list[str] = []
    for s in starts.tolist():
        e = min(n, s + b) - 1
        tok = _short(tokens[s], 14)
        reps.append(str(tokens[s]))
        labels.append(f"{pos[s]} · {tok}" if e == s else f"{pos[s]}–{pos[e]} · {tok}…")
    return labels, pos[starts], reps


def downsample(matrix: np.ndarray, tokens: Sequence[str], max_cells: int = CELL_BUDGET,
               allowed_mask: np.ndarray | None = None,
               positions: Sequence[int] | None = None) -> tuple[np.ndarray, list[str], str | None]:
    """Block-average ``matrix[n, n]`` to at most max_cells cells.

    Returns (matrix_small [m, m], labels [m], note). Labels read "12–19 · word…" (positions
    inclusive, first token of the block). Each small row is the mean over a query block of the
    key-block sums, so rows still sum to 1. When n*n <= max_cells the input comes back unchanged
    with token_labels and note None.
    """
    prep = _downsample_prepared(matrix, tokens, max_cells, allowed_mask, positions)
    return prep.matrix, prep.labels, prep.note


def _downsample_prepared(matrix: np.ndarray, tokens: Sequence[str], max_cells: int,
                         allowed_mask: np.ndarray | None,
                         positions: Sequence[int] | None = None) -> PreparedMatrix:
    m = _check_square(matrix, len(tokens))
    n = m.shape[0]
    pos = _positions(n, positions)
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))
    b = block_size_for(n, max_cells)
    if b == 1:
        return PreparedMatrix(m, token_labels(tokens, pos), pos, list(tokens), mask, None, 1, "full")
    small, small_mask = _block_reduce(m, b, mask)
    labels, starts, reps = _block_labels(tokens, b, pos)
    k = len(starts)
    note = (f"{n} tokens would be {n * n:,} cells, over the {max_cells:,}-cell limit: showing "
            f"{k} x {k} blocks of {b} tokens. Each cell is a query block's mean of the weight "
            "it gives the key block, so rows still sum to 1.")
    return PreparedMatrix(small, labels, starts, reps, small_mask, note, b, "blocks")


def window(matrix: np.ndarray, tokens: Sequence[str], start: int, size: int,
           allowed_mask: np.ndarray | None = None,
           positions: Sequence[int] | None = None) -> tuple[np.ndarray, list[str], str | None]:
    """The square token window ``[start, start+size)`` of ``matrix[n, n]`` (clamped to fit).

    Returns (matrix [s, s], labels with original positions, note). Rows are NOT renormalised:
    weight given to keys outside the window is left out, and the note says how much.
    """
    prep = _window_prepared(matrix, tokens, start, size, allowed_mask, positions)
    return prep.matrix, prep.labels, prep.note


def _window_prepared(matrix: np.ndarray, tokens: Sequence[str], start: int, size: int,
                     allowed_mask: np.ndarray | None,
                     positions: Sequence[int] | None = None) -> PreparedMatrix:
    m = _check_square(matrix, len(tokens))
    n = m.shape[0]
    all_pos = _positions(n, positions)
    size = max(1, min(int(size), n))
    start = max(0, min(int(start), n - size))
    sl = slice(start, start + size)
    sub = m[sl, sl]
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))[sl, sl]
    pos = all_pos[start:start + size]
    toks = list(tokens[start:start + size])
    note = None
    if size < n:
        outside = float(np.clip(1.0 - np.asarray(sub, dtype=np.float64).sum(axis=1), 0.0, None).mean())
        note = (f"Tokens {pos[0]}–{pos[-1]} ({size} of {n}). Rows are not renormalised: on average "
                f"{outside:.1%} of each row's weight goes to keys outside this window.")
    return PreparedMatrix(np.asarray(sub), token_labels(toks, pos), pos, toks, mask, note, 1, "window",
                          {"start": start, "size": size})


def prepare_matrix(matrix: np.ndarray, tokens: Sequence[str],
                   mode: Literal["auto", "full", "window", "blocks"] = "auto", *,
                   allowed_mask: np.ndarray | None = None, start: int = 0, size: int = 64,
                   max_cells: int = CELL_BUDGET, positions: Sequence[int] | None = None) -> PreparedMatrix:
    """Decide what one heatmap draws. matrix ``[n, n]``, tokens length n.

    mode "auto": full when n*n <= max_cells, else block averages (with a note);
    "full": all cells, CellBudgetError if over budget; "window": rows/columns [start, start+size)
    of this matrix (size is also capped to the budget); "blocks": block averages (no-op when it fits).
    positions: the original token position of each row (default 0..n-1), e.g. after hiding
    [CLS]/[SEP], so labels and click positions still refer to the sentence.
    """
    m = _check_square(matrix, len(tokens))
    n = m.shape[0]
    pos = _positions(n, positions)
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))
    if mode == "window":
        size = min(int(size), math.isqrt(max_cells))
        return _window_prepared(m, tokens, start, size, mask, pos)
    if mode == "full":
        if n * n > max_cells:
            raise CellBudgetError(n * n, max_cells)
        return PreparedMatrix(m, token_labels(tokens, pos), pos, list(tokens), mask, None, 1, "full")
    if mode in ("auto", "blocks"):
        return _downsample_prepared(m, tokens, max_cells, mask, pos)
    raise ValueError(f"unknown mode {mode!r}; use 'auto', 'full', 'window' or 'blocks'")


# --------------------------------------------------------------------------- heatmaps


def symmetric_domain(values: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest |value| (1 when all are 0 or not finite): a diverging colour
    scale centred on 0, for differences."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    bound = float(v.max()) if v.size else 0.0
    bound = bound or 1.0
    return -bound, bound


def auto_cell_size(n: int) -> int:
    """Pixels per cell: square cells, big when few tokens, about 760 px across when many."""
    if n <= 12:
        return 40
    if n <= ANNOTATE_MAX_N:
        return 34
    return int(max(3, min(24, 760 // max(n, 1))))


def _label_font(cell: int) -> int:
    return 13 if cell >= 20 else 11 if cell >= 11 else 10


def _domain(values: np.ndarray, mask: np.ndarray | None, color_domain: Sequence[float] | None) -> tuple[float, float]:
    if color_domain is not None:
        lo, hi = float(color_domain[0]), float(color_domain[1])
    else:
        v = np.asarray(values, dtype=np.float64)
        v = v[mask] if mask is not None else v.reshape(-1)
        v = v[np.isfinite(v)]
        lo, hi = (0.0, float(v.max())) if v.size else (0.0, 1.0)
    if not hi > lo:
        hi = lo + 1e-9 if lo else 1.0
    return lo, hi


# Conditional encodings are built here as the typed objects Altair itself would end up with.
# ``alt.condition(...)`` returns a dict, and ``.encode()`` turns a dict back into a channel with
# ``from_dict``: a fresh class table hashed over the whole Vega-Lite schema plus a JSON-schema
# validation for every ``anyOf`` branch it tries (about 25 ms of a 35 ms heatmap). The objects
# below are the same classes with the same values, so ``to_dict()`` and even the content-hashed
# view names ("view_…") in the spec are unchanged; tests/core/test_charts.py compares them with
# the ``alt.condition`` route.


def _selection_outline(param: Any) -> dict[str, Any]:
    """stroke / strokeWidth channels: orange outline on the cells a point selection picked."""
    name = alt.ParameterName(param.name)
    return {
        "stroke": alt.StrokeValue(None, condition=alt.ConditionalParameterValueDefGradientstringnullExprRef(
            param=name, value=HIGHLIGHT, empty=param.empty)),
        "strokeWidth": alt.StrokeWidthValue(0, condition=alt.ConditionalParameterValueDefnumberExprRef(
            param=name, value=2.5, empty=param.empty)),
    }


def _value_if(test: str, if_true: str, if_false: str) -> alt.ColorValue:
    """``alt.condition(test, alt.value(if_true), alt.value(if_false))`` for the color channel."""
    return alt.ColorValue(if_false, condition=alt.ConditionalPredicateValueDefGradientstringnullExprRef(
        test=alt.Predicate(test), value=if_true))


@functools.lru_cache(maxsize=64)
def _scheme_class(scheme: str) -> Any:
    """The ColorScheme subclass whose enum lists ``scheme`` (what ``from_dict`` would pick), or None."""
    for cls in (alt.Categorical, alt.SequentialSingleHue, alt.SequentialMultiHue, alt.Diverging, alt.Cyclical):
        if scheme in cls.resolve_references().get("enum", ()):
            return cls
    return None


def _check_scheme(scheme: str) -> None:
    """A misspelt scheme raises here, as it did when Altair validated each Scale on creation."""
    if isinstance(scheme, str) and _scheme_class(scheme) is None:
        raise ValueError(f"{scheme!r} is not a Vega colour scheme (e.g. 'blues', 'redblue', 'viridis')")


def _masked_weight_fill(value_label: str, scheme: str, lo: float, hi: float,
                        legend: dict[str, Any]) -> alt.ColorValue:
    """``alt.condition("datum.allowed", <weight colour>, alt.value(MASKED_FILL))``: the colour
    scale on allowed cells, grey on masked ones."""
    scheme_cls = _scheme_class(scheme)
    legend = dict(legend)
    legend["format"] = alt.Format(legend["format"])
    if "orient" in legend:
        legend["orient"] = alt.LegendOrient(legend["orient"])
    return alt.ColorValue(MASKED_FILL, condition=alt.ConditionalPredicateMarkPropFieldOrDatumDef(
        test=alt.Predicate("datum.allowed"), field=alt.FieldName("weight"), legend=alt.Legend(**legend),
        scale=alt.Scale(scheme=scheme_cls(scheme) if scheme_cls else scheme, domain=[lo, hi], clamp=True),
        title=alt.schema.core.Text(value_label), type=alt.StandardType("quantitative")))


def _cell_layers(*, x_sort: list[str], y_sort: list[str], value_label: str, lo: float, hi: float,
                 scheme: str, annotate: bool, cell: int, selectable: bool, axes: bool = True,
                 extra_tooltip: Sequence[alt.Tooltip] = (), masked: bool = True,
                 param: Any = None) -> list[alt.Chart]:
    """Encodings shared by heatmap and head_grid (base data comes from the caller)."""
    _check_scheme(scheme)
    label_font = _label_font(cell)
    if axes:
        x_axis = alt.Axis(title=X_TITLE, labelAngle=-55, labelFontSize=label_font, labelLimit=140,
                          labelOverlap=cell < 10, ticks=False, domain=False)
        y_axis = alt.Axis(title=Y_TITLE, labelFontSize=label_font, labelLimit=160,
                          labelOverlap=cell < 10, ticks=False, domain=False)
    else:
        x_axis = y_axis = None
    x = alt.X("key:N", sort=x_sort, axis=x_axis, scale=alt.Scale(paddingInner=0))
    y = alt.Y("query:N", sort=y_sort, axis=y_axis, scale=alt.Scale(paddingInner=0))
    legend = {"orient": "right", "gradientLength": min(240, max(120, cell * 8)), "format": ".2f",
              "titleFontSize": 13, "labelFontSize": 12}
    fill = (_masked_weight_fill(value_label, scheme, lo, hi, legend) if masked else
            alt.Color("weight:Q", title=value_label, scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                      legend=alt.Legend(**legend)))
    tooltip = [alt.Tooltip("query:N", title="Query (from)"), alt.Tooltip("key:N", title="Key (to)"),
               alt.Tooltip("weight_text:N", title=value_label), *extra_tooltip]
    hit_layer = selectable and param is not None and annotate
    rect_enc: dict[str, Any] = {"x": x, "y": y, "color": fill, "tooltip": tooltip}
    rect = alt.Chart().mark_rect(strokeJoin="round")
    if selectable and param is not None and not annotate:
        rect = rect.add_params(param)
        rect_enc.update(_selection_outline(param))
    layers = [rect.encode(**rect_enc)]
    if annotate:
        threshold = lo + 0.55 * (hi - lo)
        text = alt.Chart().mark_text(fontSize=max(9, min(12, cell // 3)), baseline="middle").encode(
            x=x, y=y, text=alt.Text("cell_text:N"), tooltip=tooltip,
            color=_value_if(f"datum.allowed && datum.weight > {threshold!r}", TEXT_LIGHT, TEXT_DARK),
        )
        layers.append(text)
    if hit_layer:
        layers.append(_hit_layer(x, y, tooltip, param))
    return layers


def _with_selection(chart: alt.Chart, param: Any) -> alt.Chart:
    return chart.add_params(param).encode(**_selection_outline(param))


def _hit_layer(x: Any, y: Any, tooltip: Any, param: Any) -> alt.Chart:
    """A near-transparent rect layer above the cell labels that owns the click selection.

    Text marks on top of the cells would swallow clicks, and Vega-Lite cannot share one
    selection between two layers, so the selection (and its outline) lives on this top layer.
    """
    return alt.Chart().mark_rect(fill="#ffffff", fillOpacity=0.001).add_params(param).encode(
        x=x, y=y, tooltip=tooltip, **_selection_outline(param))


def _text_calcs(value_decimals: int = 3) -> dict[str, str]:
    """Vega expressions computed in the browser (no extra columns shipped)."""
    return {
        "weight_text": f"datum.allowed ? format(datum.weight, '.{value_decimals}f') : '{MASKED_TEXT}'",
        "cell_text": "datum.allowed ? format(datum.weight, '.2f') : 'n/a'",
    }


def _calculate(**exprs: str) -> list[alt.CalculateTransform]:
    """What ``.transform_calculate(**exprs)`` appends, for passing to the chart's constructor."""
    return [alt.CalculateTransform(**{"as": name, "calculate": expr}) for name, expr in exprs.items()]


def _chart_frame(matrix: np.ndarray, tokens: Sequence[str], mask: np.ndarray | None,
                 labels: Sequence[str] | None, positions: Sequence[int] | None) -> pd.DataFrame:
    # Masked cells keep their (zero) weight: a null would make Vega-Lite drop the cell or
    # colour it as the scale's zero; instead the fill condition on `allowed` paints them grey.
    frame = attention_frame(matrix, tokens, mask, labels=labels, positions=positions)
    return compact_frame(frame)


def compact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Shrink what Streamlit ships as Arrow: labels dictionary-encoded (categorical), positions
    int16/int32, weights float32. A 316 x 316 heatmap goes from 6.5 MB to 1.2 MB."""
    out = frame.copy()
    for col in ("query", "key"):
        if col in out:
            out[col] = out[col].astype("category")
    for col in ("query_pos", "key_pos"):
        if col in out:
            out[col] = out[col].astype(np.int16 if out[col].max() < 32_000 else np.int32)
    if "weight" in out:
        out["weight"] = out["weight"].astype(np.float32)
    return out


def _title(title: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    if subtitle:
        sub = [subtitle] if isinstance(subtitle, str) else list(subtitle)
        # Streamlit's theme colours the title but leaves the subtitle Vega's black, unreadable on
        # the dark theme (seen in Chromium): a mid grey reads on both backgrounds.
        return alt.TitleParams(text=title, subtitle=sub, fontSize=16, subtitleFontSize=13,
                               subtitleColor=SUBTITLE_GREY, anchor="start")
    return alt.TitleParams(text=title, fontSize=16, anchor="start")


@_no_init_validation
def heatmap(matrix: np.ndarray, tokens: Sequence[str], *, title: str,
            value_label: str = "Attention weight", allowed_mask: np.ndarray | None = None,
            annotate: bool | None = None, selected_query: int | None = None,
            color_domain: Sequence[float] | None = None, scheme: str = "blues",
            selectable: bool = True, cell_size: int | None = None,
            labels: Sequence[str] | None = None, positions: Sequence[int] | None = None,
            subtitle: str | Sequence[str] | None = None, max_cells: int = CELL_BUDGET) -> alt.LayerChart:
    """One ``[n, n]`` matrix (rows = query FROM on y, columns = key TO on x).

    tokens: length n (labels built with token_labels unless ``labels`` is given; pass
    ``positions`` for windows/blocks, or simply ``**prepared.heatmap_kwargs()``).
    allowed_mask ``[n, n]`` bool: False cells are grey with tooltip "n/a (masked: key after query)".
    annotate: None = only when n <= 20 (2 decimals). selected_query: a position whose row
    (or block) gets an orange outline. selectable: point selection "cell" on
    query_pos, key_pos (``st.altair_chart(on_select="rerun")`` returns the click).
    Raises CellBudgetError when n*n > max_cells: call prepare_matrix first.
    """
    m = _check_square(matrix, len(tokens))
    n = m.shape[0]
    if n * n > max_cells:
        raise CellBudgetError(n * n, max_cells)
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))
    df = _chart_frame(m, tokens, mask, labels, positions)
    order = df["key"].iloc[:n].tolist()
    lo, hi = _domain(m, mask, color_domain)
    cell = int(cell_size) if cell_size else auto_cell_size(n)
    if annotate is None:
        annotate = n <= ANNOTATE_MAX_N
    param = alt.selection_point(name="cell", fields=["query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=order, y_sort=order, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=mask is not None, param=param)
    if selected_query is not None:
        pos = df["query_pos"].iloc[::n].to_numpy()
        idx = int(np.searchsorted(pos, int(selected_query), side="right")) - 1
        block_end = pos[idx + 1] if idx + 1 < n else pos[idx] + max(1, (pos[-1] - pos[0]) // max(n - 1, 1))
        if 0 <= idx < n and int(selected_query) < block_end:
            qp, kp = int(pos[idx]), int(pos[0])
            layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(
                y=alt.Y("query:N", sort=order)).transform_filter(
                f"datum.query_pos == {qp} && datum.key_pos == {kp}"))
    # One constructor call: each .transform_calculate() / .properties() on a LayerChart re-runs its
    # __init__ (deep copies of every layer, selection re-lifted and re-validated).
    return alt.layer(*layers, data=df, transform=_calculate(**_text_calcs()), width=cell * n, height=cell * n,
                     title=_title(title, subtitle), autosize=PAD)


# --------------------------------------------------------------------------- grids


def _panels(att: np.ndarray | Sequence[np.ndarray], layer: int | None, head: int | None,
            titles: Sequence[str] | None) -> tuple[np.ndarray, list[str], bool]:
    """-> (panels [p, n, n], titles, lines heads up across layers?)"""
    if isinstance(att, np.ndarray) and att.ndim == 4:
        L, H = att.shape[:2]
        if layer is not None and head is not None:
            stack, names, across = att[layer, head][None], [f"Layer {layer} · head {head}"], False
        elif head is not None:
            stack, names, across = att[:, head], [f"Layer {i} · head {head}" for i in range(L)], True
        elif layer is not None:
            stack, names, across = att[layer], [f"Layer {layer} · head {h}" for h in range(H)], False
        else:
            stack, names, across = att.mean(axis=1), [f"Layer {i} · mean of {H} heads" for i in range(L)], False
    else:
        stack = np.stack([np.asarray(a) for a in att]) if not isinstance(att, np.ndarray) or att.ndim == 2 \
            else np.asarray(att)
        if stack.ndim == 2:
            stack = stack[None]
        if stack.ndim != 3:
            raise ValueError(f"expected [L, H, n, n], [p, n, n] or a list of [n, n]; got {np.shape(att)}")
        p = len(stack)
        if head is not None and layer is None:  # att[:, head]: one head, every layer
            names, across = [f"Layer {i} · head {head}" for i in range(p)], True
        elif layer is not None and head is None:  # att[layer]: every head of one layer
            names, across = [f"Layer {layer} · head {h}" for h in range(p)], False
        else:
            names, across = [f"Panel {i}" for i in range(p)], False
    if titles is not None:
        if len(titles) != len(stack):
            raise ValueError(f"{len(stack)} panels but {len(titles)} titles")
        names = [str(t) for t in titles]
    if len(set(names)) != len(names):
        names = [f"{i}: {t}" for i, t in enumerate(names)]
    return np.asarray(stack), names, across


@_no_init_validation
def head_grid(att: np.ndarray | Sequence[np.ndarray], tokens: Sequence[str], *,
              layer: int | None = None, head: int | None = None, columns: int = 3,
              titles: Sequence[str] | None = None, title: str | None = None,
              value_label: str = "Attention weight", allowed_mask: np.ndarray | None = None,
              annotate: bool | None = None, color_domain: Sequence[float] | None = None,
              scheme: str = "blues", selectable: bool = True, cell_size: int | None = None,
              max_cells: int = CELL_BUDGET) -> alt.FacetChart:
    """Small heatmaps in a grid with one shared colour scale.

    att ``[L, H, n, n]``: head=h -> that head in every layer (the tutorial's grid, with a note that
    head numbers are arbitrary per layer); layer=l -> every head of layer l; both -> one panel;
    neither -> the head mean of each layer. Or a list / ``[p, n, n]`` array of matrices (titles
    then name the panels). Each panel is block-averaged when p*n*n > max_cells (note in the
    subtitle). Annotated when the (possibly reduced) panels have <= 20 tokens.
    Selection "cell" on panel, query_pos, key_pos.
    """
    stack, names, across = _panels(att, layer, head, titles)
    p, n = stack.shape[0], stack.shape[-1]
    if n != len(tokens):
        raise ValueError(f"matrices are {n} x {n} but there are {len(tokens)} tokens")
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))
    b = block_size_for(n, max(1, max_cells // p))
    notes: list[str] = []
    if b > 1:
        small, small_mask = _block_reduce(stack, b, mask)
        labels, positions, reps = _block_labels(tokens, b)
        notes.append(f"{p} panels x {n}x{n} tokens is over the {max_cells:,}-cell limit: each panel shows "
                     f"blocks of {b} tokens (rows still sum to 1).")
    else:
        small, small_mask = np.asarray(stack, dtype=np.float64), mask
        labels, positions, reps = token_labels(tokens), np.arange(n), list(tokens)
    k = small.shape[-1]
    frames = []
    base = attention_frame(small[0], reps, small_mask, labels=labels, positions=positions)
    for i in range(p):
        f = base.copy()
        f["weight"] = small[i].reshape(-1)
        f["panel"] = names[i]
        frames.append(f)
    df = compact_frame(pd.concat(frames, ignore_index=True))
    df["panel"] = df["panel"].astype("category")
    if across:
        notes.append(HEAD_ORDER_NOTE)
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    cell = int(cell_size) if cell_size else max(3, min(26, 280 // max(k, 1)))
    if annotate is None:
        annotate = k <= ANNOTATE_MAX_N
    param = alt.selection_point(name="cell", fields=["panel", "query_pos", "key_pos"], on="click",
                                clear="dblclick", empty=False) if selectable else None
    layers = _cell_layers(x_sort=labels, y_sort=labels, value_label=value_label, lo=lo, hi=hi,
                          scheme=scheme, annotate=annotate, cell=cell, selectable=selectable,
                          masked=small_mask is not None, param=param,
                          extra_tooltip=[alt.Tooltip("panel:N", title="Panel")])
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    if title is None:
        title = ("Head {h} in every layer".format(h=head) if across else
                 f"Every head of layer {layer}" if layer is not None and head is None else
                 "Head mean of each layer" if isinstance(att, np.ndarray) and att.ndim == 4 and layer is None
                 else "Attention")
    return inner.facet(
        facet=alt.Facet("panel:N", sort=names, title=None,
                        header=alt.Header(labelFontSize=13, labelFontWeight="bold")),
        columns=max(1, int(columns)), data=df, transform=_calculate(**_text_calcs()),
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(x="shared", y="shared", color="shared")),
        title=_title(title, notes or None), autosize=PAD)


@_no_init_validation
def thumbnail_grid(att: np.ndarray, tokens: Sequence[str], *, max_cells: int = CELL_BUDGET,
                   title: str | None = None, allowed_mask: np.ndarray | None = None,
                   selected: tuple[int, int] | None = None, scheme: str = "blues",
                   color_domain: Sequence[float] | None = None, thumb_px: int | None = None,
                   selectable: bool = True) -> alt.FacetChart:
    """Every layer x head of ``att[L, H, n, n]`` as a small heatmap (rows = layers, columns = heads).

    Each thumbnail is block-averaged so L*H*cells <= max_cells. No axis labels; the tooltip
    names layer, head, query/key ranges and weight. Point selection "head" on layer, head
    (click a thumbnail). selected=(layer, head) outlines that thumbnail.
    """
    a = np.asarray(att)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected [L, H, n, n], got {a.shape}")
    L, H, n = a.shape[0], a.shape[1], a.shape[-1]
    if n != len(tokens):
        raise ValueError(f"matrices are {n} x {n} but there are {len(tokens)} tokens")
    mask = None if allowed_mask is None else _mask_or_all(allowed_mask, (n, n))
    b = block_size_for(n, max(1, max_cells // (L * H)))
    if b > 1:
        small, small_mask = _block_reduce(a, b, mask)
        labels, positions, _ = _block_labels(tokens, b)
    else:
        small, small_mask = a.astype(np.float64), mask
        labels, positions = token_labels(tokens), np.arange(n)
    k = small.shape[-1]
    lab = np.asarray(labels, dtype=object)
    qi = np.repeat(np.arange(k), k)
    ki = np.tile(np.arange(k), k)
    cells = k * k
    allowed = np.ones(cells, bool) if small_mask is None else small_mask.reshape(-1)
    weight = small.reshape(-1)
    df = pd.DataFrame({
        "layer": np.repeat(np.arange(L), H * cells),
        "head": np.tile(np.repeat(np.arange(H), cells), L),
        "query_pos": np.tile(positions[qi], L * H),
        "key_pos": np.tile(positions[ki], L * H),
        "query": np.tile(lab[qi], L * H),
        "key": np.tile(lab[ki], L * H),
        "weight": weight,
        "allowed": np.tile(allowed, L * H),
    })
    df = compact_frame(df)
    df["layer"] = df["layer"].astype(np.int16)
    df["head"] = df["head"].astype(np.int16)
    lo, hi = _domain(small, None if small_mask is None else np.broadcast_to(small_mask, small.shape), color_domain)
    px = int(thumb_px) if thumb_px else max(48, min(110, 900 // max(H, 1)))
    cell = max(1, px // k)
    _check_scheme(scheme)
    legend = {"format": ".2f", "titleFontSize": 13, "labelFontSize": 12}
    fill = (_masked_weight_fill("Attention weight", scheme, lo, hi, legend) if small_mask is not None else
            alt.Color("weight:Q", title="Attention weight", scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                      legend=alt.Legend(**legend)))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("query:N", title="Query (from)"), alt.Tooltip("key:N", title="Key (to)"),
               alt.Tooltip("weight_text:N", title="Attention weight")]
    base = alt.Chart().mark_rect().encode(
        x=alt.X("key:N", sort=labels, axis=None, scale=alt.Scale(paddingInner=0)),
        y=alt.Y("query:N", sort=labels, axis=None, scale=alt.Scale(paddingInner=0)),
        color=fill, tooltip=tooltip,
    )
    layers = [base]
    if selectable:
        param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                    empty=False)
        base = base.add_params(param)  # feedback comes from `selected` (the page's state), not dimming
        layers = [base]
    if selected is not None:
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=4).transform_filter(
            f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])} "
            f"&& datum.query_pos == {int(positions[0])} && datum.key_pos == {int(positions[0])}"))
    inner = alt.layer(*layers, width=cell * k, height=cell * k)
    notes = [HEAD_ORDER_NOTE]
    if b > 1:
        notes.insert(0, f"Each thumbnail shows blocks of {b} tokens ({k} x {k}) to stay under "
                        f"{max_cells:,} cells.")
    return inner.facet(
        row=alt.Row("layer:O", title="Layer", header=alt.Header(labelFontSize=12, titleFontSize=13)),
        column=alt.Column("head:O", title="Head", header=alt.Header(labelFontSize=12, titleFontSize=13)),
        data=df, spacing=4, transform=_calculate(weight_text=_text_calcs()["weight_text"]),
        title=_title(title or "Every layer and head", notes), autosize=PAD)


@_no_init_validation
def overview_grid(values: np.ndarray, *, title: str, value_label: str,
                  selected: tuple[int, int] | None = None, scheme: str = "blues",
                  color_domain: Sequence[float] | None = None, annotate: bool | None = None,
                  decimals: int = 2, selectable: bool = True, cell_size: int | None = None,
                  note_head_order: bool = True, categories: Sequence[str] | None = None) -> alt.LayerChart:
    """One cell per head: ``values[L, H]`` (rows = layer, columns = head), e.g. entropy per head.

    NaN cells are grey ("n/a"). Annotated when L*H <= 144. Point selection "head" on layer, head;
    selected=(layer, head) gets an orange outline. categories: values are integer codes into
    this list (e.g. pattern classes; anything else is "n/a"), drawn with a categorical palette
    and named in the legend and tooltip (not annotated by default).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected [layers, heads], got {v.shape}")
    L, H = v.shape
    flat = v.reshape(-1)
    finite = np.isfinite(flat)
    if categories is not None:
        cats = [str(c) for c in categories]
        codes = np.where(finite, flat, -1).astype(np.int64)
        finite = finite & (codes == flat) & (codes >= 0) & (codes < len(cats))
    df = pd.DataFrame({
        "layer": np.repeat(np.arange(L), H),
        "head": np.tile(np.arange(H), L),
        "value": np.where(finite, flat, np.nan),
        "valid": finite,
    })
    lo, hi = _domain(v, finite.reshape(v.shape), color_domain)
    cell = int(cell_size) if cell_size else max(22, min(48, 640 // max(H, 1)))
    if annotate is None:
        annotate = categories is None and L * H <= 144 and cell >= 30
    if categories is not None:
        df["category"] = np.where(finite, np.asarray(cats + ["n/a"], dtype=object)[np.where(finite, codes, -1)],
                                  None)
        color = alt.Color("category:N", title=value_label, sort=cats,
                          scale=alt.Scale(domain=cats, scheme="tableau10"),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    else:
        _check_scheme(scheme)
        color = alt.Color("value:Q", title=value_label,
                          scale=alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True),
                          legend=alt.Legend(titleFontSize=13, labelFontSize=12))
    x = alt.X("head:O", title="Head", axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14))
    y = alt.Y("layer:O", title="Layer", axis=alt.Axis(labelFontSize=12, titleFontSize=14))
    tooltip = [alt.Tooltip("layer:O", title="Layer"), alt.Tooltip("head:O", title="Head"),
               alt.Tooltip("value_text:N", title=value_label)]
    rect = alt.Chart().mark_rect().encode(x=x, y=y, color=color, tooltip=tooltip)
    param = alt.selection_point(name="head", fields=["layer", "head"], on="click", clear="dblclick",
                                empty=False) if selectable else None
    if param is not None and not annotate:
        rect = _with_selection(rect, param)
    # NaN values are null in the data; Vega-Lite filters them from the coloured layer, so a
    # separate grey layer draws them.
    layers: list[alt.Chart] = [
        alt.Chart().mark_rect(color=MASKED_FILL).encode(x=x, y=y, tooltip=tooltip).transform_filter("!datum.valid"),
        rect]
    if annotate:
        threshold = lo + 0.55 * (hi - lo)
        text = alt.Chart().mark_text(fontSize=11).encode(
            x=x, y=y, text=alt.Text("value_short:N"), tooltip=tooltip,
            color=_value_if(f"datum.valid && datum.value > {threshold!r}", TEXT_LIGHT, TEXT_DARK))
        layers.append(text)
        if param is not None:
            layers.append(_hit_layer(x, y, tooltip, param))
    if selected is not None:
        layers.append(alt.Chart().mark_rect(fill=None, stroke=HIGHLIGHT, strokeWidth=3).encode(x=x, y=y)
                      .transform_filter(f"datum.layer == {int(selected[0])} && datum.head == {int(selected[1])}"))
    fmt = f".{int(decimals)}f"
    text_expr = ("datum.valid ? datum.category : 'n/a'" if categories is not None
                 else "datum.valid ? format(datum.value, '.3f') : 'n/a'")
    return alt.layer(*layers, data=df, transform=_calculate(
        value_text=text_expr,
        value_short=f"datum.valid ? format(datum.value, '{fmt}') : 'n/a'",
    ), width=cell * H, height=cell * L, title=_title(title, HEAD_ORDER_NOTE if note_head_order else None),
        autosize=PAD)


# --------------------------------------------------------------------------- bars


def _category_long(counts_df: pd.DataFrame, group: str, drop: Sequence[str] = ()) -> pd.DataFrame:
    """-> long (group, category, count). Accepts long (group, category, count), raw edges
    (group, category: one row per edge, e.g. analysis.categorise_connections) or wide
    (group + one column per category, e.g. analysis.category_counts; "total" is ignored)."""
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
    palette = list(CATEGORY_COLORS) + ["#9d755d", "#e45756", "#72b7b2", "#eeca3b"]
    rng = [palette[CATEGORIES.index(c)] if c in CATEGORIES else palette[4 + i % 4]
           for i, c in enumerate(other)]
    rng = [palette[CATEGORIES.index(c)] for c in known] + rng
    return alt.Scale(domain=domain, range=rng)


@_no_init_validation
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
    # Top-level properties go to the constructor: .properties() validates each one against the schema.
    return alt.Chart(df, width=max(240, 56 * df[layer_col].nunique()), height=280, title=_title(title),
                     autosize=PAD).mark_bar().encode(
        x=alt.X(f"{layer_col}:O", title="Layer", axis=alt.Axis(labelAngle=0, labelFontSize=12, titleFontSize=14)),
        y=alt.Y("sum(count):Q", title=y_title, stack="normalize" if normalize else "zero",
                axis=alt.Axis(labelFontSize=12, titleFontSize=14, format=".0%" if normalize else "d")),
        color=alt.Color("category:N", title="Category", scale=scale, sort=order,
                        legend=alt.Legend(titleFontSize=13, labelFontSize=12)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip(f"{layer_col}:O", title="Layer"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("count:Q", title="Count")],
    )


@_no_init_validation
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
    return alt.Chart(long, width=max(320, 40 * len(order) * max(1, len(sentences))), height=280,
                     title=_title(title), autosize=PAD).mark_bar().encode(
        x=alt.X("category:N", title="Category", sort=order, axis=alt.Axis(labelAngle=0, labelFontSize=12,
                                                                          titleFontSize=14)),
        xOffset=alt.XOffset(f"{sentence_col}:N", sort=sentences),
        y=alt.Y("value:Q", title="Share of strong connections" if normalize else "Strong connections",
                axis=alt.Axis(format=".0%" if normalize else "d", labelFontSize=12, titleFontSize=14)),
        color=alt.Color(f"{sentence_col}:N", title="Sentence", sort=sentences,
                        scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=400,
                                          titleFontSize=13, labelFontSize=12)),
        tooltip=[alt.Tooltip(f"{sentence_col}:N", title="Sentence"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("count:Q", title="Count"),
                 alt.Tooltip("value:Q", title="Share" if normalize else "Count", format=".1%" if normalize else "d")],
    )


@_no_init_validation
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
              axis=alt.Axis(labelAngle=-55, labelLimit=140, labelFontSize=_label_font(bar_px),
                            labelOverlap=bar_px < 10, titleFontSize=14))
    param = alt.selection_point(name="token", fields=["token_pos"], on="click", clear="dblclick", empty=False)
    bars = alt.Chart().mark_bar().encode(
        x=x,
        y=alt.Y("value:Q", title=value_label, axis=alt.Axis(labelFontSize=12, titleFontSize=14)),
        color=_value_if("datum.highlight", HIGHLIGHT, "#4c78a8"),
        tooltip=[alt.Tooltip("token:N", title="Token"),
                 alt.Tooltip("value:Q", title=value_label, format=f".{int(decimals)}f")],
    ).add_params(param)
    layers: list[Any] = [bars]
    if reference is not None:
        rule_df = pd.DataFrame({"ref": [float(reference)], "ref_label": [reference_label or "reference"]})
        layers.append(alt.Chart(rule_df).mark_rule(strokeDash=[5, 4], color="#e45756", size=2).encode(
            y=alt.Y("ref:Q"), tooltip=[alt.Tooltip("ref_label:N", title="Line"),
                                alt.Tooltip("ref:Q", title="Value", format=f".{int(decimals)}f")]))
    return alt.layer(*layers, data=df, width=max(240, bar_px * n), height=260, title=_title(title), autosize=PAD)


__all__ = [
    "CELL_BUDGET", "ANNOTATE_MAX_N", "CellBudgetError", "PreparedMatrix", "token_labels",
    "attention_frame", "block_size_for", "downsample", "window", "prepare_matrix", "auto_cell_size",
    "heatmap", "head_grid", "thumbnail_grid", "overview_grid", "category_chart",
    "category_compare_chart", "bar_chart_for_tokens", "chart_spec", "chart_cells",
]


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """``chart.to_dict()`` with inline data and Altair's 5,000-row guard lifted (our budget applies).

    Use this (not ``to_dict``) in tests and export; Streamlit serialises charts itself.
    """
    with alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict()


def chart_cells(chart: Any) -> int:
    """Rows of inline data a chart carries (what Streamlit ships as Arrow), over all sub-charts."""
    total = 0
    data = getattr(chart, "data", alt.Undefined)
    if isinstance(data, pd.DataFrame):
        total += len(data)
    for attr in ("layer", "hconcat", "vconcat", "concat"):
        for sub in getattr(chart, attr, None) or []:
            if sub is not alt.Undefined:
                total += chart_cells(sub)
    spec = getattr(chart, "spec", alt.Undefined)
    if spec is not alt.Undefined and not isinstance(spec, dict):
        total += chart_cells(spec)
    return total


def unvalidated(chart: Any) -> Any:
    """The same chart, serialised without Altair's JSON-schema pass (about 15-40 ms a chart).

    Every builder here is validated by the test suite (tests/core/test_charts.py calls
    ``to_dict()`` with validation), so the app skips re-validating on each rerun. (Building
    already skips Altair's validate-on-creation pass: see :func:`_no_init_validation`.)
    """
    import functools

    object.__setattr__(chart, "to_dict", functools.partial(chart.to_dict, validate=False))
    return chart
