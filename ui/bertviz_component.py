"""Streamlit side of the BertViz views: the click-reporting component and its plain fallback.

`bertviz_view(view, key)` shows a `core.render.bertviz.EmbeddedView` in the custom component
built from `frontend/` (streamlit-component-lib). The component reports what the user clicks:

    {"view": "model" | "head", "layer": int, "head": int | None,
     "source": "thumbnail" | "layer-select" | "head-square", "nonce": int}

`layer`/`head` are model indices (the component maps BertViz's positions through the embedded
subset). The component sends `head: null` when only the head view's layer dropdown changed.
`bertviz_view` returns the click only on the run that follows a *new* click (the component keeps
returning its last value on every rerun; a stale one must not override a selection made
elsewhere), as the same dict except that "head" is left out when no head was picked (so
`click.get("head", current_head)` keeps the current head), and calls `on_select(layer, head)`
with head None in that case. Given `layer` (the app's selected layer), the component's head view
opens on that layer and follows it when the sidebar changes it, in place.

Falls back to the plain view (`st.iframe` with the same self-contained HTML: the view draws,
clicks are not reported) when the component's build folder is missing or `plain=True` (see
`plain_view_toggle`).

Theme. The view's HTML is built on the server in the viewer's theme (`active_theme`, from
`st.context.theme`, which the browser sends with every rerun). Switching the theme in the app's
menu does not rerun the app, so `follow_theme` mounts a tiny, invisible `st.components.v2`
component that reads the theme the browser shows (Streamlit's documented `--st-background-color`
property) and asks for one rerun when it differs from the theme the view was built in.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, Sequence

import streamlit as st

from core.render.bertviz import (
    DEFAULT_BUDGET_BYTES,
    DEFAULT_MAX_LINES,
    FRONTEND_BUILD,
    BertvizOptions,
    EmbeddedView,
    fit_subset,
)
from ui import state

COMPONENT_NAME = "bertviz_view"
_LAST_NONCE = "_bertviz_last_nonce__"
Theme = Literal["light", "dark"]

# Reads the theme the browser shows from the --st-background-color property Streamlit puts on a
# v2 component's wrapper (it follows the menu's theme switch at once), and triggers "theme" when
# that is not the theme the view was built in. Checked twice a second; nothing is drawn.
_THEME_WATCH_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const host = parentElement.host || parentElement;
  function rgb(text) {
    const t = (text || "").trim();
    let m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(t);
    if (m) {
      const h = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
      return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    }
    m = /^rgba?\\(([^)]+)\\)$/i.exec(t);
    return m ? m[1].split(",").slice(0, 3).map((v) => parseFloat(v)) : null;
  }
  function shown() {
    const c = rgb(getComputedStyle(host).getPropertyValue("--st-background-color"));
    if (!c) return null;
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] < 128 ? "dark" : "light";
  }
  let asked = null;
  function check() {
    const theme = shown();
    if (theme && theme !== data.built && theme !== asked) {
      asked = theme;
      setTriggerValue("theme", theme);
    }
  }
  check();
  const timer = setInterval(check, 500);
  return () => clearInterval(timer);
}
"""


@functools.lru_cache(maxsize=1)
def _component() -> Any | None:
    if not ((FRONTEND_BUILD / "index.html").is_file() and (FRONTEND_BUILD / "component.js").is_file()):
        return None
    import streamlit.components.v1 as components

    return components.declare_component(COMPONENT_NAME, path=str(FRONTEND_BUILD))


def active_theme() -> Theme:
    """The viewer's theme on this run: "dark" or "light" (light when the browser did not say, e.g.
    under AppTest)."""
    try:
        kind = st.context.theme.type
    except Exception:  # noqa: BLE001 - no browser context (bare mode): the light default
        kind = None
    return "dark" if kind == "dark" else "light"


@functools.lru_cache(maxsize=1)
def _theme_watch() -> Any:
    import streamlit.components.v2 as components_v2

    return components_v2.component("attention_dashboard.theme_watch", js=_THEME_WATCH_JS)


def follow_theme(built: Theme, key: str = "bv_theme") -> None:
    """Rerun once when the browser shows another theme than `built` (the menu's theme switch does
    not rerun the app), so a view built on the server follows the switch. Draws nothing."""
    try:
        watch = _theme_watch()
    except Exception:  # noqa: BLE001 - no v2 components here: the view follows on the next rerun
        return
    # One instance per built theme: the watcher that mounts after a rebuild knows the new theme.
    watch(key=f"{key}_{built}", data={"built": built}, height=0, on_theme_change=lambda: None)


def component_available() -> bool:
    """True when the built component (frontend/build) is present."""
    return _component() is not None


def plain_view_toggle(key: str) -> bool:
    """A toggle for the plain view (always draws; does not report clicks). Kept across pages; on
    and disabled when the component's build is missing."""
    label = "Plain view (clicks are not reported)"
    why = ("Use this if the interactive view does not appear. The plain view shows the same BertViz page but "
           "cannot report which layer or head you click.")
    if not component_available():
        st.toggle(label, value=True, disabled=True, help=why)
        return True
    from ui import state

    state.control(key, False, state.parse_bool, state.bool_text, link=False)
    return bool(st.toggle(label, key=key, help=why))


def show_notes(view: EmbeddedView) -> None:
    """Say what was subset and why (the budget), right above the view."""
    for note in view.notes:
        st.info(note, icon=":material/filter_alt:")


