"""BertViz head view and model view as self-contained, safe, size-bounded HTML.

The views are the `bertviz` package's own (``head_view`` / ``model_view`` with
``html_action="return"``, sentence-pair mode when the result has a second text). Their HTML
is then post-processed:

* Local JavaScript: the CDN ``<script src=...require.min.js>`` and the ``require.config``
  paths to cdnjs are removed; require.js, d3 5.7.0 and jQuery from our own npm build
  (``frontend/build/vendor.js``, pinned by ``frontend/package-lock.json``) are inlined, with the
  ``d3`` and ``jquery`` AMD modules defined up front. Nothing is fetched from any host, so the
  page works inside an ``iframe srcdoc`` with no server route and no internet.
* Safe: every JSON embedded in a script block is escaped (``<``, ``>``, ``&``, U+2028, U+2029
  become ``\\u003c``-style escapes), so no token, label or name can end the script or start
  markup. The sentence names that BertViz writes into ``<option>`` elements are HTML-escaped.
* Themed: ``BertvizOptions.display_mode`` "dark" uses BertViz's own dark mode (model view) and
  dark page colours with light text (both views; the head view has no dark mode of its own).
* Bounded: weights are rounded to 3 decimals and embedded once, as integers in thousandths
  (``123`` means 0.123; a tiny decoder divides by 1000 before BertViz's code runs). BertViz
  itself embeds the payload twice (its template marker also sits in a JS comment) and prints
  float32 with 17 digits; in sentence-pair mode it repeats the matrix five times (All, A->A,
  B->B, A->B, B->A): we embed the full matrix once and the decoder slices the other four.
* Past a budget (bytes of HTML, SVG lines drawn at once) the view is built for a subset of
  layers, heads or a token window, and ``EmbeddedView.notes`` says what was left out and why.

Tokens shown are ``AttentionResult.display_tokens`` (the same readable labels as every other
page) unless custom ``labels`` are given. The page around the view (libraries, escaping, colours)
is core.render.bertviz_page; the encoder-decoder view (MarianMT, T5) is core.render.bertviz_seq2seq.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import functools
import hashlib
import html as html_lib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from core.render.bertviz_page import (  # noqa: F401 - FRONTEND_BUILD: the folder the component serves
    DECODER_JS,
    FRONTEND_BUILD,
    link_vendor,
    page_document,
    script_json,
    vendor_js,
)

SCALE = 1000  # weights are embedded as integers in thousandths: rounded to 3 decimals
DEFAULT_BUDGET_BYTES = 2_000_000  # HTML bytes sent to the browser for one view
# SVG <line> elements drawn at once. Chromium spends about 13 us a line on a 2-core machine, and
# keeps re-rastering them while the page around changes (a head change on the BertViz page took
# 2.6 s at 294,912 lines, 0.24 s at 2,000); 20,000 keeps the whole model view of a 16-token
# sentence (6 x 12 heads x 16 x 16 = 18,432) and paints in under a second (scripts/bench_browser.py).
DEFAULT_MAX_LINES = 20_000
# Past the budget the model view (for comparing heads) first narrows to a window of the first
# tokens, down to this many, before it drops layers or heads.
MODEL_VIEW_MIN_WINDOW = 16

ViewKind = Literal["head", "model"]

_CDN_SCRIPT_RE = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE)
_REQUIRE_CONFIG_RE = re.compile(r"require\.config\(\{\s*paths:\s*\{.*?\}\s*\}\);", re.DOTALL)
_PARAMS_PREFIX = "const params = "
_COMMENT_PREFIX = "; // HACK: "
_COMMENT_SUFFIX = " is a template marker that is replaced by actual params."
_FILTER_SELECT_RE = re.compile(r'<select id="filter">.*?</select>', re.DOTALL)

# --------------------------------------------------------------------------------------------
# options, sizes, budget


@dataclass(frozen=True)
class BertvizOptions:
    """What to embed. None means everything; the budget may still narrow it (see notes)."""

    layers: tuple[int, ...] | None = None
    heads: tuple[int, ...] | None = None
    window: tuple[int, int] | None = None  # token positions [start, stop)
    budget_bytes: int = DEFAULT_BUDGET_BYTES
    max_lines: int = DEFAULT_MAX_LINES
    auto_fit: bool = True  # False: build exactly what was asked, only note the excess
    labels: tuple[str, ...] | None = None  # custom token labels (default: display_tokens)
    sentence_names: tuple[str, str] = ("Sentence A", "Sentence B")
    display_mode: Literal["light", "dark"] = "light"  # the app's theme: BertViz's dark mode, page colours


@dataclass(frozen=True)
class EmbeddedView:
    kind: ViewKind
    html: str  # a complete HTML document (use as iframe srcdoc)
    nbytes: int  # UTF-8 bytes of html
    layers: tuple[int, ...]  # model layer indices embedded (in view order)
    heads: tuple[int, ...]  # model head indices embedded
    token_range: tuple[int, int]  # [start, stop) of the tokens shown
    tokens: tuple[str, ...]  # labels shown
    sentence_b_start: int | None  # within the window; None: single-sentence mode
    lines: int  # SVG attention lines the browser draws at once
    height: int  # pixels the page needs (estimate from BertViz's layout constants)
    notes: tuple[str, ...] = field(default_factory=tuple)  # what was subset and why

    @functools.cached_property
    def view_id(self) -> str:
        return hashlib.sha1(self.html.encode("utf-8")).hexdigest()[:16]

    @functools.cached_property
    def linked_html(self) -> str:
        """`html` with the inlined vendor bundle replaced by ``<script src="vendor.js">``.

        For a page whose base URL serves ``frontend/build/`` (the click-reporting component: its
        srcdoc frame resolves relative URLs against the component's own folder, served by the
        Streamlit server). The browser then keeps the 0.4 MB of library code cached and compiled
        instead of receiving and parsing it again with every view; the rest is byte for byte `html`.
        """
        return link_vendor(self.html)

    @property
    def subset(self) -> bool:
        return bool(self.notes)


@dataclass(frozen=True)
class Subset:
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    window: tuple[int, int]
    notes: tuple[str, ...]


def _row_bytes_bound(n: int) -> int:
    """Upper bound on the JSON bytes of one row of n thousandths that sum to about 1000.

    Every value takes 1 digit + 1 comma; at most 99 values can be >= 10 and at most 9 >= 100
    (one more digit each) since the row sums to 1000; plus the brackets.
    """
    return 2 * n + min(n, 99) + min(n, 9) + 1 + 2


def _payload_bytes(n_left: int, n_right: int, layers: int, heads: int, tokens_chars: int) -> int:
    rows = layers * heads * n_left
    return rows * _row_bytes_bound(n_right) + layers * heads * 2 + layers * 2 + 8 * tokens_chars + 4_000


def _page_overhead_bytes(kind: ViewKind) -> int:
    try:
        vendor = len(vendor_js().encode("utf-8"))
    except RuntimeError:  # pragma: no cover
        vendor = 350_000
    template = 16_000 if kind == "model" else 12_000
    return vendor + template + len(DECODER_JS) + 1_000


def estimate_model_view_bytes(n: int, layers: int, heads: int, token_chars: int | None = None) -> int:
    """Upper-bound estimate of our model-view HTML size (vendor JS included)."""
    chars = 8 * n if token_chars is None else token_chars
    return _page_overhead_bytes("model") + _payload_bytes(n, n, layers, heads, chars)


def estimate_head_view_bytes(n: int, layers: int, heads: int, token_chars: int | None = None) -> int:
    """Upper-bound estimate of our head-view HTML size (vendor JS included)."""
    chars = 8 * n if token_chars is None else token_chars
    return _page_overhead_bytes("head") + _payload_bytes(n, n, layers, heads, chars)


def estimate_lines(kind: ViewKind, n: int, layers: int, heads: int) -> int:
    """SVG lines drawn at once: every thumbnail (model view), one layer's heads (head view)."""
    return (layers if kind == "model" else 1) * heads * n * n


