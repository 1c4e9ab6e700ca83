"""The page around a BertViz view: our local libraries (require.js, d3, jQuery from
``frontend/build/vendor.js``, inlined or linked), JSON that is safe inside a script block, the
decoder and fit scripts that run before and after BertViz's own, the page's light or dark colours,
and the document that holds them. Nothing is fetched from any host.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FRONTEND_BUILD = REPO_ROOT / "frontend" / "build"
VENDOR_JS_PATH = FRONTEND_BUILD / "vendor.js"
VENDOR_SRC = "vendor.js"  # frontend/build/vendor.js, relative to the component's folder

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")

# Runs before BertViz's code: turns the compact payload back into the params BertViz expects.
DECODER_JS = """
window.__bertvizDecode = function (p) {
  var s = p.scale, params = p.params, all = params.attention[0];
  all.attn = all.attn.map(function (l) { return l.map(function (h) { return h.map(function (r) {
    return r.map(function (v) { return v / s; }); }); }); });
  for (var k = 1; k < params.attention.length; k++) {
    var e = params.attention[k], c = e.slice;
    e.attn = all.attn.map(function (l) { return l.map(function (h) {
      return h.slice(c[0], c[1]).map(function (r) { return r.slice(c[2], c[3]); }); }); });
    delete e.slice;
  }
  // The head view opens on the layer the hosting page chose (the app's selected layer, set by the
  // click-reporting component before this page's scripts run), if it is one of the layers shown.
  var chosen = window.__bertvizLayer;
  if ('layer' in params && typeof chosen === 'number' && (params.include_layers || []).indexOf(chosen) >= 0) {
    params.layer = chosen;
  }
  return params;
};
"""

# Fits a wider-than-the-column model view (BertViz draws it 970 px wide) to the frame's width:
# gives each drawn <svg> a viewBox and lets CSS scale it down (never up). Layout only.
FIT_JS = """
(function () {
  function fit(svg) {
    var w = parseFloat(svg.getAttribute('width')), h = parseFloat(svg.getAttribute('height'));
    if (!(w > 0 && h > 0) || String(svg.getAttribute('width')).indexOf('%') >= 0) return;
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
    svg.style.width = w + 'px'; svg.style.maxWidth = '100%'; svg.style.height = 'auto';
  }
  var vis = document.querySelectorAll('#vis');
  for (var i = 0; i < vis.length; i++) {
    (function (el) {
      new MutationObserver(function () { el.querySelectorAll(':scope > svg').forEach(fit); })
        .observe(el, {childList: true});
    })(vis[i]);
  }
})();
"""

# (background, text) per display mode: Streamlit 1.67's light and dark theme backgrounds (the app's
# .streamlit/config.toml keeps them) and its text colours, so the view sits in the page without a
# white or black box around it.
PAGE_COLOURS = {"light": ("#ffffff", "#111111"), "dark": ("#171614", "#edebe8")}


def page_style(display_mode: str = "light") -> str:
    """The view's page CSS for "light" or "dark" (anything else: light).

    The model view has BertViz's own dark mode (``display_mode``), but draws its axis labels in
    black; the head view has no dark mode and leaves token text at SVG's default black. In dark
    mode both become the page's text colour (a CSS rule outranks an SVG ``fill`` attribute), and
    ``color-scheme`` gives the layer and filter menus dark native controls.
    """
    mode = "dark" if display_mode == "dark" else "light"
    bg, fg = PAGE_COLOURS[mode]
    css = (f"html{{color-scheme:{mode}}}html,body{{margin:0;padding:0;background:{bg};color:{fg}}}"
           "body{padding:4px 2px}select{font-size:14px}")
    if mode == "dark":
        css += f'svg text:not([fill]),svg text[fill="black"]{{fill:{fg}}}'
    return css


def script_json(obj: Any) -> str:
    """JSON that is safe to embed in a <script> block: nothing in it can end the script.

    `json.dumps` leaves `<`, `>` and `&` as they are, so a string `</script><script>...` would
    close the block. Those characters (and U+2028/U+2029, line terminators in older JS) only
    occur inside JSON strings, where `\\u003c`-style escapes decode to the same text.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


@functools.lru_cache(maxsize=1)
def vendor_js() -> str:
    """require.js + d3 + jQuery from the committed npm build (frontend/build/vendor.js)."""
    try:
        text = VENDOR_JS_PATH.read_text(encoding="utf-8")
    except FileNotFoundError as exc:  # pragma: no cover - the bundle is committed
        raise RuntimeError(f"{VENDOR_JS_PATH} is missing: run `npm ci && npm run build` in frontend/") from exc
    if re.search(r"</script", text, re.IGNORECASE):  # pragma: no cover - checked at build time
        raise RuntimeError("vendor.js contains '</script' and cannot be inlined")
    return text




def inline_vendor_block() -> str:
    return "<script>\n" + vendor_js() + "\n</script>\n"


def link_vendor(html_doc: str, src: str = VENDOR_SRC) -> str:
    """One of our views with its inlined vendor block swapped for ``<script src=src>``.

    Raises ValueError when the document does not hold exactly our inlined block (never a page
    that could silently lose its libraries).
    """
    block = inline_vendor_block()
    i = html_doc.find(block)
    if i < 0 or html_doc.find(block, i + 1) >= 0:
        raise ValueError("not one of our BertViz views: the inlined vendor block is missing or repeated")
    tag = f'<script src="{html_lib.escape(src, quote=True)}"></script>\n'
    return html_doc[:i] + tag + html_doc[i + len(block):]


def page_document(kind: str, display_mode: str, vis_html: str, script: str) -> str:
    """A complete HTML document for one view: our libraries inlined, the decoder, BertViz's markup
    (`vis_html`) and its script; the model view also gets the fit script."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>BertViz {kind} view</title><style>{page_style(display_mode)}</style></head><body>\n"
            + inline_vendor_block() +
            "<script>" + DECODER_JS + "</script>\n"
            + vis_html.strip() + "\n"
            + ("<script>" + FIT_JS + "</script>\n" if kind == "model" else "")
            + "<script type=\"text/javascript\">\n" + script + "\n</script>\n</body></html>\n")


# For the encoder-decoder view: every entry (Encoder, Decoder, Cross) has its own weights in
# thousandths, scaled back here; the layer choice as in DECODER_JS.
ENC_DEC_DECODER_JS = """
window.__bertvizDecodeEach = function (p) {
  var s = p.scale, params = p.params;
  params.attention.forEach(function (e) {
    e.attn = e.attn.map(function (l) { return l.map(function (h) { return h.map(function (r) {
      return r.map(function (v) { return v / s; }); }); }); });
  });
  var chosen = window.__bertvizLayer;
  if ('layer' in params && typeof chosen === 'number' && (params.include_layers || []).indexOf(chosen) >= 0) {
    params.layer = chosen;
  }
  return params;
};
"""
