"""core.analysis.tokens: token sets, hiding / merging / pruning, the strongest connections; and
core.render.controls.apply_controls (what a page draws after its token controls; positions stay
the sentence's)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from core.analysis import tokens
from core.render import controls, heatmaps, vega
from tests.core.synthetic import main_rows, random_attention, softmax


# --- token masks and controls ----------------------------------------------------------------

def test_token_masks_for_each_family():
    bert = ["[CLS]", "the", "cat", ".", "[SEP]", "a", "dog", "[SEP]"]
    sp = np.array([t.startswith("[") for t in bert])
    assert tokens.cls_mask(bert, sp).tolist() == [True] + [False] * 7
    assert tokens.sep_mask(bert, sp).tolist() == [False, False, False, False, True, False, False, True]
    roberta = ["<s>", "Ġthe", "</s>", "</s>", "Ġdog", "</s>"]
    sp = np.array([t.startswith("<") for t in roberta])
    assert np.flatnonzero(tokens.cls_mask(roberta, sp)).tolist() == [0]
    assert np.flatnonzero(tokens.sep_mask(roberta, sp)).tolist() == [2, 3, 5]
    gpt = ["<|endoftext|>", "The", "Ġcat", "<|endoftext|>"]
    sp = np.array([True, False, False, True])
    assert np.flatnonzero(tokens.cls_mask(gpt, sp)).tolist() == [0]
    assert np.flatnonzero(tokens.sep_mask(gpt, sp)).tolist() == [3]
    assert not tokens.cls_mask(["The", "Ġcat"], np.zeros(2, bool)).any()
    punct = tokens.punctuation_mask(["[CLS]", "hello", ",", "##.", "...", "a.b", "«", "[SEP]", "##"],
                                np.array([1, 0, 0, 0, 0, 0, 0, 1, 0], bool))
    assert punct.tolist() == [False, False, True, True, True, False, True, False, True]  # "##" is "#"s


def test_hide_special_renormalise_on_and_off():
    att = random_attention(6, layers=2, heads=3, seed=4)
    special = np.array([True, False, False, False, False, True])
    on, kept = tokens.hide_special(att, special, renormalise=True)
    off, kept_off = tokens.hide_special(att, special, renormalise=False)
    assert kept.tolist() == [1, 2, 3, 4] == kept_off.tolist()
    assert on.shape == off.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(on.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(off.sum(axis=-1) < 1 - 1e-3)  # exBERT's zeroing: mass on [CLS]/[SEP] is gone
    np.testing.assert_allclose(off, att[:, :, 1:5, 1:5], atol=1e-7)


def test_merge_words_clark_rule():
    # [CLS] play ##ing fast [SEP] | word ids restart in the second text: (seg, word) keys
    pieces = ["[CLS]", "play", "##ing", "fast", "[SEP]", "play", "##s", "[SEP]"]
    word_ids = [None, 0, 0, 1, None, 0, 0, None]
    seg = [0, 0, 0, 0, 0, 1, 1, 1]
    keys = tokens.word_keys(word_ids, seg)
    att = random_attention(8, layers=2, heads=2, seed=7)
    merged, labels, groups = tokens.merge_words(att, keys, pieces)
    assert labels == ["[CLS]", "playing", "fast", "[SEP]", "plays", "[SEP]"]
    assert groups == [[0], [1, 2], [3], [4], [5, 6], [7]]
    assert merged.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-5)
    a = att[1, 1].astype(np.float64)
    # FROM "playing" (mean of rows 1, 2) TO "plays" (sum of columns 5, 6)
    assert merged[1, 1, 1, 4] == pytest.approx((a[1, 5] + a[1, 6] + a[2, 5] + a[2, 6]) / 2, abs=1e-6)
    assert merged[1, 1, 0, 0] == pytest.approx(a[0, 0], abs=1e-6)


def test_merge_words_on_real_subwords(bundled_model):
    from core.attention.extract import extract

    result = extract(bundled_model, "Tokenization splits unbelievably long words.", "Second texts restart words.")
    keys = tokens.word_keys(result.word_ids, result.segment_ids)
    merged, labels, groups = tokens.merge_words(result.attention, keys, list(result.display_tokens))
    assert len(labels) < result.n_tokens  # some words were split into pieces
    assert sum(len(g) for g in groups) == result.n_tokens
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-4)
    assert labels.count("[SEP]") == 2 and labels[0] == "[CLS]"
    assert "words" in labels and "restart" in labels


def test_keep_top_k():
    m = np.array([[0.1, 0.5, 0.3, 0.1], [0.25, 0.25, 0.4, 0.1]], dtype=np.float32)
    top2 = tokens.keep_top_k(m, 2)
    assert top2[0].tolist() == pytest.approx([0.0, 0.5, 0.3, 0.0])
    assert np.count_nonzero(top2, axis=1).tolist() == [2, 2]
    assert top2[1, 2] == pytest.approx(0.4)
    assert np.array_equal(tokens.keep_top_k(m, 10), m)
    assert not tokens.keep_top_k(m, 0).any()
    assert tokens.keep_top_k(random_attention(5), 1).shape == (3, 4, 5, 5)


def test_keep_cumulative_exbert_rule():
    m = np.array([[0.5, 0.3, 0.15, 0.05], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    kept = tokens.keep_cumulative(m, 0.7)
    assert kept[0].tolist() == pytest.approx([0.5, 0.3, 0.0, 0.0])  # 0.5 < 0.7 -> keep 0.3 too
    assert kept[1].tolist() == pytest.approx([0.7, 0.0, 0.0, 0.0])  # 0.7 already covers 0.7
    assert np.count_nonzero(kept[2]) == 3  # uniform: 0.25, 0.5 < 0.7, then 0.75
    assert kept.sum(axis=1).tolist() == pytest.approx([0.8, 0.7, 0.75])  # not renormalised


# --- listing --------------------------------------------------------------------------------

def test_strongest_connections():
    m = np.array([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    top = tokens.strongest_connections(m, ["a", "b", "c"], k=2)
    assert list(zip(top["from_token"], top["to_token"])) == [("c", "b"), ("b", "a")]
    assert top["weight"].tolist() == pytest.approx([0.7, 0.6])
    with_self = tokens.strongest_connections(m, ["a", "b", "c"], k=1, exclude_self=False)
    assert with_self["weight"].item() == pytest.approx(0.9)
    causal = tokens.strongest_connections(m, ["a", "b", "c"], k=10, allowed=np.tril(np.ones((3, 3), bool)))
    assert len(causal) == 3 and (causal["from"] > causal["to"]).all()
    positioned = tokens.strongest_connections(m, ["a", "b", "c"], k=2, positions=[1, 4, 6])
    assert positioned["from"].tolist() == [6, 4] and positioned["to"].tolist() == [4, 1]


# --- apply_controls -------------------------------------------------------------------------

PIECES = ("[CLS]", "the", "play", "##ing", "cat", "sat", ".", "[SEP]")
WORD_IDS = (None, 0, 1, 1, 2, 3, 4, None)


def _result(pieces=PIECES, word_ids=WORD_IDS):
    """What apply_controls reads of an AttentionResult."""
    n = len(pieces)
    return types.SimpleNamespace(display_tokens=tuple(pieces), special_mask=np.array([w is None for w in word_ids]),
                                 word_ids=tuple(word_ids), segment_ids=np.zeros(n, dtype=np.int8))


def _drawn_positions(dm):
    """query_pos of each row of the heatmap drawn from dm (its inline data)."""
    rows = main_rows(vega.chart_spec(heatmaps.heatmap(dm, title="t")))
    return sorted({r["query_pos"] for r in rows}), sorted({r["key_pos"] for r in rows})


def test_apply_controls_without_controls_is_the_matrix_itself():
    a = softmax((8, 8))
    dm = controls.apply_controls(a, _result(), controls.TokenControls())
    np.testing.assert_array_equal(dm.matrix, a)
    assert dm.tokens == PIECES and dm.positions.tolist() == list(range(8)) and dm.notes == ()
    assert dm.special.tolist() == [True] + [False] * 6 + [True] and dm.allowed is None


@pytest.mark.parametrize("causal", [False, True])
def test_hidden_specials_keep_sentence_positions_in_table_and_chart(causal):
    a = softmax((8, 8))
    mask = np.tril(np.ones((8, 8), dtype=bool)) if causal else None
    dm = controls.apply_controls(a, _result(), controls.TokenControls(hide_special=True), allowed=mask)
    assert dm.positions.tolist() == [1, 2, 3, 4, 5, 6]
    assert dm.axis_labels[0] == "1 · the" and not dm.special.any()
    np.testing.assert_allclose(dm.matrix.sum(axis=1), 1.0, atol=1e-6)  # renormalised
    table = dm.table()
    qpos, kpos = _drawn_positions(dm)
    assert sorted(set(table["query_pos"])) == qpos == dm.positions.tolist()
    assert sorted(set(table["key_pos"])) == kpos == dm.positions.tolist()
    assert table["query"].iloc[0] == dm.axis_labels[0]
    if causal:
        assert dm.allowed.shape == (6, 6) and not dm.allowed[0, 1] and dm.allowed[1, 0]
        assert (table["allowed"] == (table["key_pos"] <= table["query_pos"])).all()
    off = controls.apply_controls(a, _result(), controls.TokenControls(hide_special=True, renormalise=False))
    assert np.all(off.matrix.sum(axis=1) < 1) and "NOT renormalised" in off.notes[0]


def test_merged_words_use_each_words_first_piece_position():
    a = softmax((8, 8))
    dm = controls.apply_controls(a, _result(), controls.TokenControls(merge_words=True))
    assert dm.tokens == ("[CLS]", "the", "playing", "cat", "sat", ".", "[SEP]")
    assert dm.positions.tolist() == [0, 1, 2, 4, 5, 6, 7]
    assert dm.axis_labels[3] == "4 · cat"
    both = controls.apply_controls(a, _result(), controls.TokenControls(merge_words=True, hide_special=True))
    assert both.positions.tolist() == [1, 2, 4, 5, 6] and len(both.notes) == 2
    assert _drawn_positions(both)[0] == both.positions.tolist() == sorted(set(both.table()["query_pos"]))
    causal = controls.apply_controls(a, _result(), controls.TokenControls(merge_words=True),
                                   allowed=np.tril(np.ones((8, 8), dtype=bool)))
    assert causal.allowed is None and any("folded" in note for note in causal.notes)


def test_pruning_keeps_positions_and_says_so():
    a = softmax((8, 8))
    top = controls.apply_controls(a, _result(), controls.TokenControls(prune="top_k", k=2, hide_special=True))
    assert (np.count_nonzero(top.matrix, axis=1) == 2).all() and top.positions.tolist() == [1, 2, 3, 4, 5, 6]
    assert "top 2" in top.notes[-1]
    cum = controls.apply_controls(a, _result(), controls.TokenControls(prune="cumulative", share=0.5))
    assert "50%" in cum.notes[-1] and (cum.matrix <= a + 1e-7).all()


def test_strongest_connections_of_a_draw_matrix_name_sentence_positions():
    a = softmax((8, 8))
    dm = controls.apply_controls(a, _result(), controls.TokenControls(hide_special=True))
    top = tokens.strongest_connections(dm.matrix, dm.tokens, 3, positions=dm.positions)
    assert set(top["from"]) | set(top["to"]) <= set(dm.positions.tolist())
    i, j = dm.positions.tolist().index(int(top["from"][0])), dm.positions.tolist().index(int(top["to"][0]))
    assert top["weight"][0] == pytest.approx(float(dm.matrix[i, j]))