def _estimate(kind: ViewKind, n: int, layers: int, heads: int) -> tuple[int, int]:
    est = estimate_model_view_bytes if kind == "model" else estimate_head_view_bytes
    return est(n, layers, heads), estimate_lines(kind, n, layers, heads)


def _spread(items: Sequence[int], k: int) -> tuple[int, ...]:
    """k items spread evenly over items, first and last included."""
    items = list(items)
    if k >= len(items):
        return tuple(items)
    if k <= 1:
        return (items[0],)
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return tuple(items[i] for i in idx)


def _fmt_mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def fit_subset(kind: ViewKind, n_tokens: int, num_layers: int, num_heads: int,
               options: BertvizOptions | None = None) -> Subset:
    """Choose layers, heads and token window within the budget; notes say what was cut.

    Order of cuts: for the model view, first a window of the first tokens down to
    MODEL_VIEW_MIN_WINDOW (its point is every layer x head side by side); then layers (spread
    evenly, first and last kept), then heads (spread evenly), then a (narrower) window of the first
    tokens. The head view draws one layer at a time, so layers only count against its byte
    budget, and heads and tokens against its line budget.
    """
    o = options or BertvizOptions()
    layers = _validate_indices(o.layers, num_layers, "layer")
    heads = _validate_indices(o.heads, num_heads, "head")
    window = _validate_window(o.window, n_tokens)
    notes: list[str] = []
    if o.layers is not None and len(layers) < num_layers:
        notes.append(f"Showing the layers you chose: {_list(layers)} of {num_layers}.")
    if o.heads is not None and len(heads) < num_heads:
        notes.append(f"Showing the heads you chose: {_list(heads)} of {num_heads}.")
    if o.window is not None and (window[1] - window[0]) < n_tokens:
        notes.append(f"Showing tokens {window[0]}-{window[1] - 1} of {n_tokens} (your token window); "
                     "attention to tokens outside the window is not drawn, so rows need not sum to 1.")

    def over(ls: Sequence[int], hs: Sequence[int], w: tuple[int, int]) -> tuple[bool, int, int]:
        nbytes, lines = _estimate(kind, w[1] - w[0], len(ls), len(hs))
        return nbytes > o.budget_bytes or lines > o.max_lines, nbytes, lines

    too_big, nbytes, lines = over(layers, heads, window)
    if not too_big:
        return Subset(layers, heads, window, tuple(notes))
    why = (f"The full view ({len(layers)} layers x {len(heads)} heads at {window[1] - window[0]} tokens) "
           f"would be about {_fmt_mb(nbytes)} of HTML and {lines:,} SVG lines "
           f"(budget {_fmt_mb(o.budget_bytes)}, {o.max_lines:,} lines) and could freeze the browser.")
    if not o.auto_fit:
        notes.append(why + " Built anyway because automatic subsetting is off.")
        return Subset(layers, heads, window, tuple(notes))

    def first_tokens(w: tuple[int, int], floor: int) -> tuple[int, int]:
        """The widest window of w's first tokens (at least `floor`) that fits, else `floor` of them."""
        m = w[1] - w[0]
        while m > floor and over(layers, heads, (w[0], w[0] + m))[0]:
            m -= 1
        return (w[0], w[0] + m)

    orig_layers, orig_heads, orig_window = layers, heads, window
    # 0. the model view: a window of the first tokens, while every layer and head fits
    if kind == "model" and window[1] - window[0] > MODEL_VIEW_MIN_WINDOW:
        window = first_tokens(window, MODEL_VIEW_MIN_WINDOW)
    # 1. fewer layers
    k = len(layers)
    while k > 1 and over(_spread(orig_layers, k), heads, window)[0]:
        k -= 1
    layers = _spread(orig_layers, k)
    # 2. fewer heads
    if over(layers, heads, window)[0]:
        k = len(heads)
        while k > 1 and over(layers, _spread(orig_heads, k), window)[0]:
            k -= 1
        heads = _spread(orig_heads, k)
    # 3. a window of the first tokens
    if over(layers, heads, window)[0]:
        window = first_tokens(window, 2)

    cut = []
    if layers != orig_layers:
        cut.append(f"layers {_list(layers)} of {len(orig_layers)}")
    if heads != orig_heads:
        cut.append(f"heads {_list(heads)} of {len(orig_heads)}")
    if window != orig_window:
        cut.append(f"tokens {window[0]}-{window[1] - 1} of {orig_window[1] - orig_window[0]}")
    notes.append(why + " Showing " + ", ".join(cut) + ". Choose other layers, heads or a token window "
                 "to see the rest.")
    return Subset(layers, heads, window, tuple(notes))


