"""core.render.matrix: DrawMatrix, the one long table, labels and the size guards (blocks,
windows) keep sentence positions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.render import heatmaps
from core.render import matrix as M
from core.render.matrix import CELL_BUDGET, CellBudgetError, DrawMatrix
from core.render.vega import chart_spec
from tests.core.synthetic import SENTENCE, causal, main_rows, softmax, tokens, walk


def chart_rows(dm, **kwargs):
    """The inline data rows of the heatmap drawn from dm."""
    return main_rows(chart_spec(heatmaps.heatmap(dm, title="t", **kwargs)))


# --------------------------------------------------------------------------- labels


def test_token_labels_unique_ordered_with_repeats():
    labels = M.token_labels(SENTENCE)
    assert labels[1] == "1 · the" and labels[5] == "5 · the"
    assert len(set(labels)) == len(SENTENCE)
    assert M.token_labels(["a", "b"], positions=[40, 41]) == ["40 · a", "41 · b"]
    assert M.token_labels(["New York", "a\u200bb"]) == ["0 · New York", "1 · a<U+200B>b"]
    with pytest.raises(ValueError):
        M.token_labels(["a", "b"], positions=[1])


# --------------------------------------------------------------------------- long table


def test_long_table_of_one_matrix():
    n = len(SENTENCE)
    a, mask = causal((n, n))
    df = M.long_table(a, SENTENCE, allowed=mask)
    assert list(df.columns) == ["query_pos", "key_pos", "query", "key", "weight", "allowed"]
    assert len(df) == n * n and df["weight"].dtype == np.float64
    row = df[(df.query_pos == 3) & (df.key_pos == 1)].iloc[0]
    assert row.weight == pytest.approx(float(a[3, 1]))
    assert row.query == "3 · sat" and row.key == "1 · the"
    assert bool(row.allowed) and not bool(df[(df.query_pos == 1) & (df.key_pos == 3)].allowed.iloc[0])
    np.testing.assert_allclose(df.groupby("query_pos").weight.sum(), 1.0, atol=1e-5)
    assert M.long_table(a, SENTENCE)["allowed"].all()


def test_long_table_leading_axes_and_raw_labels():
    a = softmax((2, 3, 4, 4))
    toks = ["a", "b", "a", "c"]
    df = M.long_table(a, toks, labels=toks, leading=("layer", "head"))
    assert list(df.columns[:2]) == ["layer", "head"] and len(df) == 2 * 3 * 16
    row = df[(df["layer"] == 1) & (df["head"] == 2) & (df.query_pos == 3) & (df.key_pos == 0)].iloc[0]
    assert row.weight == pytest.approx(float(a[1, 2, 3, 0])) and row.query == "c" and row.key == "a"
    np.testing.assert_allclose(df["weight"].to_numpy(), a.reshape(-1))  # leading axes outermost, query-major
    cut = M.long_table(a[1:, 2:], toks, leading={"layer": [1], "head": [2]}, positions=[5, 6, 7, 8])
    assert set(cut["layer"]) == {1} and set(cut["head"]) == {2} and cut.query_pos.tolist()[:5] == [5, 5, 5, 5, 6]
    with pytest.raises(ValueError):
        M.long_table(a, toks)  # two leading axes need two names
    with pytest.raises(ValueError):
        M.long_table(a[0, 0], toks[:3])


# --------------------------------------------------------------------------- DrawMatrix


def test_draw_matrix_of_normalises_and_validates():
    a = softmax((4, 4))
    dm = DrawMatrix.of(a, ["a", "b", "a", "c"], positions=[2, 3, 5, 9], allowed=np.tril(np.ones((4, 4))))
    assert dm.tokens == ("a", "b", "a", "c") and dm.positions.dtype == np.int64 and dm.allowed.dtype == bool
    assert dm.n == 4 and dm.mode == "full" and dm.block == 1 and dm.notes == () and dm.labels is None
    assert dm.axis_labels == ("2 · a", "3 · b", "5 · a", "9 · c")
    with pytest.raises(ValueError):
        DrawMatrix.of(softmax((4, 5)), "abcd")
    with pytest.raises(ValueError):
        DrawMatrix.of(a, "abc")
    with pytest.raises(ValueError):
        DrawMatrix.of(a, "abcd", positions=[0, 1, 1, 2])
    with pytest.raises(ValueError):
        DrawMatrix.of(a, "abcd", allowed=np.ones((3, 3)))
    with pytest.raises(ValueError):
        DrawMatrix(a, tuple("abcd"), np.arange(4), labels=("x", "x", "y", "z"))


@pytest.mark.parametrize("mode", ["full", "blocks", "window"])
def test_table_is_exactly_what_the_chart_draws(mode):
    n = 12
    a, mask = causal((n, n))
    pos = np.arange(n) * 2 + 1  # e.g. tokens left out between rows
    dm = DrawMatrix.of(a, tokens(n), positions=pos, allowed=mask)
    drawn = M.prepare(dm, mode, start=3, size=5, max_cells=36 if mode == "blocks" else CELL_BUDGET)
    table = drawn.table()
    rows = pd.DataFrame(chart_rows(drawn))
    assert rows["query_pos"].tolist() == table["query_pos"].tolist()
    assert rows["key_pos"].tolist() == table["key_pos"].tolist()
    assert rows["query"].tolist() == table["query"].tolist() == np.repeat(drawn.axis_labels, drawn.n).tolist()
    assert rows["allowed"].tolist() == table["allowed"].tolist()
    np.testing.assert_allclose(rows["weight"], table["weight"], rtol=1e-6)
    assert sorted(set(table["query_pos"])) == drawn.positions.tolist()


# --------------------------------------------------------------------------- size guards


def test_downsample_rows_sum_to_one_and_fit_budget():
    n = 512
    a = softmax((n, n))
    small = M.downsample(DrawMatrix.of(a, tokens(n)))
    assert small.n ** 2 <= CELL_BUDGET and small.mode == "blocks" and small.special is None
    np.testing.assert_allclose(small.matrix.sum(axis=1), 1.0, atol=1e-5)
    assert small.notes and "512" in small.notes[-1]
    assert small.axis_labels[0].startswith("0–1 · ") and small.axis_labels[0].endswith("…")
    assert len(set(small.axis_labels)) == small.n
    fits = DrawMatrix.of(a[:50, :50] / a[:50, :50].sum(1, keepdims=True), tokens(50))
    assert M.downsample(fits) is fits


def test_downsample_block_average_values_and_causal():
    a, mask = causal((10, 10))
    prep = M.prepare(DrawMatrix.of(a, tokens(10), allowed=mask), "blocks", max_cells=25)
    assert prep.matrix.shape == (5, 5) and prep.block == 2
    assert prep.matrix[1, 0] == pytest.approx(a[2:4, 0:2].sum(axis=1).mean())
    np.testing.assert_allclose(prep.matrix.sum(axis=1), 1.0, atol=1e-5)
    assert prep.allowed[0, 0] and not prep.allowed[0, 1] and prep.allowed[4, 4]
    assert list(prep.positions) == [0, 2, 4, 6, 8]


def test_prepare_modes_and_heatmap_of_prepared():
    n = 512
    a = softmax((n, n))
    dm = DrawMatrix.of(a, tokens(n), notes=["Special tokens hidden."])
    auto = M.prepare(dm)
    assert auto.mode == "blocks" and auto.matrix.size <= CELL_BUDGET and len(auto.notes) == 2
    assert auto.notes[0] == "Special tokens hidden."  # the controls' notes come first
    rows = chart_rows(auto, subtitle=auto.notes[-1])
    # past 20 rows the heatmap is a raster: one data row per query (block), not one per cell
    assert len(rows) == auto.matrix.shape[0] and auto.matrix.size <= CELL_BUDGET
    assert [r["pos"] for r in rows] == auto.positions.tolist()
    with pytest.raises(CellBudgetError):
        M.prepare(dm, "full")
    with pytest.raises(CellBudgetError):
        heatmaps.heatmap(dm, title="x")
    win = M.prepare(dm, "window", start=100, size=32)
    assert win.matrix.shape == (32, 32) and win.axis_labels[0].startswith("100 · ")
    assert list(win.positions) == list(range(100, 132)) and "not renormalised" in win.notes[-1]
    end = M.window(dm, 500, 32)  # clamped to the end
    assert end.n == 32 and end.axis_labels[-1].startswith("511 · ")
    spec = chart_spec(heatmaps.heatmap(win, title="w", selected_query=105))
    filters = [f["filter"] for t in walk(spec, "transform") for f in t if "filter" in f]
    # the raster's focus outline picks the focused query's row (position 105 is row 5 of the window)
    assert any("datum.idx === 5" in f for f in filters)
    whole = M.prepare(DrawMatrix.of(a[:8, :8], tokens(8)), "window", size=64)
    assert whole.n == 8 and whole.mode == "window" and whole.notes == ()
    with pytest.raises(ValueError):
        M.prepare(dm, "nope")


def test_positions_survive_hidden_specials_blocks_and_windows():
    n = 8
    a = softmax((n, n))
    pos = np.arange(1, n + 1)  # e.g. [CLS] hidden: rows are tokens 1..8
    dm = DrawMatrix.of(a, tokens(n), positions=pos, special=np.zeros(n, bool))
    full = M.prepare(dm)
    assert full.axis_labels[0] == "1 · the" and list(full.positions) == list(pos)
    blocks = M.prepare(dm, "blocks", max_cells=16)
    assert blocks.axis_labels[0] == "1–2 · the…" and list(blocks.positions) == [1, 3, 5, 7]
    win = M.prepare(dm, "window", start=2, size=3)
    assert list(win.axis_labels) == ["3 · sat", "4 · on", "5 · the"] and win.special.tolist() == [False] * 3
    rows = chart_rows(full)
    assert {r["query_pos"] for r in rows} == set(pos.tolist())
    # a focused query inside a block outlines that block's row
    spec = chart_spec(heatmaps.heatmap(blocks, title="b", selected_query=4))
    filters = [f["filter"] for t in walk(spec, "transform") for f in t if "filter" in f]
    assert any("datum.query_pos == 3 && datum.key_pos == 1" in f for f in filters)


def test_symmetric_domain_is_centred_on_zero() -> None:
    assert M.symmetric_domain(np.array([[-0.2, 0.5], [0.1, 0.0]])) == (-0.5, 0.5)
    assert M.symmetric_domain(np.zeros((2, 2))) == (-1.0, 1.0)
    assert M.symmetric_domain(np.array([np.nan, -0.3])) == (-0.3, 0.3)
