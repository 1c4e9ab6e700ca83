"""Shared state: every control's value, the link (URL) that reproduces the view, the one
selection API and the one way to replace the text. The only module that writes
`st.session_state`: everything else reads it, or calls a function here.

Controls. Streamlit drops a widget's state on any run that does not draw the widget (another
page, a `st.stop()` above it, a closed expander) and on every page switch made from code. So
each control's value lives in a plain session key (`_kept`), and `control(key, ...)` writes it
back to the widget's key *before* the widget is created whenever the widget was not drawn on the
run before (or its value is missing or invalid). A widget then always shows the value the app
uses, on every page, after any number of switches and reruns; nothing is written to a widget's
key after the widget exists.

Links. A link is read once, on a session's first sight of each key; each value is validated, and a
bad one becomes a short note plus a sane default. After every run the URL is rewritten from the
controls drawn on that run, so the address bar is always a link to exactly what is on screen.

Selection. `select(layer=, head=, page=)` is the one route for every click (atlas cells,
pattern-class cells, thumbnails, BertViz, table rows): it changes the layer and head (and the
page, if given) and nothing else. It works from an `on_select` callback and from a page body.

Text. `replace_text(text)` is the one route for every control that replaces the user's text (the
sidebar's box and examples, the presenter bar's box and examples, the tutorial's box, a corpus
sentence opened in Single head).

Memory. `remember` / `recall` / `forget`: values a module keeps for this session between runs
that are not controls (a download offer, a run in progress, a revealed answer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.attention.result import normalise_pair
from core.examples import EXAMPLES
from ui import page_table

MAX_TEXT_CHARS = 20_000  # the model keeps at most 512 tokens anyway
MAX_URL_TEXT_CHARS = 1_500  # longer texts are not written into links

_NOTES = "_url_notes"
_KEPT = "_kept"  # control key -> its value (a plain key: survives runs where the widget is not drawn)
_DRAWN = "_drawn"  # control key -> number of the run that last drew its widget
_RUN_NO = "_run_no"
_RUN_KEYS = "_url_run_keys"  # control key -> serializer, for the controls drawn on this run
_PENDING = "_pending_select"  # {"layer", "head", "page"} from select(), applied by the router
_PENDING_TEXT = "_pending_text"  # (text, clear pair) from replace_text() in a page body, applied by the router
_ROUTER_RAN = "_router_ran"
SELECTION = "_selection"


@dataclass(frozen=True)
class Selection:
    """What every page reads: the shared choice of model, text, layer and head."""

    model_id: str
    text: str
    text_pair: str | None  # None: no second sentence (core.attention.result.normalise_pair decides)
    layer: int
    head: int
    num_layers: int
    num_heads: int


# --- parsers (raw link text -> value, or None when invalid) -----------------------------------

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


def parse_clamped(lo: float, hi: float, label: str, *, integer: bool = False) -> Callable[[str], float | None]:
    """A number, brought into [lo, hi] with a note when a link's value lies outside (any link
    opens); None when it is not a number."""
    def parse(raw: str) -> float | None:
        try:
            value = float(str(raw).strip()[:32])
        except (TypeError, ValueError):
            return None
        if value != value or value in (float("inf"), float("-inf")):
            return None
        kept = min(max(value, lo), hi)
        if kept != value:
            shown = f"{kept:g}" if not integer else str(int(kept))
            note(f"The link's {label} {str(raw).strip()[:12]} is outside {lo:g}-{hi:g}; using {shown}.")
        return int(round(kept)) if integer else kept
    return parse


def parse_bool(raw: str) -> bool | None:
    return {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}.get(str(raw).lower())


def bool_text(value: bool) -> str:
    return "1" if value else "0"


def parse_list(options: Sequence[Any], *, everything: str | None = None) -> Callable[[str], list[Any] | None]:
    """A comma-separated list of options ("0.3,2.11"), in the order given, each once; "" is the
    empty list and `everything` (e.g. "all") every option. None when any item is not an option."""
    by_text = {str(o): o for o in options}

    def parse(raw: str) -> list[Any] | None:
        text = str(raw).strip()
        if everything is not None and text == everything:
            return list(options)
        out: list[Any] = []
        for item in (part.strip() for part in text.split(",") if part.strip()):
            if item not in by_text:
                return None
            if by_text[item] not in out:
                out.append(by_text[item])
        return out
    return parse


def list_text(values: Sequence[Any]) -> str:
    return ",".join(str(v) for v in values)


def parse_text(raw: str) -> str | None:
    text = str(raw)
    if len(text) > MAX_TEXT_CHARS:
        note(f"The link's text was {len(text):,} characters; kept the first {MAX_TEXT_CHARS:,}.")
        text = text[:MAX_TEXT_CHARS]
    return text


def text_for_link(value: str) -> str | None:
    return value if len(value) <= MAX_URL_TEXT_CHARS else None


# --- notes ----------------------------------------------------------------------------------

def note(message: str) -> None:
    """A one-line note for the user (a bad link value, a clipped text), shown once."""
    notes: list[str] = st.session_state.setdefault(_NOTES, [])
    if message not in notes:
        notes.append(message)


def show_notes() -> None:
    for message in st.session_state.pop(_NOTES, []):
        st.toast(message, icon=":material/link_off:")
        st.caption(f":material/info: {message}")


# --- controls -------------------------------------------------------------------------------

def begin_run() -> None:
    """Start a router run: count it, forget last run's link keys, apply a pending selection."""
    ss = st.session_state
    ss[_RUN_NO] = int(ss.get(_RUN_NO, 0)) + 1
    ss[_RUN_KEYS] = {}
    ss[_ROUTER_RAN] = True
    pending = ss.get(_PENDING) or {}
    for key in ("layer", "head"):
        if key in pending:
            set_control(key, pending[key])
    sentence = ss.pop(_PENDING_TEXT, None)  # replace_text() from a page body
    if sentence is not None:
        _set_text(*sentence)
    if pending:
        ss[_PENDING] = {"page": pending["page"]} if "page" in pending else {}