def _list(items: Sequence[int]) -> str:
    items = list(items)
    if len(items) > 2 and items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(str(i) for i in items)


def _validate_indices(wanted: Sequence[int] | None, size: int, what: str) -> tuple[int, ...]:
    if wanted is None:
        return tuple(range(size))
    out: list[int] = []
    for i in wanted:
        i = int(i)
        if not 0 <= i < size:
            raise ValueError(f"{what} {i} is out of range (0-{size - 1})")
        if i not in out:
            out.append(i)
    if not out:
        raise ValueError(f"choose at least one {what}")
    return tuple(sorted(out))


def _validate_window(window: tuple[int, int] | None, n: int) -> tuple[int, int]:
    if window is None:
        return (0, n)
    start, stop = int(window[0]), int(window[1])
    start = max(0, min(start, n - 1))
    stop = max(start + 1, min(stop, n))
    return (start, stop)


# --------------------------------------------------------------------------------------------
# building


def _bertviz_raw(kind: ViewKind, attention: np.ndarray, tokens: list[str], sentence_b_start: int | None,
                 include_layers: list[int] | None = None, include_heads: list[int] | None = None,
                 display_mode: str = "light", dtype: Any = None) -> str:
    """Stock BertViz HTML for attention [L, H, n, n] (tensors of shape [1, H, n, n] per layer)."""
    import torch
    from bertviz import head_view, model_view

    arr = np.asarray(attention)
    tensors = tuple(torch.from_numpy(np.array(arr[i][None], copy=True)) for i in range(arr.shape[0]))
    if kind == "model":
        out = model_view(tensors, list(tokens), sentence_b_start=sentence_b_start, prettify_tokens=False,
                         display_mode=display_mode, include_layers=include_layers,
                         include_heads=include_heads, html_action="return")
    else:
        out = head_view(tensors, list(tokens), sentence_b_start=sentence_b_start, prettify_tokens=False,
                        include_layers=include_layers, html_action="return")
    return out.data


