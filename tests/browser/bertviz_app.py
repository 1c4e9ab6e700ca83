"""A tiny standalone app for the BertViz browser tests: `streamlit run tests/browser/bertviz_app.py`.

Query parameters:
  text     first sentence (default: a short sentence)
  pair     optional second sentence (sentence-pair mode)
  view     "model" (default) or "head"
  plain    "1": the plain st.iframe view instead of the component
  hostile  "1": replace every token label and the sentence names with hostile strings
  max_tokens  truncate the input (default 64)

Two pages (st.navigation): "Views" shows the view; "Selection" shows the selection only, so a
test can check that a click on one page becomes the selection on another. Both write
"Selected: layer L, head H" from st.session_state["selected_layer"/"selected_head"].
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.render.bertviz import BertvizOptions, build_head_view, build_model_view  # noqa: E402
from ui.bertviz_component import bertviz_view, selection_text  # noqa: E402

HOSTILE = (
    "</script><script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=2\">",
    "]]>",
    "a\u2028b\u2029c",
    "</SCRIPT ><svg onload=window.__pwned=3>",
    "<!--<script>",
    "&lt;/script&gt;",
    "\\u003c/script\\u003e",
)


@st.cache_resource
def _loaded(model_id: str):
    from core.models.loading import load_model

    return load_model(model_id)


@st.cache_resource(max_entries=8)
def _result(text: str, pair: str | None, max_tokens: int):
    from core.attention.extract import extract

    return extract(_loaded("all-MiniLM-L6-v2"), text, pair, max_tokens)


def _select(layer: int, head: int | None) -> None:
    st.session_state["selected_layer"] = layer
    if head is not None:
        st.session_state["selected_head"] = head


def _selection() -> None:
    st.markdown(selection_text(st.session_state.get("selected_layer"), st.session_state.get("selected_head")))


def views_page() -> None:
    qp = st.query_params
    text = qp.get("text", "The quick brown fox jumps over the lazy dog.")
    pair = qp.get("pair") or None
    kind = "head" if qp.get("view") == "head" else "model"
    plain = qp.get("plain") == "1"
    max_tokens = int(qp.get("max_tokens", "64"))
    result = _result(text, pair, max_tokens)
    options = BertvizOptions()
    if qp.get("hostile") == "1":
        labels = tuple(HOSTILE[i % len(HOSTILE)] for i in range(result.n_tokens))
        options = BertvizOptions(labels=labels, sentence_names=("</script><b id=pwn>A", "<img src=x onerror=window.__pwned=4>"))
    build = build_head_view if kind == "head" else build_model_view
    view = build(result, options=options)
    st.caption(f"{kind} view: {result.n_tokens} tokens, {view.nbytes:,} bytes, expected lines: {view.lines}")
    bertviz_view(view, key=f"bv_{kind}", plain=plain, on_select=_select)
    _selection()


def selection_page() -> None:
    st.header("Selection")
    _selection()


nav = st.navigation([st.Page(views_page, title="Views", url_path="views", default=True),
                     st.Page(selection_page, title="Selection", url_path="selection")])
nav.run()
