"""core.probing.charts: the head x relation map, the best-head bars and the arc view build valid
Vega-Lite, fit a column, and mark agreeing arcs correctly."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.probing import syntax
from core.probing import charts as rs
from core.render import vega
from tests.core.test_probing_syntax import planted_counts

WORDS = ("The", "cat", "sat", "on", "the", "mat", ".")
ARCS = ((0, 1, "det"), (1, 2, "nsubj"), (3, 2, "prep"), (4, 5, "det"), (5, 3, "pobj"), (6, 2, "punct"))


def head_attention() -> np.ndarray:
    """Every word attends to its parse head, except 'cat' (to 'the') and the root (to '.')."""
    w = np.zeros((7, 7))
    for d, h, _ in ARCS:
        w[d, h] = 0.8
    w[1, :] = 0
    w[1, 4] = 0.6
    w[2, 6] = 0.5
    w += 0.01
    np.fill_diagonal(w, 0.05)
    return w / w.sum(axis=1, keepdims=True)


def test_arc_table_marks_agreement():
    t = rs.arc_table(WORDS, ARCS, head_attention())
    assert t["agrees"].tolist() == [True, False, None, True, True, True, True]
    assert t.loc[1, "strongest"] == "the" and t.loc[1, "parse_head"] == "sat"
    assert t.loc[2, "head_position"] == -1  # the root has no parse head
    # head -> dependent: for each word, the word that attends to it most
    tt = rs.arc_table(WORDS, ARCS, head_attention(), syntax.DIRECTIONS[1])
    assert tt.loc[5, "strongest"] == "the"  # 'the' attends most to 'mat'
    with pytest.raises(ValueError):
        rs.arc_table(WORDS, ARCS, np.ones((3, 3)))


def test_arc_chart_spec():
    chart = rs.arc_chart(WORDS, ARCS, head_attention(), subtitle="layer 0, head 0")
    spec = chart.to_dict(validate=True)
    assert spec["width"] <= rs.MAX_WIDTH
    # the arcs' points carry numbers only; each arc's status, weight and tooltip are one row of a
    # second table, looked up in the browser
    points = chart.layer[0].data
    assert list(points.columns) == ["arc", "i", "x", "y"] and points["x"].dtype == np.float32
    lookup = chart.layer[0].transform[0]
    info = lookup["from"].data
    assert lookup.lookup == "arc" and list(lookup["from"].fields) == ["status", "weight", "what"]
    assert sorted(info["arc"]) == sorted(points["arc"].unique())
    statuses = set(info["status"]) | {d["status"] for d in chart.layer[1].data.to_dict("records")}
    assert statuses == {"agrees", "parse only", "attention only"}
    kind = points["arc"].map(info.set_index("arc")["kind"])
    parse_arcs, attn_arcs = points[kind == "parse"], points[kind == "attention"]
    assert parse_arcs["arc"].nunique() == len(ARCS) and (parse_arcs["y"] > 0).all()
    assert attn_arcs["arc"].nunique() == len(WORDS) and (attn_arcs["y"] < 0).all()
    assert info.loc[info["kind"] == "parse", "what"].str.startswith("parse: ").all()
    # a long sentence still fits the column (narrower steps, slanted words)
    words = tuple(f"w{i}" for i in range(30))
    arcs = tuple((i, i + 1, "dep") for i in range(29))
    long = rs.arc_chart(words, arcs, np.full((30, 30), 1 / 30)).to_dict(validate=True)
    assert long["width"] <= 34 * 30


def test_heatmap_and_bars_fit_and_validate():
    counts = planted_counts("wordpiece")
    table = syntax.head_relation_map(counts)
    chart = rs.head_relation_heatmap(table, counts.layers, counts.heads, selected=(0, 1))
    spec = chart.to_dict(validate=True)
    assert spec["width"] <= rs.MAX_WIDTH
    assert any(p.get("name") == "head" for p in spec.get("params", []) + [
        q for layer in spec["layer"] for q in layer.get("params", [])])
    # the dashed rule on the selected head's column is drawn from the marked-head dataset, so a
    # memoised map moved with with_marked equals one built for that head
    unmarked = rs.head_relation_heatmap(table, counts.layers, counts.heads, marking=True).to_dict()
    assert vega.with_marked(unmarked, (0, 1)) == spec
    import vl_convert

    def rules(s: dict) -> list:
        scene = json.dumps(vl_convert.vegalite_to_scenegraph(s))
        return re.findall(r'"strokeDash": \[3, 2\]', scene)

    assert len(rules(spec)) == 1 and rules(unmarked) == []
    margin = rs.head_relation_heatmap(table, counts.layers, counts.heads, value="margin").to_dict(validate=True)
    assert margin["layer"][0]["encoding"]["color"]["scale"]["scheme"] == "redblue"
    with pytest.raises(ValueError):
        rs.head_relation_heatmap(table, counts.layers, counts.heads, value="bogus")
    # a BERT-base sized grid (12 x 12 = 144 heads) still fits
    big = table.assign(layer=table["layer"] * 0 + 11, head=table["head"] + 9)
    assert rs.head_relation_heatmap(big, 12, 12).to_dict(validate=True)["width"] <= rs.MAX_WIDTH
    best = syntax.best_heads(counts)
    bars = rs.best_head_chart(best)
    spec = bars.to_dict(validate=True)
    assert spec["width"] <= rs.MAX_WIDTH
    data = bars.data
    assert len(data) == 2 * len(best)
    assert set(data.loc[data["bar"] == "best offset guess", "label"]) <= {f"{k:+d}" for k in counts.offsets}
    held = rs.best_head_chart(best, held_out=True)
    assert "n/a" in set(held.data["value_text"]) or held.data["value"].notna().all()
    assert vega.chart_spec(held)


def test_arc_views_of_two_heads_differ_only_in_data_once_named_by_position():
    """vega.with_stable_data: the datasets are renamed by position with every reference, so two
    heads' views of one sentence have the same spec body, and each still draws as before."""
    import vl_convert

    other = np.roll(head_attention(), 1, axis=1)
    a = vega.chart_spec(rs.arc_chart(WORDS, ARCS, head_attention()))
    b = vega.chart_spec(rs.arc_chart(WORDS, ARCS, other))
    sa, sb = vega.with_stable_data(a, "arcs"), vega.with_stable_data(b, "arcs")
    assert list(sa["datasets"]) == [f"arcs{i}" for i in range(len(a["datasets"]))]
    body = {k: v for k, v in sa.items() if k != "datasets"}
    assert body == {k: v for k, v in sb.items() if k != "datasets"} and sa["datasets"] != sb["datasets"]
    assert not any(name in json.dumps(body) for name in a["datasets"])  # every reference renamed
    assert vl_convert.vegalite_to_svg(sa) == vl_convert.vegalite_to_svg(a)
    assert vega.with_stable_data({"mark": "point"}, "x") == {"mark": "point"}  # nothing to rename
