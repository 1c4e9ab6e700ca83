"""The page template: a title, two sentences on how to read the page, guards, downloads, and
"How it is computed" (the method notes of docs/methods.md, behind a click).

Every page reads like a short story: how to read it, controls, chart, table, export. When
input is missing or bad the page says so and stops; a traceback never reaches the screen.
Plain words come first; formulas live in the method notes.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from core.attention.result import AttentionResult
from core.errors import AttentionDashboardError, EmptyTextError
from ui import cache, reading, state

log = logging.getLogger("attention_dashboard")

METHODS = Path(__file__).resolve().parent.parent / "docs" / "methods.md"
_VIEW = "_page_view"  # what this run's charts show (for the titles of downloaded images)
TEXT_IN_TITLE = 60  # characters of the text a downloaded image's title keeps


def header(title: str, how_to_read: str) -> state.Selection:
    st.title(title)
    st.caption(how_to_read)
    state.show_notes()
    state.remember(_VIEW, {"page": title})
    return _selection()


def _selection() -> state.Selection:
    """The selection the router made on this run. A page that ran without the router (the very
    first run of a server, in Streamlit's v1 multipage mode: state.ensure_router) reruns through
    it, or, where that is impossible, draws the shared sidebar itself so the page still works."""
    if not state.router_ran():
        from ui import sidebar

        state.ensure_router()
        state.begin_run()
        state.router_ran()
        state.publish(sidebar.sidebar())
    return state.current()


def describe(*, where: str | None = None, lens: str | None = None) -> None:
    """Say what the page's charts show (e.g. where="layer 2, head 5", lens="raw attention"), for
    the title that downloaded images carry. A page that does not call it gets model and text."""
    view: dict[str, Any] = state.recall(_VIEW) or {}
    state.remember(_VIEW, view)
    view.update({k: v for k, v in (("where", where), ("lens", lens)) if v is not None})


def _shorten(text: str, limit: int = TEXT_IN_TITLE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def title_lines(sel: state.Selection | None = None) -> list[str]:
    """The title block of a downloaded image: model, what is shown (layer, head, lens), the text."""
    if sel is None:  # the router's selection for this run (state.current() is for the page's start)
        found = state.recall(state.SELECTION)
        sel = found if isinstance(found, state.Selection) else None
    view: dict[str, Any] = state.recall(_VIEW, {})
    if sel is None:
        return [view.get("page", "Attention dashboard")]
    first = [sel.model_id]
    if view.get("where"):
        first.append(str(view["where"]))
    if view.get("lens"):
        first.append(f"lens: {view['lens']}")
    text = f"“{_shorten(sel.text)}”"
    if sel.text_pair:
        text += f" + “{_shorten(sel.text_pair, TEXT_IN_TITLE // 2)}”"
    return [" · ".join(first), text]


# --- "How it is computed": the method notes, one section at a time ----------------------------

def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.lru_cache(maxsize=1)
def method_notes() -> dict[str, str]:
    """docs/methods.md by section: anchor -> the section's text up to the next heading."""
    try:
        text = METHODS.read_text(encoding="utf-8")
    except OSError:
        return {}
    sections: dict[str, str] = {}
    anchor, body, in_code = None, [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"^#{2,4}\s+(.*\S)\s*$", line)
        if heading:
            if anchor:
                sections[anchor] = "\n".join(body).strip()
            anchor, body = _anchor(heading.group(1)), []
        elif anchor:
            body.append(line)
    if anchor:
        sections[anchor] = "\n".join(body).strip()
    return sections


def how_computed(*anchors: str, intro: str | None = None) -> None:
    """A closed "How it is computed" expander: `intro` (if any), then each named section of the
    method notes (anchors as listed at the top of docs/methods.md), with where to read more."""
    notes = method_notes()
    with st.expander("How it is computed", icon=":material/functions:"):
        if intro:
            st.markdown(intro)
        for anchor in anchors:
            note = notes.get(anchor)
            if note:  # in-page links of the notes become plain words here
                st.markdown(re.sub(r"\[([^\]]+)\]\(#[^)]*\)", r"\1", note))
        st.caption("From the method notes: " + ", ".join(f"`docs/methods.md#{a}`" for a in anchors) + ".")


def fragment(body: Callable[[], None]) -> None:
    """Run `body` (a page's controls and what they change) as a fragment: a change of one of its
    own widgets reruns only it, not the router, the sidebar and the page links, so the browser
    redraws only what it changes. Its controls stay in the link (it writes the URL itself, as the
    router does after a page), and a chart click that selects a head reruns the whole app."""
    @st.fragment
    def run() -> None:
        state.rerun_app_for_selection()
        body()
        state.show_notes()
        state.sync_url()

    run()


def stop() -> NoReturn:
    """End this run here, after the link and its notes are written: once st.stop() is called,
    every message the run still sends ends it, so the router's own sync after the page is lost."""
    state.show_notes()
    state.sync_url()
    st.stop()


def value_or_stop(request: Any, what: str = "output", quiet: tuple[type[Exception], ...] = (),
                  then: Callable[[], None] | None = None) -> Any:
    """The request's value, or its error as one sentence and stop(). The errors in `quiet` (a
    choice to make, e.g. a model that cannot generate, rather than a failure) are an info box and
    `then()`, and the value is None: the page goes on without stopping, so the router still writes
    the link of what is on screen."""
    try:
        return cache.get(request)
    except quiet as err:
        st.info(str(err), icon=":material/block:")
        if then is not None:
            then()
        return None
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
    except Exception:  # noqa: BLE001 - never a traceback on screen; the log has it
        log.exception("%s failed", what)
        st.error(f"The {what} could not be computed for this input. Try a shorter or different text.",
                 icon=":material/error:")
    caveat()
    stop()


def result_or_stop(sel: state.Selection | None = None) -> AttentionResult:
    """The attention for the current selection, or a clear message and stop()."""
    sel = sel or state.current()
    if not sel.text.strip():
        st.info(EmptyTextError().args[0], icon=":material/edit_note:")
        stop()
    try:
        result = cache.result(sel.model_id, sel.text, sel.text_pair)  # stored, or the model (spinner)
    except AttentionDashboardError as err:
        st.error(str(err), icon=":material/error:")
        stop()
    except Exception:  # noqa: BLE001 - never a traceback on screen; the log has it
        log.exception("extraction failed")
        st.error("The model could not process this text. Try a shorter or different text.",
                 icon=":material/error:")
        stop()
    if result.truncated_tokens:
        st.warning(
            f"The text is longer than this view's limit of {result.max_tokens} tokens: "
            f"{result.truncated_tokens:,} tokens at the end were dropped (truncated).",
            icon=":material/content_cut:")
    reading.notice(result, sel.model_id)
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


def view_columns(sel: state.Selection | None = None) -> dict[str, str]:
    """What a downloaded table shows, as columns: model, view (e.g. "layer 2, head 5"), lens, text."""
    if sel is None:
        found = state.recall(state.SELECTION)
        sel = found if isinstance(found, state.Selection) else None
    view: dict[str, Any] = state.recall(_VIEW, {})
    out = {"model": sel.model_id if sel is not None else "", "view": str(view.get("where") or ""),
           "lens": str(view.get("lens") or ""), "text": sel.text if sel is not None else ""}
    return {k: v for k, v in out.items() if v}


def _with_columns(make: Callable[[], bytes], columns: dict[str, str]) -> Callable[[], bytes]:
    """A CSV maker whose file also says what it shows (leading columns), not only its file name."""
    def made() -> bytes:
        import io

        import pandas as pd

        raw = make()
        try:
            frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
        except Exception:  # noqa: BLE001 - not a plain table: the file as made
            return raw
        for i, (name, value) in enumerate((k, v) for k, v in columns.items() if k not in frame.columns):
            frame.insert(i, name, value)
        return frame.to_csv(index=False).encode("utf-8")
    return made


def downloads(chart_factory: Callable[[], object] | None, data: dict[str, tuple[Callable[[], bytes], str]],
              stem: str, key: str, about: dict[str, str] | None = None) -> None:
    """One "Download" popover: the chart as PNG/SVG (rendered offline, only when clicked) and
    the data files (made only when clicked). The buttons are sent with the page but the browser
    mounts them only when the popover opens, which keeps a page's first paint light.

    A downloaded image carries a title block (`title_lines`: model, layer, head, lens, the text),
    so a slide or a report says what it shows, and so does a CSV, in leading columns (`about`, by
    default `view_columns`: model, view, lens, text)."""
    from core.render import export

    lines = title_lines()  # now: the files are made later, outside this run
    columns = view_columns() if about is None else about

    def titled_chart() -> object:
        return export.titled(chart_factory(), lines)  # type: ignore[misc]

    with st.popover("Download", icon=":material/download:"):
        if chart_factory is not None:
            st.download_button("Chart (PNG)", data=lambda: export.chart_to_png(titled_chart()),
                               file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                               icon=":material/image:", on_click="ignore", width="stretch")
            st.download_button("Chart (SVG)", data=lambda: export.chart_to_svg(titled_chart()),
                               file_name=f"{stem}.svg", mime="image/svg+xml", key=f"{key}_svg",
                               icon=":material/draw:", on_click="ignore", width="stretch")
        for suffix, (make, mime) in data.items():
            if suffix == "csv" and columns:
                make = _with_columns(make, columns)
            st.download_button(DOWNLOAD_LABELS.get(suffix, suffix.upper()), data=make, file_name=f"{stem}.{suffix}",
                               mime=mime, key=f"{key}_{suffix}", icon=":material/download:", on_click="ignore",
                               width="stretch")


def slug(sel: state.Selection) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in sel.text[:24].lower()).strip("-") or "text"
    return f"{sel.model_id.replace('/', '_')}_{keep}"


def caveat() -> None:
    st.caption(":material/school: Attention weights show where a head looks, not why the model decides "
               "(Jain & Wallace 2019; Wiegreffe & Pinter 2019). See *Read this first*.")