def _valid(value: Any, parse: Callable[[str], Any | None], serialize: Callable[[Any], str | None]) -> bool:
    if value is None:
        return False
    try:
        text = serialize(value)
    except (TypeError, ValueError):
        return False
    if text is None:
        return True  # valid, but not written into links
    parsed = parse(text)
    if isinstance(value, (list, tuple)) and isinstance(parsed, (list, tuple)):
        return list(parsed) == list(value)  # a range slider may hold a list or a tuple
    return parsed == value


def _from_link(key: str, default: Any, parse: Callable[[str], Any | None],
               serialize: Callable[[Any], str | None], label: str | None) -> Any:
    raw = st.query_params.get(key)
    if raw is None:
        return default
    value = parse(raw)
    if value is None:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        note(f"The link's {label or key} '{shown}' is not valid here; using {serialize(default)}.")
        return default
    return value


def control(key: str, default: Any, parse: Callable[[str], Any | None],
            serialize: Callable[[Any], str | None] = str, *, label: str | None = None, link: bool = True,
            draw: bool = True) -> Any:
    """The value of the control whose widget key is `key`; call right before creating that widget
    (and create it without a default: the value comes from here).

    First sight in a session: the link's value (validated, with a note when bad), else `default`.
    Afterwards: the widget's own value when it was drawn on the run before and is valid (or a
    value a callback wrote), else the kept value; either is written to the widget's key so the
    widget shows it. `parse(serialize(v)) == v` says a value is valid (e.g. a layer within this
    model's depth). `link=False` keeps it out of the URL on this run; `draw=False`: its widget
    is not drawn on this run (the value stays kept and in the link). Returns the value.
    """
    ss = st.session_state
    values: dict[str, Any] = ss.setdefault(_KEPT, {})
    drawn: dict[str, int] = ss.setdefault(_DRAWN, {})
    run = int(ss.get(_RUN_NO, 0))
    if key not in values:
        if key in ss and _valid(ss[key], parse, serialize):
            values[key] = ss[key]  # set before its first widget (a test, an older caller)
        else:
            values[key] = _from_link(key, default, parse, serialize, label)
    was_drawn = drawn.get(key) == run - 1
    current = key in ss and _valid(ss[key], parse, serialize)
    if draw and current and (was_drawn or ss[key] != values[key]):
        value = ss[key]  # the widget's value, or one a callback wrote
    else:
        value = values[key] if _valid(values[key], parse, serialize) else default
    if draw:
        # Always, before the widget exists: a widget that comes back (another page, a rerun that
        # stopped above it) or is re-created under a new id (a page switch, new options) shows
        # the value the app uses, instead of its own default.
        ss[key] = value
    values[key] = value
    if draw:
        drawn[key] = run
    if link:
        ss.setdefault(_RUN_KEYS, {})[key] = serialize
    return value


