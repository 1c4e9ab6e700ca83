"""Shared state: the sidebar (model, text, sentence pair, layer, head) and URL <-> state sync.

Everything that makes a view shareable lives in the URL. A link is read once, on a session's
first run; each value is validated, and a bad one becomes a short note plus a sane default.
After every run the URL is rewritten from the session state, so the address bar is always a
link to exactly what is on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.examples import DEFAULT_TEXT, EXAMPLES  # noqa: F401 - pages read state.EXAMPLES
from core.model_config import grid_shape
from core.models import registry
from ui import cache

MAX_TEXT_CHARS = 20_000  # the model keeps at most 512 tokens anyway
MAX_URL_TEXT_CHARS = 1_500  # longer texts are not written into links

_NOTES = "_url_notes"
_SEEDED = "_url_seeded"
_RUN_KEYS = "_url_run_keys"
_SERIALIZERS = "_url_serializers"


@dataclass(frozen=True)
class Selection:
    """What every page reads: the shared choice of model, text, layer and head."""

    model_id: str
    text: str
    text_pair: str | None
    layer: int
    head: int
    num_layers: int
    num_heads: int


# --- URL helpers --------------------------------------------------------------------------

def _note(message: str) -> None:
    notes: list[str] = st.session_state.setdefault(_NOTES, [])
    if message not in notes:
        notes.append(message)


def begin_run() -> None:
    st.session_state[_RUN_KEYS] = {}
    st.session_state["_router_ran"] = True


def parse_int(lo: int, hi: int) -> Callable[[str], int | None]:
    def parse(raw: str) -> int | None:
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            return None
        return value if lo <= value <= hi else None
    return parse


def parse_choice(options: Sequence[Any]) -> Callable[[str], Any | None]:
    by_text = {str(o): o for o in options}
    return lambda raw: by_text.get(str(raw))


def parse_float(lo: float, hi: float) -> Callable[[str], float | None]:
    def parse(raw: str) -> float | None:
        try:
            value = float(str(raw).strip())
        except (TypeError, ValueError):
            return None
        return value if lo <= value <= hi and value == value else None
    return parse


def parse_bool(raw: str) -> bool | None:
    return {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}.get(str(raw).lower())


def url_value(key: str, default: Any, parse: Callable[[str], Any | None],
              serialize: Callable[[Any], str | None] = str, label: str | None = None) -> Any:
    """Seed session_state[key] from the URL on first sight (validated), and bind it to the URL.

    Call before creating the widget whose key is `key`. Returns the current value.
    """
    seeded: set[str] = st.session_state.setdefault(_SEEDED, set())
    if key not in seeded:
        seeded.add(key)
        raw = st.query_params.get(key)
        if raw is not None and key not in st.session_state:
            value = parse(raw)
            if value is None:
                shown = raw if len(raw) <= 40 else raw[:37] + "..."
                _note(f"The link's {label or key} '{shown}' is not valid here; using {serialize(default)}.")
                value = default
            st.session_state[key] = value
    if key not in st.session_state:
        st.session_state[key] = default
    else:
        value = st.session_state[key]
        if parse(serialize(value) or "") is None and value != default:
            st.session_state[key] = default  # e.g. a layer beyond a newly chosen model's depth
    st.session_state.setdefault(_RUN_KEYS, {})[key] = serialize
    return st.session_state[key]


def sync_url() -> None:
    """Rewrite the query string from the state of this run's bound keys."""
    keys: dict[str, Callable[[Any], str | None]] = st.session_state.get(_RUN_KEYS, {})
    params: dict[str, str] = {}
    for key, serialize in keys.items():
        if key in st.session_state:
            text = serialize(st.session_state[key])
            if text is not None:
                params[key] = text
    try:
        if dict(st.query_params) != params:
            st.query_params.from_dict(params)
    except Exception:  # noqa: BLE001 - a URL we cannot write must not break the page
        pass


def show_notes() -> None:
    notes = st.session_state.pop(_NOTES, [])
    for note in notes:
        st.toast(note, icon=":material/link_off:")
        st.caption(f":material/info: {note}")


# --- the shared sidebar -------------------------------------------------------------------

def _text_serializer(value: str) -> str | None:
    return value if len(value) <= MAX_URL_TEXT_CHARS else None


def _parse_text(raw: str) -> str | None:
    text = str(raw)
    if len(text) > MAX_TEXT_CHARS:
        _note(f"The link's text was {len(text):,} characters; kept the first {MAX_TEXT_CHARS:,}.")
        text = text[:MAX_TEXT_CHARS]
    return text


def _status_map() -> dict[str, tuple[str, str, str]]:
    return {mid: (name, avail, reason) for mid, name, avail, reason in cache.model_statuses()}


_BADGE = {"ready": "✓", "downloadable": "↓", "unavailable": "✗"}


def _on_model_change() -> None:
    chosen = st.session_state.get("model")
    status = _status_map().get(chosen)
    previous = st.session_state.get("_model_previous")
    if status is None or status[1] == "unavailable":
        reason = status[2] if status else "it is not in the registry"
        st.session_state["_model_message"] = (
            f"{status[0] if status else chosen} is unavailable: {reason}. Kept the current model."
        )
        if previous:
            st.session_state["model"] = previous


def _load_example() -> None:
    choice = st.session_state.get("_example")
    if choice in EXAMPLES:
        st.session_state["text"] = EXAMPLES[choice]
    st.session_state["_example"] = None


