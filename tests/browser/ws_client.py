"""A client of Streamlit's own websocket protocol, no browser: many sessions cheaply. `ws_open`
opens a fresh session on a page and runs it once; `WsSession` keeps one open and reruns it with
new widget values. Both report a `WsRun` (elements, bytes, how the run finished).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.browser.server import PAGE_PATHS


@dataclass
class WsRun:
    """What one session's script run(s) sent: element counts, bytes, how it finished."""

    status: str = ""
    bytes: int = 0
    messages: int = 0
    elements: dict[str, int] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def charts(self) -> int:
        return self.elements.get("vega_lite_chart", 0)

    @property
    def exceptions(self) -> int:
        return self.elements.get("exception", 0)


async def ws_open(base_url: str, page_name: str = "", query_string: str = "", timeout: float = 120.0) -> WsRun:
    """Open a fresh session over /_stcore/stream like a browser tab would, run the page, close.

    Sends one BackMsg rerun_script with the page name and query string, then reads the run
    (`_read_run`).
    """
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState

    ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
    t0 = time.perf_counter()
    async with websockets.connect(ws_url, subprotocols=["streamlit"], origin=base_url, max_size=None,
                                  open_timeout=timeout) as ws:
        back = BackMsg(rerun_script=ClientState(query_string=query_string, page_name=PAGE_PATHS.get(page_name, page_name)))
        await ws.send(back.SerializeToString())
        return await _read_run(ws, t0, timeout)


async def _read_run(ws: Any, t0: float, timeout: float, widget_ids: dict[str, str] | None = None) -> WsRun:
    """Read ForwardMsgs until a script run finishes for good (not FINISHED_EARLY_FOR_RERUN), counting
    elements and bytes; `widget_ids` collects each widget's id by its label. t0: when the run was asked."""
    import asyncio

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    run = WsRun()
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout=max(t0 + timeout - time.perf_counter(), 0.1))
        run.bytes += len(raw)
        run.messages += 1
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            name = el.WhichOneof("type") or "?"
            run.elements[name] = run.elements.get(name, 0) + 1
            inner = getattr(el, name, None)
            if widget_ids is not None and inner is not None and hasattr(inner, "label") and getattr(inner, "id", ""):
                widget_ids[inner.label] = inner.id
            if name == "alert":
                run.texts.append(el.alert.body)
            elif name == "exception":
                run.texts.append(el.exception.message)
        elif kind == "page_not_found":
            run.elements["page_not_found"] = run.elements.get("page_not_found", 0) + 1
        elif kind == "script_finished":
            status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            if status != "FINISHED_EARLY_FOR_RERUN":
                run.status = status
                break
    run.seconds = time.perf_counter() - t0
    return run


class WsSession:
    """A long-lived session over Streamlit's websocket: open a page, then rerun with a new text.

    Typing into the sidebar's text box is what the browser sends as a rerun_script BackMsg that
    carries the text area's new widget state; this does the same, without a browser.
    """

    def __init__(self, base_url: str, page_name: str = "") -> None:
        self.base_url = base_url
        self.page_name = PAGE_PATHS.get(page_name, page_name)
        self.ws: Any = None
        self.widget_ids: dict[str, str] = {}  # label -> widget id, from the elements seen

    async def __aenter__(self) -> WsSession:
        import websockets

        ws_url = self.base_url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], origin=self.base_url, max_size=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def run(self, query_string: str = "", widgets: dict[str, str] | None = None,
                  timeout: float = 120.0) -> WsRun:
        """One rerun: the page, the query string, and string values for widgets by label."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ClientState_pb2 import ClientState
        from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

        states = WidgetStates(widgets=[WidgetState(id=self.widget_ids[label], string_value=value)
                                       for label, value in (widgets or {}).items()])
        back = BackMsg(rerun_script=ClientState(query_string=query_string, page_name=self.page_name,
                                                widget_states=states))
        t0 = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        return await _read_run(self.ws, t0, timeout, self.widget_ids)