def stock_html(kind: ViewKind, attention: np.ndarray, tokens: Sequence[str],
               sentence_b_start: int | None = None) -> str:
    """What stock bertviz returns for these weights (float32, CDN scripts, payload twice)."""
    return _bertviz_raw(kind, np.asarray(attention, dtype=np.float32), list(tokens), sentence_b_start,
                        display_mode="dark")


def localize_stock_html(raw: str) -> str:
    """Stock BertViz HTML with our local libraries substituted for the CDN, nothing else changed.

    For the benchmark only: no rounding, no de-duplication, no escaping (unsafe for real use).
    """
    body = _CDN_SCRIPT_RE.sub("", raw)
    body = _REQUIRE_CONFIG_RE.sub("/* libraries: local vendor bundle */", body, count=1)
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>\n<script>\n" + vendor_js()
            + "\n</script>\n" + body + "\n</body></html>")


def _split_params(js: str) -> tuple[str, dict[str, Any], str]:
    """(code before, params, code after) around BertViz's `const params = <json>; // HACK: <json> ...`."""
    start = js.index(_PARAMS_PREFIX) + len(_PARAMS_PREFIX)
    decoder = json.JSONDecoder()
    params, end = decoder.raw_decode(js, start)
    rest = js[end:]
    if rest.startswith(_COMMENT_PREFIX):  # the second copy, inside the comment
        _, end2 = decoder.raw_decode(js, end + len(_COMMENT_PREFIX))
        if js.startswith(_COMMENT_SUFFIX, end2):
            end2 += len(_COMMENT_SUFFIX)
        after = "; // params: decoded from the single embedded payload above" + js[end2:]
    else:  # pragma: no cover - a different bertviz template
        after = rest
    return js[:start - len(_PARAMS_PREFIX)], params, after


def _milli(a: np.ndarray) -> list:
    return np.rint(np.asarray(a, dtype=np.float64) * SCALE).astype(np.int32).tolist()


