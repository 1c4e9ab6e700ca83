"""The heatmap panel through AppTest: the cell-number switch and the table view of the drawn
numbers."""

from __future__ import annotations

import json

import numpy as np

from tests.app.apptest_util import charts_of, exceptions_of, make_app, texts_of
from tests.app.test_state import chart_frames

_WORDS = ("the cat sat on the mat and the dog played in the park while she said that it was "
          "sleeping near the big red door").split()


def text_of(n_tokens: int) -> str:
    """A text of n_tokens for the bundled MiniLM ([CLS] + one token per word + [SEP])."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(n_tokens - 2))


def marks(at) -> list[str]:
    spec, _ = chart_frames(charts_of(at)[0])
    found = []

    def visit(node):
        if isinstance(node, dict):
            mark = node.get("mark")
            if mark is not None:
                found.append(mark if isinstance(mark, str) else mark.get("type"))
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)
    visit(spec)
    return found


def test_cell_numbers_switch_between_21_and_40_tokens() -> None:
    at = make_app(None, text=text_of(30))
    assert not exceptions_of(at), exceptions_of(at)
    assert "image" in marks(at) and "text" not in marks(at)  # 30 tokens: an image, no numbers
    said = " ".join(texts_of(at))
    assert "Cell numbers are hidden above 20 tokens (30 here)" in said
    toggle = at.toggle(key="sh_nums")
    assert toggle.label == "Show cell numbers" and toggle.value is False
    toggle.set_value(True).run()
    assert not exceptions_of(at)
    assert "text" in marks(at) and "image" not in marks(at)  # numbers on: the rect + text chart
    assert at.query_params["sh_nums"] == "1"
    assert "Cell numbers are hidden" not in " ".join(texts_of(at))
    # the switch keeps its value across a page switch and back, like the other controls
    at.switch_page("pages/across_layers.py").run()
    at.switch_page("pages/single_head.py").run()
    assert not exceptions_of(at)
    assert at.toggle(key="sh_nums").value is True and "text" in marks(at)


def test_a_link_with_cell_numbers_opens_with_them() -> None:
    at = make_app(None, text=text_of(30), sh_nums="1")
    assert not exceptions_of(at)
    assert at.toggle(key="sh_nums").value is True and "text" in marks(at)


def test_no_switch_at_20_tokens_or_less_nor_above_40() -> None:
    at = make_app(None, text=text_of(14))
    assert not exceptions_of(at)
    assert not [t for t in at.toggle if t.key == "sh_nums"]
    assert "text" in marks(at)  # numbers by default
    at = make_app(None, text=text_of(48))
    assert not exceptions_of(at)
    assert not [t for t in at.toggle if t.key == "sh_nums"]
    assert "Cell numbers are hidden above 40 tokens (48 here)" in " ".join(texts_of(at))


def test_table_view_is_built_only_when_opened_and_holds_the_drawn_numbers() -> None:
    at = make_app(None, text="the cat sat on the mat.")
    assert not exceptions_of(at)
    assert [e.label for e in at.expander if "as a table" in e.label] == ["The numbers as a table"]
    assert len(at.dataframe) == 0 and "sh_table" not in at.query_params
    at = make_app(None, text="the cat sat on the mat.", sh_table="1")
    assert not exceptions_of(at)
    assert at.query_params["sh_table"] == "1"
    (table,) = [d.value for d in at.dataframe]
    _, frames = chart_frames(charts_of(at)[0])
    cells = max(frames, key=len)
    n = cells["query"].nunique()
    assert table.shape == (n, n)  # rows = queries, columns = keys
    drawn = cells.pivot(index="query", columns="key", values="weight")
    labels = list(dict.fromkeys(cells.sort_values(["query_pos", "key_pos"])["query"]))
    assert list(table.index) == labels and list(table.columns) == labels
    np.testing.assert_array_equal(table.to_numpy(), drawn.loc[labels, labels].to_numpy().astype(np.float64))
    spec, _ = chart_frames(charts_of(at)[0])
    assert spec["description"].startswith("Heatmap: Raw attention · layer 0, head 0.")
    assert json.dumps(spec).count("description") >= 1


def test_across_layers_tables_hold_each_layers_weights_and_each_heads_strongest_connection() -> None:
    """The grids of Across layers have their numbers one click away: the chosen
    layer's matrix of the selected head, and the overview's heads as rows."""
    from core.attention.extract import extract
    from ui import cache

    text = "the cat sat on the mat."
    at = make_app("pages/across_layers.py", text=text, head=4, al_grid_table="1", al_thumbs_table="1")
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["al_grid_table"] == "1"
    at.selectbox(key="al_grid_table_layer").set_value(2).run()
    grid_table = next(d.value for d in at.dataframe if d.value.shape[0] == d.value.shape[1])
    res = extract(cache.get_engine().model("all-MiniLM-L6-v2"), text)
    np.testing.assert_allclose(grid_table.to_numpy(), res.attention[2, 4].astype(np.float64), atol=1e-6)
    overview = next(d.value for d in at.dataframe if "strongest_weight" in d.value.columns)
    assert len(overview) == res.num_layers * res.num_heads
    row = overview[(overview["layer"] == 2) & (overview["head"] == 4)].iloc[0]
    weights = res.attention[2, 4].astype(np.float64).copy()
    np.fill_diagonal(weights, -1)
    assert abs(row["strongest_weight"] - weights.max()) < 1e-6
    # closed (the default), the overview's table is not built: no 72-row table on a first visit
    closed = make_app("pages/across_layers.py", text=text, head=4)
    assert not any("strongest_weight" in d.value.columns for d in closed.dataframe)


def test_compare_has_a_table_view_for_a_b_and_the_difference() -> None:
    at = make_app("pages/compare.py", cmp_d_table="1")
    assert not at.exception, [e.value for e in at.exception]
    labels = [e.label for e in at.expander if "as a table" in e.label]
    assert labels.count("The numbers as a table") == 3, labels
    assert any(d.value.shape[0] == d.value.shape[1] for d in at.dataframe)
