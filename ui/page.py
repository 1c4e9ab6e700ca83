"""The page template: a title, two sentences on how to read the page, guards, downloads.

Every page reads like a short story: how to read it, controls, chart, table, export. When
input is missing or bad the page says so and stops; a traceback never reaches the screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from core.attention.result import AttentionResult
from core.errors import AttentionDashboardError, EmptyTextError
from ui import cache, state

log = logging.getLogger("attention_dashboard")


def header(title: str, how_to_read: str) -> state.Selection:
    st.title(title)
    st.caption(how_to_read)
    state.show_notes()
    return state.current()


def result_or_stop(sel: state.Selection | None = None) -> AttentionResult:
    """The attention for the current selection, or a clear message and st.stop()."""
    sel = sel or state.current()
    if not sel.text.strip():
        st.info(EmptyTextError().args[0], icon=":material/edit_note:")
        st.stop()
    try:
        result = cache.result(sel.model_id, sel.text, sel.text_pair)  # stored, or the model (spinner)
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
        st.stop()
    except Exception:  # noqa: BLE001 - never a traceback on screen; the log has it
        log.exception("extraction failed")
        st.error("The model could not process this text. Try a shorter or different text.",
                 icon=":material/error:")
        st.stop()
    if result.truncated_tokens:
        st.warning(
            f"The text is longer than this view's limit of {result.max_tokens} tokens: "
            f"{result.truncated_tokens:,} tokens at the end were dropped (truncated).",
            icon=":material/content_cut:")
    return result


def guard(fn: Callable[[], None], what: str) -> None:
    """Run one panel; an unexpected error becomes a one-line message, not a traceback."""
    try:
        fn()
    except ScriptControlException:
        raise
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
    except Exception:  # noqa: BLE001
        log.exception("panel %s failed", what)
        st.error(f"The {what} could not be drawn for this input.", icon=":material/error:")


DOWNLOAD_LABELS = {"csv": "Data (CSV)", "npz": "All weights (NPZ, for notebooks)"}


def downloads(chart_factory: Callable[[], object] | None, data: dict[str, tuple[Callable[[], bytes], str]],
              stem: str, key: str) -> None:
    """One "Download" popover: the chart as PNG/SVG (rendered offline, only when clicked) and
    the data files (made only when clicked). The buttons are sent with the page but the browser
    mounts them only when the popover opens, which keeps a page's first paint light."""
    from core.render import export

    with st.popover("Download", icon=":material/download:"):
        if chart_factory is not None:
            st.download_button("Chart (PNG)", data=lambda: export.chart_to_png(chart_factory()),
                               file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                               icon=":material/image:", on_click="ignore", width="stretch")
            st.download_button("Chart (SVG)", data=lambda: export.chart_to_svg(chart_factory()),
                               file_name=f"{stem}.svg", mime="image/svg+xml", key=f"{key}_svg",
                               icon=":material/draw:", on_click="ignore", width="stretch")
        for suffix, (make, mime) in data.items():
            st.download_button(DOWNLOAD_LABELS.get(suffix, suffix.upper()), data=make, file_name=f"{stem}.{suffix}",
                               mime=mime, key=f"{key}_{suffix}", icon=":material/download:", on_click="ignore",
                               width="stretch")


def slug(sel: state.Selection) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in sel.text[:24].lower()).strip("-") or "text"
    return f"{sel.model_id.replace('/', '_')}_{keep}"


def caveat() -> None:
    st.caption(":material/school: Attention weights show where a head looks, not why the model decides "
               "(Jain & Wallace 2019; Wiegreffe & Pinter 2019). See *Read this first*.")