def _height(kind: ViewKind, n: int, layers: int, total_heads: int, pair: bool) -> int:
    if kind == "head":
        return int(math.ceil(n * 22.5 + 30 + 40 + 20))
    box = 7 * (12 / max(1, total_heads))
    thumb = n * box + 10
    axis = 15 + 5 + 13 + 5
    div = max(layers * thumb + axis, n * 18 + 30 + 25)
    return int(math.ceil(div + (34 if pair else 10) + 16))


def build_view(kind: ViewKind, attention: np.ndarray, tokens: Sequence[str],
               sentence_b_start: int | None = None, options: BertvizOptions | None = None) -> EmbeddedView:
    """The core builder: attention [L, H, n, n] (weights in [0, 1]) and n labels -> EmbeddedView."""
    if kind not in ("head", "model"):
        raise ValueError(f"kind must be 'head' or 'model', not {kind!r}")
    o = options or BertvizOptions()
    att = np.asarray(attention)
    if att.ndim != 4 or att.shape[2] != att.shape[3]:
        raise ValueError(f"attention must be [layers, heads, n, n], got {att.shape}")
    n_layers, n_heads, n = int(att.shape[0]), int(att.shape[1]), int(att.shape[2])
    labels = [str(t) for t in (o.labels if o.labels is not None else tokens)]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} tokens")

    sub = fit_subset(kind, n, n_layers, n_heads, o)
    s0, s1 = sub.window
    w = s1 - s0
    labels = labels[s0:s1]
    b = None
    if sentence_b_start is not None and s0 < sentence_b_start < s1:
        b = int(sentence_b_start) - s0
    notes = list(sub.notes)
    if sentence_b_start is not None and b is None:
        notes.append("The token window holds only one of the two sentences: the sentence-pair filter is off.")

    # Rounded once, in float64, so bertviz itself prints short numbers; heads are sliced here for
    # the head view (it has no include_heads), and by bertviz (include_heads) for the model view.
    sel = att[:, :, s0:s1, s0:s1]
    rounded = np.round(sel.astype(np.float64), 3)
    if kind == "head":
        data = rounded[list(sub.layers)][:, list(sub.heads)]
        raw = _bertviz_raw("head", data, labels, b)
        inc_layers: list[int] = list(sub.layers)
    else:
        data = rounded[list(sub.layers)]
        raw = _bertviz_raw("model", data, labels, b, include_layers=None, include_heads=list(sub.heads),
                           display_mode=o.display_mode)
        inc_layers = list(sub.layers)

    html_doc = _postprocess(kind, raw, data if kind == "head" else data[:, list(sub.heads)], labels, b,
                            inc_layers, list(sub.heads), o)
    lines = estimate_lines(kind, w, len(sub.layers), len(sub.heads))
    return EmbeddedView(
        kind=kind, html=html_doc, nbytes=len(html_doc.encode("utf-8")), layers=tuple(sub.layers),
        heads=tuple(sub.heads), token_range=(s0, s1), tokens=tuple(labels), sentence_b_start=b,
        lines=lines, height=_height(kind, w, len(sub.layers), n_heads, b is not None), notes=tuple(notes),
    )


