"""Charts for a projector: every font of a Vega-Lite spec raised to a readable minimum, and cell
sizes that fill a wide screen.

Pure functions of spec dictionaries (no Streamlit, no Altair objects changed in place). The
chart builders (core.render) choose font sizes for a laptop screen: 10 to 16 px. From the back
of a room a label needs 18 px or more at 1920 x 1080, so presenter mode (ui/presenter.py)
passes every chart it draws through `enlarge_fonts`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

MIN_PX = 18  # the smallest label a presenter shows: readable from the back of a room
TITLE_PX = 24
SCREEN_PLOT_PX = 900  # a single heatmap's plot side on a 1920 x 1080 screen (fits beside its labels)
SCREEN_GRID_PX = 1300  # what a grid's panels share across a 1920 px screen (with labels and legend: ~1750 px)
MAX_CELL_PX = 110
MIN_ANNOTATED_CELL_PX = 48  # an 18 px "0.12" needs about 40 px

FONT_KEYS = frozenset({"fontSize", "labelFontSize", "titleFontSize", "subtitleFontSize"})
LIMIT_KEYS = frozenset({"labelLimit", "titleLimit", "limit"})
_CONFIG = {  # defaults for text no builder sized explicitly (Vega's own are 10-13 px)
    "axis": {"labelFontSize": MIN_PX, "titleFontSize": MIN_PX + 2},
    "legend": {"labelFontSize": MIN_PX, "titleFontSize": MIN_PX},
    "header": {"labelFontSize": MIN_PX + 2, "titleFontSize": MIN_PX + 2},
    "title": {"fontSize": TITLE_PX, "subtitleFontSize": MIN_PX},
    "text": {"fontSize": MIN_PX},
}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def enlarge_fonts(spec: dict[str, Any], min_px: int = MIN_PX) -> dict[str, Any]:
    """A copy of a Vega-Lite spec in which every font size is at least `min_px` (chart titles at
    least TITLE_PX) and label length limits grow in proportion, so longer labels are not cut.
    Data ("datasets", "values") is left as it is."""
    out = copy.deepcopy({k: v for k, v in spec.items() if k != "datasets"})
    for node in _walk(out):
        grow = 1.0
        for key in FONT_KEYS & node.keys():
            value = node[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                new = max(float(value), float(min_px))
                grow = max(grow, new / value if value else 1.0)
                node[key] = new
        for key in LIMIT_KEYS & node.keys():
            if isinstance(node[key], (int, float)) and node[key] > 0 and grow > 1:
                node[key] = round(node[key] * grow)
    for node in list(_walk(out)):  # chart titles ({"title": {"text": ..., "fontSize": 16}}) a step larger
        title = node.get("title")
        if isinstance(title, dict) and isinstance(title.get("fontSize"), (int, float)):
            title["fontSize"] = max(float(title["fontSize"]), float(TITLE_PX))
    config = out.setdefault("config", {})
    for group, sizes in _CONFIG.items():
        target = config.setdefault(group, {})
        for key, size in sizes.items():
            target[key] = max(float(target.get(key, 0) or 0), float(size))
    if "datasets" in spec:
        out["datasets"] = spec["datasets"]  # shared, not copied: read-only here
    return out


def font_sizes(spec: dict[str, Any]) -> list[float]:
    """Every explicit font size in a spec (for tests: min(font_sizes(...)) >= MIN_PX)."""
    sizes = []
    for node in _walk({k: v for k, v in spec.items() if k != "datasets"}):
        for key in FONT_KEYS & node.keys():
            if isinstance(node[key], (int, float)) and not isinstance(node[key], bool):
                sizes.append(float(node[key]))
    return sizes


def cell_px(n: int, plot_px: int = SCREEN_PLOT_PX, annotate: bool = False) -> int:
    """Pixels per cell so that n cells fill `plot_px` (at most MAX_CELL_PX; with cell numbers at
    least MIN_ANNOTATED_CELL_PX, so an 18 px number fits)."""
    cell = max(3, min(MAX_CELL_PX, int(plot_px) // max(int(n), 1)))
    return max(cell, MIN_ANNOTATED_CELL_PX) if annotate else cell


def for_projector(spec: dict[str, Any], min_px: int = MIN_PX) -> dict[str, Any]:
    """`enlarge_fonts`, drawn as SVG (Streamlit's `usermeta.embedOptions.renderer`): text stays sharp
    at any projector scaling, and every label is an element a browser test can measure."""
    out = enlarge_fonts(spec, min_px)
    usermeta = dict(out.get("usermeta") or {})
    usermeta["embedOptions"] = {**dict(usermeta.get("embedOptions") or {}), "renderer": "svg"}
    out["usermeta"] = usermeta
    return out
