"""core.analysis.compare and core.analysis.tables: what the Compare, Pattern breakdown, Rollout and
flow, and Model and tokens pages show, computed outside the pages."""

from __future__ import annotations

import types

import numpy as np
import pytest

from core.analysis import compare, lenses, patterns, tables
from core.attention.extract import extract
from tests.core.synthetic import identity, previous_token_head, random_attention, uniform


def test_compare_heads_identical_and_disjoint() -> None:
    a = random_attention(6, 1, 1)[0, 0]
    same = compare.compare_heads(a, a)
    assert np.all(same.difference == 0) and same.mean_divergence == pytest.approx(0.0, abs=1e-9)
    eye = identity(5, 1, 1)[0, 0]
    prev = previous_token_head(5)
    apart = compare.compare_heads(eye, prev)  # row 0 agrees, rows 1-4 share no key
    assert apart.difference.dtype == np.float32
    np.testing.assert_allclose(apart.difference, prev - eye)
    np.testing.assert_allclose(apart.divergence, [0, np.log(2), np.log(2), np.log(2), np.log(2)], atol=1e-9)
    assert apart.mean_divergence == pytest.approx(4 * np.log(2) / 5)


def test_compare_heads_refuses_different_shapes() -> None:
    with pytest.raises(ValueError):
        compare.compare_heads(np.eye(3), np.eye(4))


def test_norm_finding_reads_one_head_and_counts_heads() -> None:
    att = uniform(4, layers=1, heads=2)  # every key gets 1/4 of each row's weight
    per_head = att.copy()
    per_head[0, 0, :, 0] = 0.0  # head 0: the masked key moves nothing
    nr = types.SimpleNamespace(attention=att, per_head=per_head)
    mask = np.array([True, False, False, False])
    found = compare.norm_finding(nr, mask, 0, 0)
    assert found.weight_share == pytest.approx(0.25) and found.norm_share == pytest.approx(0.0)
    assert found.heads_lower == pytest.approx(0.5)  # head 1's norm share equals its weight share


def test_category_breakdown_and_the_examples_table(bundled_model) -> None:
    results = {name: extract(bundled_model, text) for name, text in
               {"one": "The cat sat on the mat.", "two": "When the cat sat down, the mat moved."}.items()}
    res = results["one"]
    conns, counts = compare.category_breakdown(res, 2.0, "relative")
    assert list(counts["layer"]) == list(range(res.num_layers))
    assert int(counts["total"].sum()) == len(conns)
    assert len(conns) > 0 and (conns["from"] != conns["to"]).all()
    n = res.n_tokens  # "relative" 2.0: every kept edge is above twice the uniform weight
    average = lenses.head_average(res.attention)
    assert (conns["weight"] > 2.0 / n).all()
    np.testing.assert_allclose(conns["weight"], average[conns["layer"], conns["from"], conns["to"]], rtol=1e-6)
    for category in patterns.CATEGORIES:
        assert int(counts[category].sum()) == int((conns["category"] == category).sum())
    table = compare.compare_examples(results, 2.0, "relative")
    assert list(table.columns[:2]) == ["sentence", "layer"]
    assert len(table) == 2 * res.num_layers
    assert table["sentence"].iloc[0] == "one: The cat sat on the mat."


def test_token_and_rollout_tables(bundled_model) -> None:
    res = extract(bundled_model, "Unbelievably, it works.", "Yes.")
    tokens = tables.token_table(res)
    assert list(tokens.columns) == ["position", "token", "raw", "id", "word", "segment", "special"]
    assert list(tokens["position"]) == list(range(res.n_tokens))
    assert tokens.loc[tokens["special"], "word"].eq(-1).all()
    assert set(tokens["segment"]) == {0, 1}
    roll = lenses.rollout(res.attention)
    by_layer = tables.rollout_by_layer(roll, 2, res.display_tokens)
    assert list(by_layer.columns) == ["input token"] + [f"layer {l}" for l in range(res.num_layers)]
    np.testing.assert_allclose(by_layer["layer 3"], np.round(roll[3, 2], 4))
    assert by_layer["input token"].iloc[1] == f"1 · {res.display_tokens[1]}"
    flow = tables.flow_table(np.full(res.n_tokens, 0.5), roll[1, 2], res.display_tokens)
    assert list(flow.columns) == ["position", "token", "flow", "rollout"] and flow["flow"].eq(0.5).all()
