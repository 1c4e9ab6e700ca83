"""Altair plumbing shared by every chart builder: building without the schema round trips,
the typed conditional encodings, titles, and serialising (spec, cell count, Arrow size).

Building stays clear of Altair's schema machinery (it costs a heatmap about 30 ms of CPU, five
times the rest): conditional encodings are typed channel objects, never ``alt.condition`` dicts or
shorthand strings that ``.encode()`` would run through ``from_dict``; composite charts get their
transforms and properties in one constructor call; builders run with validate-on-creation off
(:func:`no_init_validation`). tests/core/test_render_charts.py validates every builder's spec.

Only cell fills have fixed colours (a sequential scheme, grey for masked cells); axis and title
colours come from the theme (Streamlit light or dark). Data is inline (pandas -> "datasets"),
never a URL, so export works offline. No Streamlit here.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd
from altair.utils import schemapi as _schemapi

MASKED_FILL = "#a3a3a3"
HIGHLIGHT = "#ff7f0e"  # orange: visible on blues, on grey and on both themes
SUBTITLE_GREY = "#808495"  # contrast about 3.9:1 on white and 5:1 on Streamlit's dark background
TEXT_DARK = "#000000"  # cell text on light fills; pure black, so black or white always reaches 4.5:1
TEXT_LIGHT = "#ffffff"  # cell text on dark fills
CATEGORY_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9", "#cc79a7", "#f0e442", "#000000")
"""Okabe & Ito's colour-blind-safe palette ("Color Universal Design", 2008), in the order categories
take it: the pattern classes (vertical blue, diagonal orange, vertical+diagonal green, block
vermilion, heterogeneous sky blue) and the tutorial's connection categories. Vermilion comes before
reddish purple because, simulated for deuteranopia, #cc79a7 falls within 7 CIEDE2000 units of the
grey of cells without a value (tests/core/test_colour_vision.py checks every pair above 10)."""
PAD = alt.AutoSizeParams(type="pad", contains="padding")
"""Every chart sets autosize "pad": width/height are the plot area, so cells stay square. Without
it Streamlit injects autosize "fit", which squeezes title + axes into `height` (a 4-token heatmap
became 35 px tall). Draw fixed-size charts with ``st.altair_chart(chart, width="content")``."""


# --------------------------------------------------------------------------- building without Altair's schema passes

_INIT_CHECKS_LOCK = threading.Lock()
_init_checks_off = 0  # builders running now (all threads)
_init_checks_saved = True  # DEBUG_MODE as the first of them found it


def no_init_validation(builder: Any) -> Any:
    """Run a chart builder with Altair's validate-on-construction pass switched off.

    With ``altair.utils.schemapi.DEBUG_MODE`` on (Altair's default) every Axis, Scale, MarkDef,
    selection, transform, ... validates itself against the Vega-Lite JSON schema as it is
    created: 20-30 passes, about 5 ms a heatmap. The finished specs are validated instead:
    the test suite calls ``to_dict(validate=True)`` on every builder. The flag is process-wide
    (Altair's own ``copy()`` flips it the same way); a counter under a lock keeps a builder on
    one thread (a Streamlit session) from switching it back on under another's feet.
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


# --------------------------------------------------------------------------- typed conditional encodings
# Conditional encodings are built here as the typed objects Altair itself would end up with.
# ``alt.condition(...)`` returns a dict, and ``.encode()`` turns a dict back into a channel with
# ``from_dict``: a fresh class table hashed over the whole Vega-Lite schema plus a JSON-schema
# validation for every ``anyOf`` branch it tries (about 25 ms of a 35 ms heatmap). The objects
# below are the same classes with the same values, so ``to_dict()`` and even the content-hashed
# view names ("view_…") in the spec are unchanged; the tests compare them with the
# ``alt.condition`` route.


def selection_outline(param: Any) -> dict[str, Any]:
    """stroke / strokeWidth channels: orange outline on the cells a point selection picked."""
    name = alt.ParameterName(param.name)
    return {
        "stroke": alt.StrokeValue(None, condition=alt.ConditionalParameterValueDefGradientstringnullExprRef(
            param=name, value=HIGHLIGHT, empty=param.empty)),
        "strokeWidth": alt.StrokeWidthValue(0, condition=alt.ConditionalParameterValueDefnumberExprRef(
            param=name, value=2.5, empty=param.empty)),
    }


# --------------------------------------------------------------------------- the marked head, movable without a rebuild

MARKED_DATA = "marked_head"
"""Name of the top-level dataset holding the head a chart marks (the shared selection's layer and
head): one row {"layer", "head"}, or none. The marking layer draws from it, so a chart built once
(a memo) is moved to another head by replacing that dataset in its finished spec
(:func:`with_marked`): the spec itself stays the same, and the browser updates the drawn view's
data in place instead of building a new view."""


def marked_rows(selected: tuple[int, int] | None) -> list[dict[str, int]]:
    """The marked-head dataset for `selected`: [{"layer": l, "head": h}], or [] for None."""
    return [] if selected is None else [{"layer": int(selected[0]), "head": int(selected[1])}]


def marked_source() -> alt.NamedData:
    """The data of a marking layer (give the top-level chart ``datasets=marked_datasets(...)``)."""
    return alt.NamedData(name=MARKED_DATA)


def marked_datasets(selected: tuple[int, int] | None) -> dict[str, list[dict[str, int]]]:
    return {MARKED_DATA: marked_rows(selected)}


def with_marked(spec: dict[str, Any], selected: tuple[int, int] | None) -> dict[str, Any]:
    """A finished spec (a dict from ``to_dict`` or Streamlit's conversion) marking `selected`:
    new top-level and "datasets" dicts with the marked-head dataset replaced; everything else is
    shared with `spec`, which is not changed. KeyError when the spec has no such dataset (a chart
    built without a marking layer)."""
    datasets = spec.get("datasets")
    if not isinstance(datasets, dict) or MARKED_DATA not in datasets:
        raise KeyError(f"the spec has no top-level dataset {MARKED_DATA!r}")
    return {**spec, "datasets": {**datasets, MARKED_DATA: marked_rows(selected)}}


def with_stable_data(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A finished spec whose top-level datasets are named `prefix`0, `prefix`1, ... in the order the
    spec lists them, instead of by a hash of their content (Altair's and Streamlit's names), every
    reference renamed with them; `spec` is not changed.

    For a chart drawn again with other data of the same shape (the arc view of another head): when
    only the data differs, the spec Streamlit sends is the same, and the browser updates the drawn
    view's data in place instead of building a new view, as for :func:`with_marked`."""
    datasets = spec.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        return spec
    names = {old: f"{prefix}{i}" for i, old in enumerate(datasets)}

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: rename(value) for key, value in node.items()}
            data_name = out.get("name")
            if isinstance(data_name, str) and data_name in names and set(out) <= {"name", "format"}:
                out["name"] = names[data_name]  # a data reference: {"name": ...}
            return out
        if isinstance(node, list):
            return [rename(value) for value in node]
        return node

    body = rename({key: value for key, value in spec.items() if key != "datasets"})
    return {**body, "datasets": {names[old]: value for old, value in datasets.items()}}


def value_if(test: str, if_true: str, if_false: str) -> alt.ColorValue:
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


def check_scheme(scheme: str) -> None:
    """A misspelt scheme raises here, as it did when Altair validated each Scale on creation."""
    if isinstance(scheme, str) and _scheme_class(scheme) is None:
        raise ValueError(f"{scheme!r} is not a Vega colour scheme (e.g. 'blues', 'redblue', 'viridis')")


def colour_scale(scheme: str, lo: float | str, hi: float | str) -> alt.Scale:
    """A clamped colour scale from lo to hi: numbers, or the names of two top-level parameters
    (the domain then follows their values, so a spec can be reused for other data)."""
    scheme_cls = _scheme_class(scheme)
    named = scheme_cls(scheme) if scheme_cls else scheme
    if isinstance(lo, str) or isinstance(hi, str):
        return alt.Scale(scheme=named, domainMin=alt.ExprRef(str(lo)), domainMax=alt.ExprRef(str(hi)), clamp=True)
    return alt.Scale(scheme=named, domain=[lo, hi], clamp=True)


def masked_weight_fill(value_label: str, scheme: str, lo: float | str, hi: float | str,
                       legend: dict[str, Any]) -> alt.ColorValue:
    """``alt.condition("datum.allowed", <weight colour>, alt.value(MASKED_FILL))``: the colour
    scale on allowed cells, grey on masked ones. lo / hi as in :func:`colour_scale`."""
    legend = dict(legend)
    legend["format"] = alt.Format(legend["format"])
    if "orient" in legend:
        legend["orient"] = alt.LegendOrient(legend["orient"])
    return alt.ColorValue(MASKED_FILL, condition=alt.ConditionalPredicateMarkPropFieldOrDatumDef(
        test=alt.Predicate("datum.allowed"), field=alt.FieldName("weight"), legend=alt.Legend(**legend),
        scale=colour_scale(scheme, lo, hi),
        title=alt.schema.core.Text(value_label), type=alt.StandardType("quantitative")))


def _luminance(colour: str) -> float:
    """WCAG relative luminance of "#rrggbb"."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_on(fill: str) -> str:
    """TEXT_DARK or TEXT_LIGHT, whichever has the higher contrast on ``fill`` ("#rrggbb")."""
    lum = _luminance(fill)
    return TEXT_LIGHT if (1.05 / (lum + 0.05)) > (lum + 0.05) / (_luminance(TEXT_DARK) + 0.05) else TEXT_DARK


def category_letters(categories: Sequence[str]) -> list[str]:
    """A short code per category, drawn in each cell and in the legend so that no category is told
    by colour alone: the initial ("vertical" -> "V"), initials joined for a compound
    ("vertical+diagonal" -> "V+D"), two letters where initials clash ("block", "broad" -> "Bl", "Br")."""
    def code(name: str, n: int) -> str:
        return "+".join(part[:n].capitalize() for part in str(name).split("+") if part) or "?"

    codes = [code(c, 1) for c in categories]
    return [code(c, 2) if codes.count(k) > 1 else k for c, k in zip(categories, codes)]


def calculate(**exprs: str) -> list[alt.CalculateTransform]:
    """What ``.transform_calculate(**exprs)`` appends, for passing to the chart's constructor."""
    return [alt.CalculateTransform(**{"as": name, "calculate": expr}) for name, expr in exprs.items()]


def title_params(title: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    """The title every chart uses: 16 px, left-aligned, with an optional grey subtitle."""
    if subtitle:
        sub = [subtitle] if isinstance(subtitle, str) else list(subtitle)
        # Streamlit's theme colours the title but leaves the subtitle Vega's black, unreadable on
        # the dark theme (seen in Chromium): a mid grey reads on both backgrounds.
        # Its colour comes from the theme (:func:`themed`): no grey reads at 4.5:1 on white and on
        # Streamlit's dark background alike.
        return alt.TitleParams(text=title, subtitle=sub, fontSize=16, subtitleFontSize=13, anchor="start")
    return alt.TitleParams(text=title, fontSize=16, anchor="start")


THEME_TEXT = {"light": ("#111111", "#454545"), "dark": ("#fafafa", "#c8c8d0")}
"""(text, muted text) per Streamlit theme: the config's text colour, and a grey for subtitles
that still reads at 7:1 on its background."""


def themed(spec: dict[str, Any], theme: str | None) -> dict[str, Any]:
    """A finished spec whose free text takes the theme's colours: axis, legend, header and title
    labels, subtitles, and text marks that set no colour of their own (Vega draws those black or
    mid grey whatever the background: black on Streamlit's dark theme, 3.7:1 grey on white).
    Cell numbers keep their own black or white. New top-level and "config" dicts; everything else
    is shared with `spec`, which is not changed. An unknown theme is taken as light."""
    ink, muted = THEME_TEXT.get(theme or "light", THEME_TEXT["light"])
    config = dict(spec.get("config") or {})
    wants = {"axis": {"labelColor": ink, "titleColor": ink},
             "legend": {"labelColor": ink, "titleColor": ink},
             "header": {"labelColor": ink, "titleColor": ink},
             "title": {"color": ink, "subtitleColor": muted},
             "text": {"color": ink}}
    for group, colours in wants.items():
        config[group] = {**dict(config.get(group) or {}), **colours}
    return {**spec, "config": config}


CELL_NUMBER_FIELDS = frozenset({"cell_text", "value_short", "value_text"})
"""The text fields of the cell-number layers of heatmaps and grids (core.render, core.compare)."""


def without_small_cell_numbers(spec: dict[str, Any], min_cell_px: float) -> dict[str, Any]:
    """A finished spec without the cell-number layers whose cells are narrower than `min_cell_px`
    (the cell: the layer group's width over its x domain's length). For presenter mode, where an
    18 px number needs a 48 px cell: a smaller one runs into its neighbours ("0.070.310.21"); the
    colours and tooltips still carry the values. `spec` is not changed."""
    def x_count(layer: dict[str, Any]) -> int | None:
        x = (layer.get("encoding") or {}).get("x") or {}
        for found in (x.get("sort"), (x.get("scale") or {}).get("domain")):
            if isinstance(found, list) and found:
                return len(found)
        return None

    def is_numbers(layer: Any) -> bool:
        if not isinstance(layer, dict):
            return False
        mark = layer.get("mark")
        kind = mark.get("type") if isinstance(mark, dict) else mark
        text = (layer.get("encoding") or {}).get("text") or {}
        return kind == "text" and isinstance(text, dict) and text.get("field") in CELL_NUMBER_FIELDS

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items() if k != "datasets"}
        if "datasets" in node:
            out["datasets"] = node["datasets"]
        layers, width = out.get("layer"), out.get("width")
        if isinstance(layers, list) and isinstance(width, (int, float)):
            keep = []
            for layer in layers:
                count = x_count(layer) if is_numbers(layer) else None
                if count and width / count < min_cell_px:
                    continue
                keep.append(layer)
            out["layer"] = keep
        return out

    return walk(spec)


def steep_axis_labels(spec: dict[str, Any], angle: int = -90) -> dict[str, Any]:
    """A finished spec whose slanted axis labels (-55 degrees: the token axes) stand upright, and
    whose axes drop labels that would overlap, for presenter mode: at 18 px, labels of neighbouring
    narrow cells (rows or columns under 18 px) touch. `spec` is not changed."""
    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: (v if k == "datasets" else walk(v)) for k, v in node.items()}
        if out.get("labelAngle") == -55:
            out["labelAngle"] = angle
        if out.get("labelOverlap") is False:
            out["labelOverlap"] = True
        return out

    return walk(spec)


def label_font(cell: int) -> int:
    """Axis label size for cells (or bars) of this many pixels."""
    return 13 if cell >= 20 else 11 if cell >= 11 else 10


# --------------------------------------------------------------------------- data and serialising


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

    Every builder is validated by the test suite (it calls ``to_dict()`` with validation), so
    the app skips re-validating on each rerun. (Building already skips Altair's
    validate-on-creation pass: see :func:`no_init_validation`.)
    """
    object.__setattr__(chart, "to_dict", functools.partial(chart.to_dict, validate=False))
    return chart


# --- a chart's spec, made once ------------------------------------------------------------------

SPEC_SLOT = "_dashboard_vl_specs"
"""Attribute of a chart object holding its specs ({variant: spec}). A dict, so the shallow copies
of a memoised chart (`shared_copy`) share it: the memo's chart is converted once."""


def with_spec_slot(chart: Any) -> Any:
    """`chart` itself, with an (empty) spec slot if it had none."""
    store = getattr(chart, "__dict__", None)
    if store is not None and SPEC_SLOT not in store:
        object.__setattr__(chart, SPEC_SLOT, {})
    return chart


def shared_copy(chart: Any) -> Any:
    """A shallow copy of a memoised chart (a caller may derive from it) that shares the memo's
    spec slot, so the chart is converted to Vega-Lite once however many copies are drawn."""
    import copy

    return copy.copy(with_spec_slot(chart))


def spec_memo(chart: Any, variant: Any, make: Any) -> dict[str, Any] | None:
    """The spec `make(chart)` makes of `chart` for `variant` (e.g. normal or presenter), made on the
    first call and kept in the chart's spec slot, so it lives exactly as long as the chart. None
    for an object without a __dict__ (not an Altair chart). Charts are never changed in place
    after they are built (builders and Altair's methods return new objects), so a kept spec
    cannot go stale."""
    slot = getattr(with_spec_slot(chart), "__dict__", {}).get(SPEC_SLOT)
    if slot is None:
        return None
    spec = slot.get(variant)
    if spec is None:
        spec = slot[variant] = make(chart)
    return spec


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels made unique and kept in order ("the", "the (2)"): a nominal axis merges repeats."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def filled_params(template: dict[str, Any], values: dict[str, Any]) -> list[Any]:
    """A template's top-level params with the named ones set to `values`; the others as they are."""
    return [{**p, "value": values[p["name"]]} if p.get("name") in values else p
            for p in template.get("params", [])]


def placeholder_labels(n: int) -> tuple[str, ...]:
    """Stand-ins for n axis labels in a spec built once per layout (a heatmap template): the
    same template serves every text of n tokens, and :func:`with_labels` puts each one's own in."""
    return tuple(f"\u2063axis-label-{i}" for i in range(n))


def with_labels(spec: Any, labels: Sequence[str]) -> Any:
    """`spec` with every list of :func:`placeholder_labels` (axis sorts, scale domains) replaced by
    `labels`; the parts that hold none are shared, not copied, and `spec` is not changed."""
    stand_ins = list(placeholder_labels(len(labels)))
    real = list(labels)

    def swap(node: Any) -> Any:
        if isinstance(node, list):
            if node == stand_ins:
                return list(real)
            items = [swap(item) for item in node]
            return node if all(a is b for a, b in zip(items, node)) else items
        if isinstance(node, dict):
            items = {k: swap(v) for k, v in node.items()}
            return node if all(items[k] is v for k, v in node.items()) else items
        return node

    return swap(spec)