def set_control(key: str, value: Any) -> None:
    """Set a control's value from a callback or before its widget exists on this run."""
    st.session_state.setdefault(_KEPT, {})[key] = value
    st.session_state[key] = value


def kept(key: str, default: Any = None) -> Any:
    """A control's value without drawing it (e.g. a panel that reads another panel's choice)."""
    return st.session_state.get(_KEPT, {}).get(key, default)


def link_params() -> dict[str, str]:
    """The URL values of the link-bound controls drawn so far on this run. Called right after the
    sidebar: the shared view (model, text, pair, layer, head) that the page links carry."""
    keys: dict[str, Callable[[Any], str | None]] = st.session_state.get(_RUN_KEYS, {})
    values: dict[str, Any] = st.session_state.get(_KEPT, {})
    params: dict[str, str] = {}
    for key, serialize in keys.items():
        if key in values:
            text = serialize(values[key])
            if text is not None:
                params[key] = text
    return params


def sync_url() -> None:
    """Rewrite the query string from the controls drawn on this run."""
    params = link_params()
    try:
        if dict(st.query_params) != params:
            st.query_params.from_dict(params)
    except Exception:  # noqa: BLE001 - a URL we cannot write must not break the page
        pass


# --- the one selection API ------------------------------------------------------------------

def _in_callback() -> bool:
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import RunLocation, ThreadState
    except ImportError:  # internal API moved: a rerun is also valid from a callback
        return False
    return ThreadState.get().run_location == RunLocation.CALLBACK


def select(layer: int | None = None, head: int | None = None, page: str | None = None) -> None:
    """Make (layer, head) the selection on every page, and open `page` (a page_table name such as
    "single_head") if given. Nothing else changes: never the text, the pair or the model.

    Works from an `on_select`/`on_click` callback (the run that follows applies it) and from a
    page body (it reruns at once: the sidebar's widgets already exist on this run).
    """
    pending: dict[str, Any] = dict(st.session_state.get(_PENDING) or {})
    if layer is not None:
        pending["layer"] = int(layer)
    if head is not None:
        pending["head"] = int(head)
    if page is not None:
        pending["page"] = page_table.by_name(page).name  # KeyError: not a page of this app
    if all(kept(key) == value for key, value in pending.items()):
        return  # already the selection (e.g. a click on the selected cell)
    st.session_state[_PENDING] = pending
    if not _in_callback():
        st.rerun()


def rerun_app_for_selection() -> None:
    """At the start of a fragment: a callback of one of its charts asked for another head or page
    (select), which only the router applies, so the whole app reruns instead of the fragment.
    After a router run nothing is pending and this does nothing."""
    pending = st.session_state.get(_PENDING) or {}
    if any(key in pending for key in ("layer", "head", "page")):
        st.rerun(scope="app")


# --- the one way to replace the text ----------------------------------------------------------

def _set_text(text: str, clear_pair: bool) -> None:
    set_control("text", text)
    if clear_pair:
        set_control("pair", "")


def replace_text(text: str, *, clear_pair: bool = False) -> None:
    """Make `text` the user's text on every page (cut to MAX_TEXT_CHARS); `clear_pair` also
    empties the second sentence. Model, layer, head and every other control stay. From a
    callback the run that follows uses it; from a page body (the text box exists on this run) it
    reruns at once and the router applies it."""
    text = str(text)[:MAX_TEXT_CHARS]
    if _in_callback():
        _set_text(text, clear_pair)
        return
    st.session_state[_PENDING_TEXT] = (text, clear_pair)
    st.rerun()


