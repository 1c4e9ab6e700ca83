"""Clicks and page switches keep what the user typed.

A click is simulated as the browser sends it: the chart's (or table's) new selection state
arrives with the next run, and Streamlit runs the element's `on_select` callback before the
script, exactly as in a real session. (AppTest cannot set a chart's selection through its own
API; `click` builds the widget state the frontend would send.)
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.app.apptest_util import PAGES, errors_of, exceptions_of, make_app
from tests.app.test_state import chart_frames
from ui import page_table, state

SENTENCE = "The lawyer questioned the witness because she was lying."
PAIR = "It was late."


def click(at: AppTest, kind: str, key: str, selection: dict) -> AppTest:
    """Run the app as after a click on the `kind` element ("vega_lite_chart" or "dataframe")
    whose key is `key`, with `selection` as the element's new selection state; kind
    "component_instance": `selection` is the value the BertViz component reports."""
    elements = [e for e in at.get(kind) if e.proto.id.endswith(f"-{key}")]
    assert elements, f"no {kind} with key {key!r}"
    states = at._tree.get_widget_states()  # noqa: SLF001 - what the frontend would send besides the click
    state = WidgetState(id=elements[0].proto.id)
    if kind == "component_instance":
        state.json_value = json.dumps(selection)
    else:
        state.string_value = json.dumps({"selection": selection})
    states.widgets.append(state)
    at._run(states)  # noqa: SLF001
    # AppTest keeps requesting the page of its last switch_page(); a browser stays where the
    # app's own navigation took it.
    at._page_hash = ""  # noqa: SLF001
    return at


def typed(page: str) -> AppTest:
    """The app on `page` after typing the sentence and a second sentence in the sidebar."""
    at = make_app(page)
    at.text_area(key="text").set_value(SENTENCE).run()
    at.text_area(key="pair").set_value(PAIR).run()
    assert not exceptions_of(at), exceptions_of(at)
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def assert_kept(at: AppTest, layer: int, head: int) -> None:
    ss = at.session_state
    assert (ss["text"], ss["pair"], ss["model"]) == (SENTENCE, PAIR, "all-MiniLM-L6-v2")
    assert (ss["layer"], ss["head"]) == (layer, head)
    assert at.query_params["text"] == SENTENCE and at.query_params["pair"] == PAIR
    assert (at.query_params["layer"], at.query_params["head"]) == (str(layer), str(head))


def test_atlas_click_opens_the_head_and_keeps_text_pair_and_model() -> None:
    at = typed("pages/head_atlas.py")
    click(at, "vega_lite_chart", "atlas_chart", {"head": [{"layer": 3, "head": 5}]})
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    assert titles(at) == ["Single head"]
    assert_kept(at, 3, 5)
    spec, _ = chart_frames([c for c in at.get("vega_lite_chart")][0])
    assert "layer 3, head 5" in json.dumps(spec["title"])
    at.run()  # and it stays so on the next rerun
    assert titles(at) == ["Single head"]
    assert_kept(at, 3, 5)


def test_atlas_table_row_opens_the_head_and_keeps_the_text() -> None:
    at = typed("pages/head_atlas.py")
    table = at.dataframe[0].value
    row = int(table.index[(table["layer"] == 2) & (table["head"] == 7)][0])
    click(at, "dataframe", "atlas_table", {"rows": [row], "columns": [], "cells": []})
    assert not exceptions_of(at), exceptions_of(at)
    assert titles(at) == ["Single head"]
    assert_kept(at, 2, 7)


@pytest.mark.parametrize("page,key,param", [
    ("pages/across_layers.py", "al_thumbs", "head"),
    ("pages/pattern_classes.py", "pc_grid", "head"),
])
def test_grid_clicks_select_the_head_and_stay_on_the_page(page: str, key: str, param: str) -> None:
    at = typed(page)
    title = titles(at)
    click(at, "vega_lite_chart", key, {param: [{"layer": 4, "head": 2}]})
    assert not exceptions_of(at), exceptions_of(at)
    assert titles(at) == title
    assert_kept(at, 4, 2)


def test_bertviz_clicks_select_from_the_page_body_and_keep_the_text() -> None:
    from ui.bertviz_component import component_available

    if not component_available():
        pytest.skip("frontend/build is missing: the plain view reports no clicks")
    at = typed("pages/bertviz_views.py")
    assert at.segmented_control(key="bv_view").value == "head"  # the tutorial's first view, the lighter one
    at.segmented_control(key="bv_view").set_value("model").run()
    click(at, "component_instance", "bv_model",
          {"view": "model", "layer": 2, "head": 6, "source": "thumbnail", "nonce": 1})
    assert not exceptions_of(at), exceptions_of(at)
    assert titles(at) == ["BertViz"]
    assert_kept(at, 2, 6)
    assert "Selected: layer 2, head 6" in " ".join(c.value for c in at.caption)
    at.segmented_control(key="bv_view").set_value("head").run()
    click(at, "component_instance", "bv_head",  # the head view's layer list: the head stays
          {"view": "head", "layer": 4, "head": None, "source": "layer-select", "nonce": 2})
    assert not exceptions_of(at), exceptions_of(at)
    assert_kept(at, 4, 6)


def test_a_cell_click_focuses_its_query_and_nothing_else() -> None:
    at = typed(None)
    click(at, "vega_lite_chart", "sh_chart", {"cell": [{"query_pos": 4, "key_pos": 1}]})
    assert not exceptions_of(at), exceptions_of(at)
    assert at.session_state["q"] == 4 and at.query_params["q"] == "4"
    assert_kept(at, 0, 0)


@pytest.mark.parametrize("start", PAGES)
def test_page_switches_after_typing_run_clean_on_every_page(start: str) -> None:
    at = typed(start)
    for page in [*PAGES, start]:
        at.switch_page(page).run()
        assert not exceptions_of(at), (start, page, exceptions_of(at))
        assert not errors_of(at), (start, page, errors_of(at))
        assert (at.session_state["text"], at.session_state["pair"]) == (SENTENCE, PAIR), (start, page)


def _lens_buttons(at: AppTest):
    (group,) = [g for g in at.get("button_group") if g.proto.id.endswith("-lens")]
    return group


def test_lens_is_kept_across_page_switches() -> None:
    at = make_app(None, lens="rollout")
    at.text_area(key="text").set_value("Dogs chase cats in the park.").run()
    at.switch_page("pages/single_head.py").run()  # raised StreamlitWidgetAlreadyInstantiatedError
    assert not exceptions_of(at), exceptions_of(at)
    for page in ("pages/model_tokens.py", "pages/layer_average.py", "pages/single_head.py"):
        at.switch_page(page).run()
        assert not exceptions_of(at), (page, exceptions_of(at))
    assert at.session_state["lens"] == "rollout" and at.query_params["lens"] == "rollout"
    assert "Attention rollout" in json.dumps(chart_frames(at.get("vega_lite_chart")[0])[0]["title"])


def test_lens_buttons_show_the_lens_in_use_after_the_text_was_emptied() -> None:
    at = make_app(None, lens="average")
    at.text_area(key="text").set_value("").run()
    assert not at.get("button_group")  # the page stops at "the text is empty"
    at.text_area(key="text").set_value("A brand new sentence.").run()
    buttons = _lens_buttons(at)
    # The re-created buttons are told their value (the browser highlights it) ...
    assert buttons.proto.set_value and list(buttons.proto.raw_values) == ["Head average"]
    # ... and it is the lens the chart uses.
    assert "Head average" in json.dumps(chart_frames(at.get("vega_lite_chart")[0])[0]["title"])
    at.run()
    assert not exceptions_of(at) and at.session_state["lens"] == "average"


def test_every_control_keeps_its_value_across_a_page_switch() -> None:
    at = make_app(None, sh_hide=1, sh_prune="top_k", sh_k=2, q=3)
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="ch").set_value(7).run()
    at.switch_page("pages/head_atlas.py").run()
    at.selectbox(key="stat").set_value("self_score").run()
    at.switch_page("pages/single_head.py").run()
    ss = at.session_state
    assert (ss["sh_hide"], ss["sh_prune"], ss["sh_k"], ss["q"]) == (True, "top_k", 2, 3)
    at.switch_page("pages/compare.py").run()
    assert at.session_state["ch"] == 7
    at.switch_page("pages/head_atlas.py").run()
    assert at.session_state["stat"] == "self_score"
    assert not exceptions_of(at)


def _link_queries(at: AppTest) -> dict[str, str]:
    """The sidebar's page links: page URL path -> the query string each carries."""
    return {e.proto.page: e.proto.query_string for e in at.get("page_link")}


def test_page_links_carry_the_view_as_the_url_does() -> None:
    """Every page link carries model, text, pair, layer and head, as the page's own URL writes them
    (so a link opened in a new tab shows the same view); a text too long for the URL
    (state.MAX_URL_TEXT_CHARS) is left out of the links too."""
    text = "The keys to the cabinet are on the table."
    at = make_app("pages/head_atlas.py", text=text, layer=2, head=5)
    queries = _link_queries(at)
    assert len(queries) == len(page_table.PAGES), queries
    for query in queries.values():
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        assert (params.get("text"), params.get("layer"), params.get("head"), params.get("pair")) == \
            (text, "2", "5", ""), query
        url = {k: v if isinstance(v, str) else v[0] for k, v in at.query_params.items()}
        assert params.get("model") and params == {k: url[k] for k in params}, (params, url)

    long_text = "word " * (state.MAX_URL_TEXT_CHARS // 4)
    at = make_app("pages/head_atlas.py", text=long_text, layer=2, head=5)
    assert not exceptions_of(at)
    for query in _link_queries(at).values():
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        assert "text" not in params and "text" not in at.query_params and params.get("layer") == "2", query
