"""The shared sidebar: model, text, examples, sentence pair, layer and head; below them, the pages.

Drawn by the router before every page, with explicit keys; every value is a control of
ui.state (kept across pages, bound to the link). Returns the `Selection` pages read.
`page_links` lists the pages under the controls, so what a student types into comes first.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

import streamlit as st

from core.attention.result import normalise_pair
from core.examples import DEFAULT_TEXT, EXAMPLES
from core.models.config import grid_shape
from core.models.registry import registry
from ui import cache, model_panel, state
from ui.glossary_links import term_help

_BADGE = {"ready": "✓", "downloadable": "↓", "unavailable": "✗"}
_MODEL_MESSAGE = "_model_message"  # why the model just chosen was not taken

ABOUT = ("**Attention dashboard**: what the attention heads of a transformer look at, for any sentence you "
         "type. Start with *Read this first* in the sidebar. Light or dark: choose above "
         "(*System* follows your computer's setting).")
PAGE_LINKS_KEY = "page_links"  # the links' container carries the CSS class st-key-page_links
SCRIPT_KEY = "sidebar_script"  # the container of PAGE_LINK_SCRIPT (hidden by STYLE)
FOCUS = "#1f6fb2"  # the light theme's primary blue: 5.3:1 on white, 3.4:1 on the dark background (3:1 needed)

# WCAG 2.1 AA fixes to Streamlit's own styles, one rule per reason; drawn on every page.
STYLE = f"""<style>
/* A caption is its text at 60 % opacity, so a link in it fell to 2.96:1 (light) and 3.91:1 (dark). The same
   60 % as a colour instead: the caption's text reads the same (4.95:1), its links keep their full colour. */
div[data-testid="stCaptionContainer"][data-testid] {{ opacity: 1; color: rgb(from currentColor r g b / 0.6); }}
/* Primary buttons: white on the dark theme's primary (#5aa9e6) is 2.5:1, and that primary must stay light
   (selected segmented-control text on the dark background): the light theme's blue in both themes, 5.3:1. */