def take_text(widget_key: str) -> None:
    """An `on_change` callback: the text typed into the box `widget_key` (blank is ignored)."""
    text = st.session_state.get(widget_key)
    if isinstance(text, str) and text.strip():
        replace_text(text)


def take_example(widget_key: str) -> None:
    """An `on_change` callback of an example picker: its sentence becomes the text, and the
    picker shows its placeholder again."""
    choice = st.session_state.get(widget_key)
    if choice in EXAMPLES:
        replace_text(EXAMPLES[choice])
    st.session_state[widget_key] = None


def open_sentence(text: str, layer: int, head: int, page: str = "single_head") -> None:
    """Open `text` at (layer, head) on `page` (a page_table name), with no second sentence,
    because the user picked that sentence (a most or least typical sentence of a corpus,
    pages/corpus.py). Works from a callback and from a page body, like `select`."""
    if _in_callback():
        replace_text(text, clear_pair=True)
        select(layer=layer, head=head, page=page)
        return
    pending: dict[str, Any] = dict(st.session_state.get(_PENDING) or {})
    pending.update(layer=int(layer), head=int(head), page=page_table.by_name(page).name)
    st.session_state[_PENDING] = pending
    replace_text(text, clear_pair=True)  # reruns: the router applies both


def select_from_chart(chart_key: str, param: str = "head", page: str | None = None) -> Callable[[], None]:
    """An `on_select` callback for a chart whose point selection `param` holds layer and head."""
    def on_select() -> None:
        event = st.session_state.get(chart_key)
        try:
            points = event["selection"][param]  # type: ignore[index]
        except (KeyError, TypeError):
            return
        if points and "layer" in points[0] and "head" in points[0]:
            select(layer=int(points[0]["layer"]), head=int(points[0]["head"]), page=page)
    return on_select


def select_from_table(table_key: str, rows: Any, page: str | None = None) -> Callable[[], None]:
    """An `on_select` callback for a dataframe with "layer" and "head" columns (one row picked)."""
    def on_select() -> None:
        event = st.session_state.get(table_key)
        try:
            picked = list(event["selection"]["rows"])  # type: ignore[index]
        except (KeyError, TypeError):
            return
        if picked:
            row = rows.iloc[int(picked[0])]
            select(layer=int(row["layer"]), head=int(row["head"]), page=page)
    return on_select


def pending_page() -> str | None:
    """The page a click asked for (a page_table name), taken once by the router."""
    pending = st.session_state.get(_PENDING) or {}
    name = pending.get("page")
    if name is not None:
        st.session_state[_PENDING] = {k: v for k, v in pending.items() if k != "page"}
    return name


# --- what pages read ------------------------------------------------------------------------

def publish(selection: Selection) -> Selection:
    """Keep the selection the sidebar made on this run, for the page (`current`)."""
    st.session_state[SELECTION] = selection
    return selection


def router_ran() -> bool:
    """True once per run in which the router ran before the page (taken by the page's header)."""
    return bool(st.session_state.pop(_ROUTER_RAN, False))


def current() -> Selection:
    """The selection the router computed for this run."""
    return st.session_state[SELECTION]


# --- what a module keeps for this session ---------------------------------------------------------

def session_memo(key: str, make: Callable[[], Any]) -> Any:
    """`make()` once per session, kept under `key` (for objects a run would otherwise rebuild)."""
    if key not in st.session_state:
        st.session_state[key] = make()
    return st.session_state[key]


def remember(key: str, value: Any) -> None:
    st.session_state[key] = value


def recall(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def forget(key: str) -> Any:
    """Drop a remembered value; returns it (None if there was none)."""
    return st.session_state.pop(key, None)


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
    except ImportError:  # internal API moved: the fallback in ui.page.header still draws the sidebar
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def selection_of(model_id: str, text: str, pair: str, layer: int, head: int, grid: tuple[int, int]) -> Selection:
    return Selection(model_id=model_id, text=text, text_pair=normalise_pair(pair), layer=int(layer),
                     head=int(head), num_layers=grid[0], num_heads=grid[1])
