"""Downloads: PNG / SVG of a chart (vl-convert, offline), CSV and NPZ of attention. No Streamlit.

Offline guarantee for images: the spec must carry inline data only (Altair puts pandas data in
``datasets``); a spec that names a data URL is refused before rendering, and vl-convert is
called with ``allowed_base_urls=[]`` so it cannot fetch anything either way. Inline ``data:``
URLs are allowed: a raster heatmap's cells are a PNG in its image mark (core.render.raster),
which vl-convert draws offline, pixel for pixel (smoothing off), in PNG and in SVG (embedded). vl-convert renders
text with the fonts installed on the machine; it downloads none.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import altair as alt
import numpy as np

from core.analysis.lenses import as_4d
from core.errors import ExportTooLargeError, ExternalDataError
from core.render.matrix import DrawMatrix, long_table
from core.render.vega import chart_spec

CSV_MAX_ROWS = 2_000_000
"""Most rows attention_to_csv writes (n=512: one head is 262,144 rows; a 12-head layer 3.1 M)."""

_EXPORT_BACKGROUND = "white"  # exported images go into slides and documents: opaque, light


# --------------------------------------------------------------------------- images


def _find_urls(obj: Any, path: str = "$") -> list[str]:
    """Paths of every ``url`` in a Vega-Lite spec (data, lookups, image marks) that is not an
    inline ``data:`` URL."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "url" and isinstance(v, str):
                if not v.startswith("data:"):  # an inline image (a raster heatmap) fetches nothing
                    found.append(path)
            else:
                found.extend(_find_urls(v, f"{path}.{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found.extend(_find_urls(v, f"{path}[{i}]"))
    return found


def export_spec(chart: alt.TopLevelMixin | dict[str, Any]) -> dict[str, Any]:
    """Inline-data Vega-Lite dict for rendering; refuses URLs; opaque white background."""
    spec = dict(chart) if isinstance(chart, dict) else chart_spec(chart)
    urls = _find_urls({k: v for k, v in spec.items() if k not in ("usermeta", "$schema")})
    if urls:
        raise ExternalDataError(urls[0])
    spec.setdefault("background", _EXPORT_BACKGROUND)
    return spec


def chart_to_png(chart: alt.TopLevelMixin | dict[str, Any], scale: float = 2) -> bytes:
    """PNG bytes (starts with the PNG signature). scale=2 for crisp slides. n=128 heatmap ~2 s."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(export_spec(chart), scale=float(scale), allowed_base_urls=[])


def chart_to_svg(chart: alt.TopLevelMixin | dict[str, Any]) -> str:
    """SVG text. Token labels are XML-escaped by the renderer."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(export_spec(chart), allowed_base_urls=[])


# --------------------------------------------------------------------------- CSV


def csv_row_count(shape: Sequence[int], layer: int | None = None, head: int | None = None) -> int:
    """Rows attention_to_csv would write for an attention of this shape ``[L, H, n, n]``."""
    L, H, n = int(shape[0]), int(shape[1]), int(shape[-1])
    return (1 if layer is not None else L) * (1 if head is not None else H) * n * n


def attention_to_csv(result_or_array: Any, tokens: Sequence[str] | None = None, layer: int | None = None,
                     head: int | None = None, *, max_rows: int = CSV_MAX_ROWS,
                     decimals: int = 6) -> bytes:
    """Long-form UTF-8 CSV: layer, head, query_pos, query, key_pos, key, weight.

    result_or_array: an AttentionResult (tokens default to its display_tokens) or an array
    ``[L, H, n, n]`` / ``[H, n, n]`` / ``[n, n]``. layer / head select a slice (layer and head
    numbers in the file stay the real ones). Bounded: raises ExportTooLargeError above
    ``max_rows`` (the full n=512 tensor of a 6x12 model is 18.9 M rows: pick a layer or head, or
    use NPZ). Query-major order; masked causal cells are written as weight 0.
    Tokens are written verbatim (CSV-quoted); a spreadsheet may read a token that starts with
    "=" as a formula.
    """
    a = as_4d(getattr(result_or_array, "attention", result_or_array))
    if tokens is None:
        tokens = getattr(result_or_array, "display_tokens", None)
        if tokens is None:
            raise ValueError("tokens are required when passing a bare array")
    L, H, n = a.shape[0], a.shape[1], a.shape[-1]
    if len(tokens) != n:
        raise ValueError(f"{len(tokens)} tokens for {n} x {n} attention")
    layers = np.arange(L) if layer is None else np.array([int(layer)])
    heads = np.arange(H) if head is None else np.array([int(head)])
    for name, idx, size in (("layer", layer, L), ("head", head, H)):
        if idx is not None and not 0 <= int(idx) < size:
            raise ValueError(f"{name} {idx} out of range 0..{size - 1}")
    rows = len(layers) * len(heads) * n * n
    if rows > max_rows:
        raise ExportTooLargeError(rows, max_rows)
    block = a[np.ix_(layers, heads)] if (layer is not None or head is not None) else a
    tok = [str(t) for t in tokens]
    df = long_table(np.asarray(block, dtype=np.float32), tok, labels=tok, leading={"layer": layers, "head": heads})
    df = df[["layer", "head", "query_pos", "query", "key_pos", "key", "weight"]]
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format=f"%.{int(decimals)}g", lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def matrix_to_csv(dm: DrawMatrix) -> bytes:
    """CSV of exactly what a heatmap draws (``dm.table()``): query_pos, key_pos (sentence
    positions), query, key (axis labels), weight, allowed."""
    return dm.table().to_csv(index=False).encode()


# --------------------------------------------------------------------------- NPZ


def attention_to_npz(result: Any, *, compress: bool = True) -> bytes:
    """NPZ bytes loadable with ``np.load(io.BytesIO(b))`` (no pickle needed).

    Keys: attention float32 [L, H, n, n]; tokens, display_tokens (str [n]); token_ids int64 [n];
    special_mask bool [n]; segment_ids int8 [n]; word_ids int64 [n] (-1 = special / None);
    model_id, text, text_pair (str scalars; text_pair "" when absent); causal bool;
    truncated_tokens int.
    """
    n = len(result.tokens)
    word_ids = np.array([-1 if w is None else int(w) for w in result.word_ids], dtype=np.int64)
    arrays = {
        "attention": np.asarray(result.attention, dtype=np.float32),
        "tokens": np.array([str(t) for t in result.tokens], dtype=np.str_),
        "display_tokens": np.array([str(t) for t in getattr(result, "display_tokens", result.tokens)],
                                   dtype=np.str_),
        "token_ids": np.asarray(getattr(result, "token_ids", np.full(n, -1)), dtype=np.int64),
        "special_mask": np.asarray(result.special_mask, dtype=bool),
        "segment_ids": np.asarray(result.segment_ids, dtype=np.int8),
        "word_ids": word_ids,
        "model_id": np.array(str(result.model_id), dtype=np.str_),
        "text": np.array(str(result.text), dtype=np.str_),
        "text_pair": np.array(str(getattr(result, "text_pair", None) or ""), dtype=np.str_),
        "causal": np.array(bool(getattr(result, "causal", False))),
        "truncated_tokens": np.array(int(getattr(result, "truncated_tokens", 0)), dtype=np.int64),
    }
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


__all__ = [
    "CSV_MAX_ROWS", "ExportTooLargeError", "ExternalDataError", "export_spec", "chart_to_png",
    "chart_to_svg", "csv_row_count", "attention_to_csv", "matrix_to_csv", "attention_to_npz",
]


# --------------------------------------------------------------------------- titles

TITLE_COLOR = "#111111"  # on the white export background
SUBTITLE_COLOR = "#444444"


def _title_lines(title: Any) -> list[str]:
    """The text of a Vega-Lite title (a string, a list of lines, or {"text": ...}) as lines."""
    if isinstance(title, dict):
        return _title_lines(title.get("text"))
    if isinstance(title, (list, tuple)):
        return [str(t) for t in title if str(t)]
    return [str(title)] if title else []


def titled(chart: alt.TopLevelMixin | dict[str, Any], lines: Sequence[str]) -> dict[str, Any]:
    """The chart's Vega-Lite spec with a title block for an exported image, so a slide or a report
    says what it shows: the chart's own title (or, without one, the first line) over `lines`
    (e.g. "model · layer 2, head 5 · lens: raw attention" and the text), then the chart's own
    subtitle. Lines the title already holds are not repeated; no lines: the spec as it was.
    Pass the result to chart_to_png / chart_to_svg."""
    spec = dict(chart) if isinstance(chart, dict) else chart_spec(chart)
    wanted = [str(line) for line in lines if str(line).strip()]
    if not wanted:
        return spec
    own = spec.get("title")
    title: dict[str, Any] = dict(own) if isinstance(own, dict) else {}
    text = _title_lines(own)
    if not text:
        text, wanted = wanted[:1], wanted[1:]
    subtitle = [line for line in wanted if line not in text] + _title_lines(title.get("subtitle"))
    title.update({"text": text[0] if len(text) == 1 else text, "anchor": title.get("anchor", "start"),
                  "color": TITLE_COLOR, "offset": max(int(title.get("offset", 0)), 10)})
    if subtitle:
        title.update({"subtitle": subtitle, "subtitleColor": SUBTITLE_COLOR,
                      "subtitleFontSize": title.get("subtitleFontSize", 12)})
    return {**spec, "title": title}


__all__ += ["titled"]