def _postprocess(kind: ViewKind, raw: str, data: np.ndarray, labels: list[str], b: int | None,
                 layers: list[int], heads: list[int], o: BertvizOptions) -> str:
    m = re.search(r'<script type="text/javascript">\n(.*)\n</script>\s*$', raw, re.DOTALL)
    if not m:  # pragma: no cover - a different bertviz template
        raise RuntimeError("unexpected bertviz HTML layout")
    vis_html = _CDN_SCRIPT_RE.sub("", raw[:m.start()])
    js = m.group(1)
    js, n_cfg = _REQUIRE_CONFIG_RE.subn("/* d3 and jquery: defined by the local vendor bundle (no CDN) */", js,
                                        count=1)
    if n_cfg != 1:  # pragma: no cover
        raise RuntimeError("unexpected bertviz script: no require.config block")
    before, params, after = _split_params(js)

    # Rebuild the params: the true layer/head indices, the weights once (thousandths), and for
    # sentence pairs slices of the full matrix instead of four more copies.
    name_a, name_b = (str(x) for x in o.sentence_names)
    entries = params["attention"]
    full = {"name": entries[0]["name"], "attn": _milli(data), "left_text": labels, "right_text": labels}
    out_entries: list[dict[str, Any]] = [full]
    filter_names: list[str] = []
    if b is not None:
        n = len(labels)
        a_, b_ = (0, b), (b, n)
        spec = [(f"{name_a} -> {name_a}", a_, a_), (f"{name_b} -> {name_b}", b_, b_),
                (f"{name_a} -> {name_b}", a_, b_), (f"{name_b} -> {name_a}", b_, a_)]
        full["name"] = "All"
        filter_names = ["All"]
        for name, (r0, r1), (c0, c1) in spec:
            out_entries.append({"name": name, "slice": [r0, r1, c0, c1], "left_text": labels[r0:r1],
                                "right_text": labels[c0:c1]})
            filter_names.append(name)
    params["attention"] = out_entries
    params["include_layers"] = layers
    if kind == "model":
        params["include_heads"] = heads
    else:
        params["layer"] = layers[0] if params.get("layer") is None else params["layer"]
    # Deterministic ids: the same input gives the same HTML (so reruns and caches keep the view;
    # bertviz uses a random uuid4 per call).
    old_id = str(params["root_div_id"])
    params["root_div_id"] = "bertviz-"
    digest = hashlib.sha1((kind + script_json(params)).encode("utf-8")).hexdigest()[:32]
    params["root_div_id"] = new_id = "bertviz-" + digest
    vis_html = vis_html.replace(f'id="{old_id}"', f'id="{new_id}"')
    payload = {"v": 1, "scale": SCALE, "params": params}
    js = before + _PARAMS_PREFIX + "window.__bertvizDecode(" + script_json(payload) + ")" + after

    if filter_names:
        options_html = "\n".join(f'<option value="{i}">{html_lib.escape(nm)}</option>'
                                 for i, nm in enumerate(filter_names))
        vis_html = _FILTER_SELECT_RE.sub(lambda _m: f'<select id="filter">{options_html}</select>', vis_html, count=1)
    # BertViz writes "Layer: <select>" with no <label>: name the boxes for screen readers (axe select-name).
    vis_html = vis_html.replace('<select id="layer">', '<select id="layer" aria-label="Layer">', 1)
    vis_html = vis_html.replace('<select id="filter">', '<select id="filter" aria-label="Attention">', 1)

    return page_document(kind, o.display_mode, vis_html, js)


def _result_inputs(result: Any) -> tuple[np.ndarray, tuple[str, ...], int | None]:
    seg = np.asarray(result.segment_ids)
    b = None
    if getattr(result, "text_pair", None) and seg.size and (seg == 1).any():
        b = int(np.argmax(seg == 1))
        if b == 0:
            b = None
    return result.attention, tuple(result.display_tokens), b


def _opts(options: BertvizOptions | None, layers: Sequence[int] | None, heads: Sequence[int] | None,
          window: tuple[int, int] | None) -> BertvizOptions:
    from dataclasses import replace

    o = options or BertvizOptions()
    changes: dict[str, Any] = {}
    if layers is not None:
        changes["layers"] = tuple(int(i) for i in layers)
    if heads is not None:
        changes["heads"] = tuple(int(i) for i in heads)
    if window is not None:
        changes["window"] = (int(window[0]), int(window[1]))
    return replace(o, **changes) if changes else o


def build_head_view(result: Any, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                    window: tuple[int, int] | None = None, *, options: BertvizOptions | None = None) -> EmbeddedView:
    """BertViz head view of an AttentionResult (sentence-pair filter when it has a second text)."""
    att, tokens, b = _result_inputs(result)
    return build_view("head", att, tokens, b, _opts(options, layers, heads, window))


def build_model_view(result: Any, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                     window: tuple[int, int] | None = None, *, options: BertvizOptions | None = None) -> EmbeddedView:
    """BertViz model view of an AttentionResult (sentence-pair filter when it has a second text)."""
    att, tokens, b = _result_inputs(result)
    return build_view("model", att, tokens, b, _opts(options, layers, heads, window))


def decode_payload(html_doc: str) -> dict[str, Any]:
    """The embedded payload of one of our views, parsed (for tests and debugging)."""
    key = _PARAMS_PREFIX + "window.__bertvizDecode("
    i = html_doc.index(key) + len(key)
    obj, _ = json.JSONDecoder().raw_decode(html_doc, i)
    return obj
