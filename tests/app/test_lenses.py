"""Lenses and token controls on the heatmap pages, through AppTest."""

from __future__ import annotations

import pytest

from tests.app.apptest_util import charts_of, errors_of, exceptions_of, make_app, texts_of
from tests.app.test_state import chart_frames

TEXT = "Unbelievably, the tokenizer splits words."


def biggest_frame(at):
    _, frames = chart_frames(charts_of(at)[0])
    return max(frames, key=len)


@pytest.mark.parametrize("page,key,lens", [
    (None, "lens", "raw"), (None, "lens", "average"), (None, "lens", "rollout"), (None, "lens", "norm"),
    ("pages/layer_average.py", "llens", "average"), ("pages/layer_average.py", "llens", "rollout"),
    ("pages/layer_average.py", "llens", "norm"),
])
def test_every_lens_draws_a_heatmap(page, key, lens) -> None:
    at = make_app(page, text=TEXT, **{key: lens})
    assert not exceptions_of(at) and not errors_of(at), (exceptions_of(at), errors_of(at))
    frame = biggest_frame(at)
    n = frame["query"].nunique()
    assert len(frame) == n * n and frame["key"].nunique() == n
    assert at.session_state[key] == lens
    if lens == "norm" and page is None:
        assert "norm-based attention" in " ".join(texts_of(at))


@pytest.mark.parametrize("page,key", [(None, "lens"), ("pages/layer_average.py", "llens")])
def test_flow_lens_needs_a_query_then_draws_it(page, key) -> None:
    at = make_app(page, text="The cat sat on the mat.", **{key: "flow"})
    assert not exceptions_of(at)
    assert any("Pick a query" in i.value for i in at.info)
    at.selectbox(key="q").set_value(2).run()
    assert not exceptions_of(at) and not errors_of(at)
    _, frames = chart_frames(charts_of(at)[0])
    bars = max(frames, key=len)
    assert abs(bars["value"].sum() - 1.0) < 1e-3  # flow from one query: shares of its inputs
    (table,) = [d.value for d in at.dataframe]
    assert list(table.columns) == ["position", "token", "flow", "rollout"]
    assert abs(table["flow"].sum() - 1.0) < 1e-3 and abs(table["rollout"].sum() - 1.0) < 1e-3


def test_flow_is_bounded_with_an_explanation() -> None:
    at = make_app(None, text=" ".join(["word"] * 60), lens="flow", q="3")
    assert not exceptions_of(at)
    assert any("offered up to" in w.value for w in at.warning)


def test_hide_special_merge_words_and_pruning() -> None:
    at = make_app(None, text=TEXT)
    n = biggest_frame(at)["query"].nunique()
    at.session_state["sh_hide"] = True
    at.run()
    assert biggest_frame(at)["query"].nunique() == n - 2
    assert any("renormalised" in t for t in texts_of(at))
    at.session_state["sh_hide"] = False
    at.session_state["sh_words"] = True
    at.run()
    merged = biggest_frame(at)
    assert merged["query"].nunique() < n
    assert merged.groupby("query_pos")["weight"].sum().round(3).eq(1.0).all()
    at.session_state["sh_words"] = False
    at.session_state["sh_prune"] = "top_k"
    at.session_state["sh_k"] = 2
    at.run()
    pruned = biggest_frame(at)
    assert (pruned.groupby("query_pos")["weight"].apply(lambda w: (w > 0).sum()) <= 2).all()
    assert not exceptions_of(at)


def test_strongest_connections_are_drawn_only_when_their_expander_is_open() -> None:
    """The table (a data grid: the heaviest thing a first paint could draw) waits for the user."""
    at = make_app(None)
    assert not exceptions_of(at)
    assert [e.label for e in at.expander if "Strongest" in e.label] == ["Strongest connections (table)"]
    assert len(at.dataframe) == 0
    assert "sh_strong" not in at.query_params
    at = make_app(None, sh_strong=1, sh_topk=4)
    assert not exceptions_of(at)
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert len(table) == 4
    assert list(table["weight"]) == sorted(table["weight"], reverse=True)
    assert at.query_params["sh_strong"] == "1" and at.query_params["sh_topk"] == "4"


def test_downloads_sit_in_one_popover() -> None:
    at = make_app(None)
    wanted = ["Chart (PNG)", "Chart (SVG)", "Data (CSV)", "All weights (NPZ, for notebooks)"]
    assert [b.label for b in at.get("download_button")] == wanted
    popovers = [p for p in at.get("popover")
                if [getattr(c, "label", None) for c in p.children.values()] == wanted]
    assert len(popovers) == 1


def test_an_older_link_with_a_top_k_opens_the_table() -> None:
    at = make_app(None, sh_topk=7)
    assert not exceptions_of(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 7


def test_closing_and_reopening_the_table_keeps_its_k() -> None:
    at = make_app(None, sh_strong=1, sh_topk=6)
    assert len(at.dataframe[0].value) == 6
    at.session_state["sh_strong"] = False
    at.run()
    assert len(at.dataframe) == 0 and "sh_topk" not in at.query_params
    at.session_state["sh_strong"] = True
    at.run()
    assert not exceptions_of(at)
    assert len(at.dataframe[0].value) == 6 and at.query_params["sh_topk"] == "6"
