"""ui.presenter.spec_of: a chart's Vega-Lite spec is made once per chart object and shared by the
copies ui.cache hands out of the engine (core.render.vega.shared_copy), and drawing it sends what
st.altair_chart would send for the chart in the viewer's theme colours."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.render import vega
from ui import presenter


def _chart() -> alt.Chart:
    frame = pd.DataFrame({"query": ["a", "b"], "key": ["a", "b"], "weight": [0.25, 0.75]})
    return alt.Chart(frame).mark_rect().encode(x="key:O", y="query:O", color="weight:Q")


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every call of Streamlit's Altair -> Vega-Lite conversion made through spec_of."""
    calls: list[object] = []
    real = presenter._streamlit_spec
    assert real is not None, "this Streamlit has no _convert_altair_to_vega_lite_spec"

    def counting(chart: object) -> dict:
        calls.append(chart)
        return real(chart)

    monkeypatch.setattr(presenter, "_streamlit_spec", counting)
    return calls


def test_spec_is_made_once_per_chart(conversions: list[object]) -> None:
    chart = _chart()
    first = presenter.spec_of(chart)
    assert presenter.spec_of(chart) is first
    assert len(conversions) == 1
    assert set(first["datasets"]) and all(isinstance(v, bytes) for v in first["datasets"].values())


def test_copies_of_a_memoised_chart_share_one_conversion(conversions: list[object]) -> None:
    memo = _chart()
    one, two = vega.shared_copy(memo), vega.shared_copy(memo)  # what ui.cache hands out
    assert presenter.spec_of(one) is presenter.spec_of(two)
    assert len(conversions) == 1
    # A chart derived from it (Altair returns a new object) gets its own spec, never a stale one.
    wider = two.properties(width=300)
    assert presenter.spec_of(wider)["width"] == 300
    assert "width" not in presenter.spec_of(memo)
    assert len(conversions) == 2


def test_presenter_spec_is_kept_apart() -> None:
    chart = vega.with_spec_slot(_chart())
    normal = presenter.spec_of(chart)
    projected = presenter.spec_of(chart, presenter=True)
    assert projected is not normal
    assert all(isinstance(rows, list) for rows in projected["datasets"].values())  # inline rows, for the slides
    assert presenter.spec_of(chart) is normal


def _both_ways() -> None:
    import altair as alt
    import pandas as pd
    import streamlit as st

    from core.render import vega
    from ui import presenter

    frame = pd.DataFrame({"query": ["a", "b"], "key": ["a", "b"], "weight": [0.25, 0.75]})
    chart = alt.Chart(frame).mark_rect().encode(x="key:O", y="query:O", color="weight:Q")
    # presenter.chart draws in the viewer's theme colours (vega.themed): the reference is
    # st.altair_chart of the same chart with that config, which Altair then owns and converts.
    reference = chart.copy()
    reference.config = alt.Config.from_dict(vega.themed({}, presenter.theme())["config"])
    st.altair_chart(reference, width="content")
    presenter.chart(chart, width="content")
    presenter.chart(chart, width="content")  # the second draw uses the kept spec


def test_drawn_message_equals_st_altair_chart() -> None:
    at = AppTest.from_function(_both_ways)
    at.run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3
    reference = charts[0].proto
    for drawn in charts[1:]:
        # The same spec; Altair writes the config's keys in another order than vega.themed adds them.
        assert json.loads(drawn.proto.spec) == json.loads(reference.spec)
        assert [(d.name, d.data.data) for d in drawn.proto.datasets] == \
            [(d.name, d.data.data) for d in reference.datasets]
        assert drawn.proto.theme == reference.theme


def test_an_object_without_attributes_has_no_spec() -> None:
    assert presenter.spec_of(object()) is None  # chart() then falls back to st.altair_chart


@pytest.mark.parametrize("page", ["pages/head_atlas.py", "pages/pattern_classes.py"])
def test_a_head_change_moves_the_outline_without_building_the_grid_again(page: str, monkeypatch) -> None:
    """The overview grid is a memo marking no head; each run sets the marked head in its spec."""
    from core.render import grids
    from tests.app.apptest_util import charts_of, exceptions_of, make_app

    import pyarrow as pa

    from core.render import vega

    built: list[object] = []
    real = grids.overview_grid

    def counting(*args, **kwargs):
        built.append((kwargs.get("selected"), kwargs.get("marking")))
        return real(*args, **kwargs)

    monkeypatch.setattr(grids, "overview_grid", counting)
    at = make_app(page, layer=1, head=2)
    assert not exceptions_of(at)

    def marked() -> set[tuple[int, int]]:
        found = set()
        for element in charts_of(at):
            for dataset in element.proto.datasets:
                if dataset.name == vega.MARKED_DATA:
                    rows = pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
                    found.update((row["layer"], row["head"]) for row in rows)
        return found

    assert marked() == {(1, 2)}
    first = len(built)  # 0 when an earlier test in this process built the same memo
    assert all(b == (None, True) for b in built)
    specs = {element.proto.spec for element in charts_of(at)}
    for head in (5, 7):
        at.selectbox(key="head").set_value(head).run()
        assert not exceptions_of(at)
        assert marked() == {(1, head)}
        assert {element.proto.spec for element in charts_of(at)} == specs  # the browser updates data only
    assert len(built) == first  # moved, never rebuilt



def test_a_head_change_moves_the_thumbnail_outline_without_building_the_grid_again(monkeypatch) -> None:
    """Across layers: the thumbnail grid is a memo (one per text) marking no head; each run sets the
    marked head in its spec, so a head change sends the same spec with new marked-head data."""
    import pyarrow as pa

    from core.render import grids, vega
    from tests.app.apptest_util import charts_of, exceptions_of, make_app

    built: list[object] = []
    real = grids.thumbnail_grid

    def counting(*args, **kwargs):
        built.append((kwargs.get("selected"), kwargs.get("marking")))
        return real(*args, **kwargs)

    monkeypatch.setattr(grids, "thumbnail_grid", counting)
    at = make_app("pages/across_layers.py", layer=1, head=2)
    assert not exceptions_of(at)

    def thumbnails():
        found = [element for element in charts_of(at)
                 if any(d.name == vega.MARKED_DATA for d in element.proto.datasets)]
        assert len(found) == 1
        return found[0].proto

    def marked() -> set[tuple[int, int]]:
        dataset = next(d for d in thumbnails().datasets if d.name == vega.MARKED_DATA)
        return {(row["layer"], row["head"]) for row in pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()}

    assert marked() == {(1, 2)}
    first = len(built)  # 0 when an earlier test in this process built the same memo
    assert all(b == (None, True) for b in built)
    spec = thumbnails().spec
    for head in (5, 7):
        at.selectbox(key="head").set_value(head).run()
        assert not exceptions_of(at)
        assert marked() == {(1, head)}
        assert thumbnails().spec == spec  # the browser updates data only
    assert len(built) == first  # moved, never rebuilt