def _new_click(value: Any, key: str) -> dict | None:
    if not isinstance(value, dict) or "layer" not in value or "nonce" not in value:
        return None
    state_key = _LAST_NONCE + key
    if state.recall(state_key) == value["nonce"]:
        return None
    state.remember(state_key, value["nonce"])
    try:
        layer = int(value["layer"])
        head = None if value.get("head") is None else int(value["head"])
    except (TypeError, ValueError):
        return None
    click = {"view": str(value.get("view", "")), "layer": layer, "source": str(value.get("source", "")),
             "nonce": value["nonce"]}
    if head is not None:
        click["head"] = head
    return click


def bertviz_view(view: EmbeddedView, key: str, *, plain: bool = False,
                 on_select: Callable[[int, int | None], None] | None = None,
                 notes: bool = True, layer: int | None = None) -> dict | None:
    """Show the view; return the new click as a dict (shape in the module docstring) or None.

    `layer`: the app's selected layer. The component's head view opens on it and follows it on
    later reruns without reloading (the plain view keeps BertViz's first layer)."""
    if notes:
        show_notes(view)
    comp = None if plain else _component()
    if comp is None:
        st.iframe(view.html, height="content")
        return None
    # The component's frame serves frontend/build/, so its view links vendor.js (cached by the
    # browser) instead of receiving 0.4 MB of inlined libraries with every view.
    value = comp(html=view.linked_html, view_id=view.view_id, kind=view.kind, layers=list(view.layers),
                 heads=list(view.heads), height=view.height, layer=None if layer is None else int(layer), key=key,
                 default=None)
    click = _new_click(value, key)
    if click is not None and on_select is not None:
        on_select(click["layer"], click.get("head"))
    return click


def _parse_indices(size: int) -> Callable[[str], tuple[int, ...] | None]:
    def parse(raw: str) -> tuple[int, ...] | None:
        try:
            values = tuple(int(v) for v in raw.split(",") if v != "")
        except ValueError:
            return None
        return values if all(0 <= v < size for v in values) else None
    return parse


def _parse_window(n: int) -> Callable[[str], tuple[int, int] | None]:
    def parse(raw: str) -> tuple[int, int] | None:
        try:
            lo, hi = (int(v) for v in raw.split("-"))
        except ValueError:
            return None
        return (lo, hi) if 0 <= lo <= hi <= n else None
    return parse


def subset_controls(kind: Literal["head", "model"], n_tokens: int, num_layers: int, num_heads: int,
                    key: str, *, budget_bytes: int = DEFAULT_BUDGET_BYTES,
                    max_lines: int = DEFAULT_MAX_LINES) -> BertvizOptions:
    """Widgets offering a subset of layers, heads and a token window; returns the options.

    Starts from what fits the budget (fit_subset) so large inputs never freeze the browser;
    the user can pick other layers/heads/tokens (still capped by the budget, which the notes
    then explain). The choices are kept per view and input size (a new text of another length
    starts from what fits it).
    """
    from ui import state

    auto = fit_subset(kind, n_tokens, num_layers, num_heads,
                      BertvizOptions(budget_bytes=budget_bytes, max_lines=max_lines))
    key = f"{key}_{n_tokens}_{num_layers}x{num_heads}"
    join = lambda values: ",".join(str(int(v)) for v in values)  # noqa: E731
    with st.expander("Layers, heads and tokens shown", expanded=bool(auto.notes)):
        c1, c2 = st.columns(2)
        state.control(f"{key}_layers", list(auto.layers), lambda raw: list(_parse_indices(num_layers)(raw) or ()),
                      join, link=False)
        layers = c1.multiselect("Layers", list(range(num_layers)), key=f"{key}_layers")
        state.control(f"{key}_heads", list(auto.heads), lambda raw: list(_parse_indices(num_heads)(raw) or ()),
                      join, link=False)
        heads = c2.multiselect("Heads", list(range(num_heads)), key=f"{key}_heads")
        if n_tokens > 2:
            state.control(f"{key}_window", (auto.window[0], auto.window[1]), _parse_window(n_tokens),
                          lambda w: f"{int(w[0])}-{int(w[1])}", link=False)
            window = st.slider("Token window", 0, n_tokens, key=f"{key}_window")
        else:
            window = (0, n_tokens)
    # What the app chose is passed as None, so the notes say why (the budget), never "you chose".
    chosen_layers, chosen_heads = tuple(layers or auto.layers), tuple(heads or auto.heads)
    chosen_window = (int(window[0]), int(window[1]))
    return BertvizOptions(layers=None if chosen_layers == auto.layers else chosen_layers,
                          heads=None if chosen_heads == auto.heads else chosen_heads,
                          window=None if chosen_window == tuple(auto.window) else chosen_window,
                          budget_bytes=budget_bytes, max_lines=max_lines)


def selection_text(layer: int | None, head: int | None) -> str:
    """The one-line summary pages show: 'Selected: layer L, head H'."""
    lt = "-" if layer is None else str(layer)
    ht = "-" if head is None else str(head)
    return f"Selected: layer {lt}, head {ht}"


__all__: Sequence[str] = (
    "COMPONENT_NAME", "active_theme", "bertviz_view", "component_available", "follow_theme", "plain_view_toggle",
    "selection_text", "show_notes", "subset_controls",
)