def _clip_text() -> None:
    text = st.session_state.get("text", "")
    if len(text) > MAX_TEXT_CHARS:
        st.session_state["text"] = text[:MAX_TEXT_CHARS]
        _note(f"The text was {len(text):,} characters; kept the first {MAX_TEXT_CHARS:,}.")


def sidebar() -> Selection:
    """Draw the shared sidebar and return the current selection (never raises)."""
    pending = st.session_state.pop("_pending_select", None)
    if pending is not None:  # a selection made in a component, applied before the widgets exist
        st.session_state["layer"], st.session_state["head"] = pending
    statuses = _status_map()
    default_id, default_reason = cache.default_model()
    ids = list(registry())

    def parse_model(raw: str) -> str | None:
        if raw not in statuses:
            return None
        if statuses[raw][1] == "unavailable":
            _note(f"The link asks for {statuses[raw][0]}, which is unavailable here ({statuses[raw][2]}).")
            return default_id
        return raw

    url_value("model", default_id, parse_model, label="model")
    if st.session_state.get("model") not in ids:
        st.session_state["model"] = default_id

    with st.sidebar:
        st.selectbox(
            "Model", ids, key="model", on_change=_on_model_change,
            format_func=lambda mid: f"{_BADGE.get(statuses.get(mid, ('', 'unavailable', ''))[1], '?')} "
                                    f"{statuses.get(mid, (mid,))[0]}",
            help="✓ ready on this machine · ↓ downloadable from the Hugging Face Hub · ✗ unavailable. "
                 f"Default: {default_reason}",
        )
        message = st.session_state.pop("_model_message", None)
        if message:
            st.warning(message, icon=":material/block:")
        st.session_state["_model_previous"] = st.session_state["model"]
        model_id = st.session_state["model"]
        if statuses.get(model_id, ("", "", ""))[1] == "downloadable" and not cache.model_is_loaded(model_id):
            st.caption("First use downloads this model from the Hugging Face Hub.")

        url_value("text", DEFAULT_TEXT, _parse_text, _text_serializer, label="text")
        st.text_area("Text", key="text", height=100, on_change=_clip_text,
                     help="Any sentence. Past the model's limit (512 tokens) the text is truncated and the page says so.")
        st.selectbox("Load an example", list(EXAMPLES), index=None, key="_example",
                     placeholder="The tutorial's six sentence types…", on_change=_load_example)
        url_value("pair", "", _parse_text, _text_serializer, label="second sentence")
        # A constant `expanded`: changing it re-creates the expander and collapses it mid-edit.
        with st.expander("Sentence pair", expanded=False):
            st.text_area("Second sentence (optional)", key="pair", height=68,
                         help="Encoded as a pair ([SEP] between them); segments show in the tables.")

        if (st.session_state.get("pair") or "").strip():
            st.caption(":material/join: A second sentence is set (see *Sentence pair*).")
        layers, heads = grid_shape(model_id) or (12, 12)
        url_value("layer", 0, parse_int(0, layers - 1), label="layer")
        url_value("head", 0, parse_int(0, heads - 1), label="head")
        col1, col2 = st.columns(2)
        col1.selectbox("Layer", list(range(layers)), key="layer", help="0-indexed (papers often write 1-indexed).")
        col2.selectbox("Head", list(range(heads)), key="head",
                       help="Head numbers are an arbitrary order inside each layer.")

    text = st.session_state.get("text", "") or ""
    pair = st.session_state.get("pair", "") or ""
    if cache.stored_result(model_id, text, pair or None) is None:
        cache.warm_up(model_id, EXAMPLES.values())  # needed by this run: load before the page asks
    # else the router starts it after the page is drawn (see streamlit_app.py)
    return Selection(model_id=model_id, text=text, text_pair=pair.strip() and pair or None,
                     layer=int(st.session_state["layer"]), head=int(st.session_state["head"]),
                     num_layers=layers, num_heads=heads)


def current() -> Selection:
    """The selection the router computed for this run (see `_bootstrap` for the exception)."""
    if not st.session_state.pop("_router_ran", False):
        _bootstrap()
    return st.session_state["_selection"]


def ensure_router() -> None:
    """Leave Streamlit's v1 multipage mode before anything is drawn.

    Streamlit treats an app with a `pages/` folder as a v1 multipage app until the first
    `st.navigation` call, so the very first run of a fresh server (and every AppTest run)
    executes in v1 mode: a deep link runs the page file without the router, and widgets get
    ids that change on the next run (so a shared link's layer would reset on the first
    click). One immediate rerun in v2 mode avoids both.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # internal API moved: the fallback in _bootstrap still draws the sidebar
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def _bootstrap() -> None:
    """A page ran without the router (v1 mode, see ensure_router): rerun through the router,
    or, if that is impossible, draw the shared sidebar here so the page still works."""
    ensure_router()
    begin_run()
    st.session_state.pop("_router_ran", None)
    st.session_state["_selection"] = sidebar()


def select_head(layer: int, head: int) -> None:
    """Make (layer, head) the selection on every page (call from a callback)."""
    st.session_state["layer"] = int(layer)
    st.session_state["head"] = int(head)


def request_select(layer: int, head: int) -> None:
    """Select (layer, head) from inside a page body (after the sidebar exists): rerun to apply."""
    if (st.session_state.get("layer"), st.session_state.get("head")) != (int(layer), int(head)):
        st.session_state["_pending_select"] = (int(layer), int(head))
        st.rerun()


def warm_up_current() -> None:
    """Start loading the current selection's model in the background (no-op once loaded)."""
    selection = st.session_state.get("_selection")
    if isinstance(selection, Selection):
        cache.warm_up(selection.model_id, EXAMPLES.values())
