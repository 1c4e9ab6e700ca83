"""ui.bertviz_component in AppTest (no JavaScript runs): component vs plain fallback, click dedup."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import ui.bertviz_component as bc


def _script() -> None:
    import numpy as np
    import streamlit as st

    from core.render.bertviz import BertvizOptions, build_view
    from ui.bertviz_component import bertviz_view

    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(5), size=(2, 2, 5))
    view = build_view("model", att, ["a", "<b>", "c", "d", "e"], options=BertvizOptions(max_lines=60))
    st.session_state["clicked"] = bertviz_view(view, key="bv", plain=bool(st.session_state.get("plain")))


def _elements(at: AppTest, kind: str) -> list:
    return [e for e in at.main if getattr(e, "type", None) == kind]


def test_plain_view_is_an_iframe_with_the_whole_page():
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["plain"] = True
    at.run()
    assert not at.exception
    frames = _elements(at, "iframe")
    assert len(frames) == 1
    srcdoc = frames[0].proto.srcdoc
    assert "window.__bertvizDecode(" in srcdoc and "cdnjs" not in srcdoc
    assert at.info and "SVG lines" in at.info[0].value  # the budget note is shown above the view


def test_missing_build_falls_back_to_the_plain_view(monkeypatch):
    monkeypatch.setattr(bc, "_component", lambda: None)
    at = AppTest.from_function(_script, default_timeout=30)
    at.run()
    assert not at.exception
    assert len(_elements(at, "iframe")) == 1


def test_component_is_used_when_built():
    if not bc.component_available():
        pytest.skip("frontend/build is missing")
    at = AppTest.from_function(_script, default_timeout=30)
    at.run()
    assert not at.exception
    assert _elements(at, "iframe") == []
    assert at.session_state["clicked"] is None


def test_new_click_is_reported_once(monkeypatch):
    state: dict = {}
    monkeypatch.setattr(bc.st, "session_state", state)
    value = {"view": "model", "layer": 2, "head": 5, "source": "thumbnail", "nonce": 7}
    assert bc._new_click(value, "k") == value
    assert bc._new_click(value, "k") is None  # the same value on a later rerun
    layer_only = bc._new_click(dict(value, nonce=8, head=None, view="head", source="layer-select"), "k")
    assert layer_only["layer"] == 2 and "head" not in layer_only  # .get("head", current) keeps the head
    assert bc._new_click({"layer": "x", "nonce": 9}, "k") is None
    assert bc._new_click(None, "k") is None


def test_selection_text():
    assert bc.selection_text(2, 5) == "Selected: layer 2, head 5"
    assert bc.selection_text(None, None) == "Selected: layer -, head -"