button[data-testid^="stBaseButton-primary"]:not(:disabled) {{ background-color: {FOCUS}; border-color: {FOCUS};
  color: #ffffff; }}
button[data-testid^="stBaseButton-primary"]:not(:disabled):hover {{ background-color: #185a91;
  border-color: #185a91; color: #ffffff; }}
/* Keyboard focus is always visible: page links, buttons, toggles, tabs and chart cells' tables. */
[data-testid="stSidebar"] a:focus-visible, [data-testid="stMain"] a:focus-visible, button:focus-visible,
[role="tab"]:focus-visible, [role="switch"]:focus-visible, [role="radio"]:focus-visible,
summary:focus-visible {{ outline: 3px solid {FOCUS} !important; outline-offset: 2px; }}
/* Select boxes and text fields show focus only by a 1 px border turning blue: the same outline around them. */
[data-testid="stSelectbox"] div:has(> input:focus), [data-testid="stMultiSelect"] div:has(> input:focus),
[data-testid="stTextAreaRootElement"]:focus-within, [data-testid="stTextInputRootElement"]:focus-within,
[data-testid="stNumberInputContainer"]:focus-within {{ outline: 3px solid {FOCUS}; outline-offset: 1px; }}
/* The sidebar's script (PAGE_LINK_SCRIPT below) draws nothing: no gap for its box either. */
[data-testid="stLayoutWrapper"]:has(> .st-key-{SCRIPT_KEY}), .st-key-{SCRIPT_KEY} {{ display: none; }}
</style>"""


@functools.lru_cache(maxsize=1)
def tab_icon() -> str:
    """The tab icon (assets/icon.png) as a data URI: Streamlit passes a URL through as it is,
    where a file path is decoded and resized with PIL on every run. Local, so no font or CDN host
    is asked for it."""
    png = (Path(__file__).resolve().parents[1] / "assets" / "icon.png").read_bytes()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _status_map() -> dict[str, tuple[str, str, str]]:
    return {mid: (name, avail, reason) for mid, name, avail, reason in cache.model_statuses()}


def _on_model_change() -> None:
    chosen = st.session_state.get("model")
    status = _status_map().get(chosen)
    if status is not None and status[1] == "downloadable" and not cache.model_is_loaded(chosen):
        model_panel.offer(chosen)  # size first, then progress and cancel (ui/model_panel.py)
        state.set_control("model", state.kept("model"))
        return
    if status is None or status[1] == "unavailable":
        reason = status[2] if status else "it is not in the registry"
        state.remember(_MODEL_MESSAGE, f"{status[0] if status else chosen} is unavailable: {reason}. "
                                       "Kept the current model.")
        state.set_control("model", state.kept("model"))


def _clip_text() -> None:
    text = st.session_state.get("text", "")
    if len(text) > state.MAX_TEXT_CHARS:
        state.replace_text(text)  # cut to MAX_TEXT_CHARS
        state.note(f"The text was {len(text):,} characters; kept the first {state.MAX_TEXT_CHARS:,}.")


def _model_control(statuses: dict[str, tuple[str, str, str]], default_id: str) -> str:
    if state.kept("model") is None:  # first sight: say why a link's model is not used
        raw = st.query_params.get("model")
        if raw in statuses and statuses[raw][1] == "unavailable":
            state.note(f"The link asks for {statuses[raw][0]}, which is unavailable here ({statuses[raw][2]}).")
    usable = [mid for mid in registry() if statuses.get(mid, ("", "unavailable", ""))[1] != "unavailable"]
    return state.control("model", default_id, state.parse_choice(usable or [default_id]), label="model")


def sidebar() -> state.Selection:
    """Draw the shared sidebar and return the current selection (never raises)."""
    statuses = _status_map()
    default_id, default_reason = cache.default_model()
    ids = list(registry())
    model_id = _model_control(statuses, default_id)

    with st.sidebar:
        st.html(STYLE)
        st.selectbox(
            "Model", ids, key="model", on_change=_on_model_change,
            format_func=lambda mid: f"{_BADGE.get(statuses.get(mid, ('', 'unavailable', ''))[1], '?')} "
                                    f"{statuses.get(mid, (mid,))[0]}",
            help="✓ ready on this machine · ↓ downloadable from the Hugging Face Hub · ✗ unavailable. "
                 f"Default: {default_reason}",
        )
        message = state.forget(_MODEL_MESSAGE)
        if message:
            st.warning(message, icon=":material/block:")
        model_panel.download_box()
        model_panel.eviction_notice()
        if statuses.get(model_id, ("", "", ""))[1] == "downloadable" and not cache.model_is_loaded(model_id):
            st.caption("First use downloads this model from the Hugging Face Hub.")

        text = state.control("text", DEFAULT_TEXT, state.parse_text, state.text_for_link, label="text")
        st.text_area("Text", key="text", height=100, on_change=_clip_text,
                     help=term_help("token", "Any sentence; the model cuts it into tokens. Past the model's limit (512 tokens) "
                                    "the text is truncated and the page says so."))
        st.selectbox("Load an example", list(EXAMPLES), index=None, key="_example",
                     placeholder="The tutorial's six sentence types…", on_change=state.take_example,
                     args=("_example",))
        pair = state.control("pair", "", state.parse_text, state.text_for_link, label="second sentence")
        # A constant `expanded`: changing it re-creates the expander and collapses it mid-edit.
        with st.expander("Sentence pair", expanded=False):
            st.text_area("Second sentence (optional)", key="pair", height=68,
                         help=term_help("special_tokens", "Encoded as a pair ([SEP] between them); segments show in "
                                           "the tables."))

        if normalise_pair(pair) is not None:
            st.caption(":material/join: A second sentence is set (see *Sentence pair*).")
        layers, heads = grid_shape(model_id) or (12, 12)
        layer = state.control("layer", 0, state.parse_int(0, layers - 1), label="layer")
        head = state.control("head", 0, state.parse_int(0, heads - 1), label="head")
        col1, col2 = st.columns(2)
        col1.selectbox("Layer", list(range(layers)), key="layer", help=term_help("layer", "0-indexed (papers often write 1-indexed)."))
        col2.selectbox("Head", list(range(heads)), key="head",
                       help=term_help("head", "Head numbers are an arbitrary order inside each layer."))

    text = text or ""
    if not cache.is_stored(model_id, text, pair):
        cache.warm_up(model_id, EXAMPLES.values())  # needed by this run: load before the page asks
    # else the router starts it after the page is drawn (see streamlit_app.py)
    return state.selection_of(model_id, text, pair or "", layer, head, (layers, heads))


def warm_up_current() -> None:
    """Start loading the current selection's model in the background after a short wait (no-op once
    loaded; see cache.AFTER_DRAW_DELAY_S)."""
    selection = state.recall(state.SELECTION)
    if isinstance(selection, state.Selection):
        cache.warm_up(selection.model_id, EXAMPLES.values(), delay_s=cache.AFTER_DRAW_DELAY_S)


# Our own script for the page links (no outside code), in a container STYLE hides so it adds no gap:
# - Below Streamlit's "md" breakpoint (768 px: a phone) the sidebar lies over the page. Streamlit's
#   own menu closes it when a page is chosen; its page links (ours) do not, so a student on a phone
#   would land on every new page under the sidebar: after such a click it is closed.
# - A student who types a text and clicks a page link without Ctrl+Enter: Streamlit commits the
#   text when its box loses focus, but sends that after the link's page change, and the later
#   request wins, so the text was applied and the page did not change. When a sidebar text box
#   had focus as the link was pressed, the click is replayed LINK_AFTER_TEXT_MS later, after the
#   text's own request.
CLOSE_ON_NARROW_WIDTH = 768
LINK_AFTER_TEXT_MS = 120
PAGE_LINK_SCRIPT = f"""<script>
(() => {{
  if (window.__pageLinkScript) return;
  window.__pageLinkScript = true;
  const LINK = ".st-key-{PAGE_LINKS_KEY} a[href]";
  const TEXT = '[data-testid="stSidebar"] textarea, [data-testid="stSidebar"] input[type="text"]';
  const linkOf = (event) => event.target instanceof Element ? event.target.closest(LINK) : null;
  let typed = false;  // a sidebar text box had focus when the link was pressed
  document.addEventListener("pointerdown", (event) => {{
    const active = document.activeElement;
    typed = !!linkOf(event) && active instanceof Element && active.matches(TEXT);
  }}, true);
  document.addEventListener("click", (event) => {{
    const link = linkOf(event);
    if (!link) return;
    if (typed && event.isTrusted) {{
      typed = false;
      event.preventDefault();
      event.stopImmediatePropagation();
      setTimeout(() => link.click(), {LINK_AFTER_TEXT_MS});
      return;
    }}
    if (window.innerWidth >= {CLOSE_ON_NARROW_WIDTH}) return;
    const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (close) setTimeout(() => close.click(), 0);
  }}, true);
}})();
</script>"""


def page_links(sections: dict[str, list[st.Page]], query_params: dict[str, str] | None = None) -> None:
    """The app's pages as links, by section, below the controls (the navigation menu itself is
    hidden by the router). A click opens the page in this session; each page keeps its address.
    Each link carries `query_params` (the sidebar's view, as the page's own URL writes it:
    state.link_params), so a link opened in a new tab or copied shows the same model, text, layer
    and head (a text over state.MAX_URL_TEXT_CHARS is left out, as from the URL). On a phone-wide window the
    sidebar closes after the click, and a click right after typing waits for the text (PAGE_LINK_SCRIPT)."""
    with st.sidebar:
        with st.container(key=SCRIPT_KEY):
            st.html(PAGE_LINK_SCRIPT, unsafe_allow_javascript=True)
        st.divider()
        with st.container(key=PAGE_LINKS_KEY, gap="xsmall"):
            for section, pages in sections.items():
                st.caption(f"**{section}**")
                for target in pages:
                    st.page_link(target, query_params=query_params or None)
        st.caption(":material/contrast: Light or dark: the **⋮** menu, top right.")
