"""core.analysis lenses, statistics and patterns: the checks that hold for any correct
implementation (docs/methods.md) on synthetic heads, and on real models."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from core.analysis import lenses, patterns, statistics, tokens
from tests.core.synthetic import identity, previous_token_head, random_attention, uniform
from tests.sentences import TUTORIAL_SENTENCES


def stats_of(head: np.ndarray, special=None, punct=None, segments=None, causal=False, **kw) -> pd.Series:
    n = head.shape[-1]
    special = np.zeros(n, dtype=bool) if special is None else np.asarray(special)
    punct = np.zeros(n, dtype=bool) if punct is None else np.asarray(punct)
    return statistics.head_statistics(head[None, None], special, punct, segments, causal, **kw).iloc[0]


# --- rollout and flow -----------------------------------------------------------------------

def test_head_average_shape_and_value():
    att = random_attention(6, layers=3, heads=4)
    avg = lenses.head_average(att)
    assert avg.shape == (3, 6, 6)
    np.testing.assert_allclose(avg[1], att[1].mean(axis=0), atol=1e-6)


def test_identity_attention_rollout_and_flow_are_identity():
    att = identity(5, layers=3)
    roll = lenses.rollout(att)
    assert roll.shape == (3, 5, 5)
    for layer in range(3):
        np.testing.assert_allclose(roll[layer], np.eye(5), atol=1e-7)
    np.testing.assert_allclose(lenses.attention_flow_matrix(att), np.eye(5), atol=1e-7)
    np.testing.assert_allclose(lenses.attention_flow(att, query=2), np.eye(5)[2], atol=1e-7)


def test_uniform_rollout_n4_l2():
    roll = lenses.rollout_last(uniform(4, layers=2))
    np.testing.assert_allclose(np.diag(roll), 0.4375, atol=1e-6)
    np.testing.assert_allclose(roll[~np.eye(4, dtype=bool)], 0.1875, atol=1e-6)


@pytest.mark.parametrize("n,layers", [(3, 1), (5, 3), (7, 6)])
def test_uniform_rollout_closed_form(n, layers):
    expected = 0.5 ** layers * np.eye(n) + (1 - 0.5 ** layers) * np.ones((n, n)) / n
    np.testing.assert_allclose(lenses.rollout_last(uniform(n, layers=layers)), expected, atol=1e-6)


def test_uniform_flow_n4_l2():
    flow = lenses.attention_flow_matrix(uniform(4, layers=2))
    np.testing.assert_allclose(np.diag(flow), 0.4, atol=1e-6)
    np.testing.assert_allclose(flow[~np.eye(4, dtype=bool)], 0.2, atol=1e-6)


def test_rollout_multiplies_higher_layer_from_the_left():
    att = random_attention(5, layers=3, heads=2, seed=3)
    ahat = [0.5 * att[l].mean(axis=0).astype(np.float64) + 0.5 * np.eye(5) for l in range(3)]
    expected = ahat[2] @ ahat[1] @ ahat[0]
    roll = lenses.rollout(att)
    np.testing.assert_allclose(roll[2], expected, atol=1e-5)
    np.testing.assert_allclose(roll[0], ahat[0], atol=1e-6)
    np.testing.assert_allclose(roll.sum(axis=-1), 1.0, atol=1e-5)


def test_causal_rollout_stays_lower_triangular():
    att = random_attention(6, causal=True)
    roll = lenses.rollout(att, causal=True)
    assert np.all(roll[:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    np.testing.assert_allclose(roll.sum(axis=-1), 1.0, atol=1e-5)
    rel = lenses.relative_to_uniform(lenses.rollout_last(uniform(6, causal=True), causal=True), causal=True)
    np.testing.assert_allclose(rel[5].sum(), 6.0, atol=1e-4)  # a row of shares times its receptive field


def test_flow_single_query_matches_matrix_row_and_reports_progress():
    att = random_attention(6, layers=3, heads=2, seed=5)
    matrix = lenses.attention_flow_matrix(att)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    seen: list[float] = []
    row = lenses.attention_flow(att, query=4, progress=seen.append)
    np.testing.assert_allclose(row, matrix[4], atol=1e-6)
    assert len(seen) == 6 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    lower = lenses.attention_flow(att, query=4, layer=0)
    np.testing.assert_allclose(lower, lenses.attention_flow_matrix(att[:1])[4], atol=1e-6)


def test_flow_is_bounded_with_a_clear_message():
    att = uniform(lenses.FLOW_MAX_TOKENS + 1, layers=1, heads=1)
    with pytest.raises(lenses.FlowTooLargeError) as info:
        lenses.attention_flow(att, query=0)
    assert str(lenses.FLOW_MAX_TOKENS) in str(info.value) and "rollout" in str(info.value)
    with pytest.raises(ValueError):
        lenses.attention_flow(uniform(4), query=4)


def test_causal_flow_gives_no_mass_to_later_tokens():
    att = random_attention(6, layers=2, heads=2, causal=True, seed=2)
    row = lenses.attention_flow(att, query=3, causal=True)
    assert np.all(row[4:] == 0) and row.sum() == pytest.approx(1.0, abs=1e-6)


# --- head statistics ------------------------------------------------------------------------

def test_uniform_n4_entropy_is_ln4():
    s = stats_of(uniform(4, 1, 1)[0, 0])
    assert s["entropy"] == pytest.approx(1.386294, abs=1e-6)
    assert s["entropy_norm"] == pytest.approx(1.0, abs=1e-6)
    assert math.log(4) == pytest.approx(1.386294, abs=1e-6)


def test_uniform_n5_mean_distance():
    s = stats_of(uniform(5, 1, 1)[0, 0])
    assert s["mean_distance"] == pytest.approx(1.6, abs=1e-6)
    assert s["distance_ratio"] == pytest.approx(1.0, abs=1e-6)  # baseline (n^2-1)/(3n) = 1.6


def test_previous_token_head_n5():
    s = stats_of(previous_token_head(5))
    assert s["mean_distance"] == pytest.approx(0.8, abs=1e-6)
    assert s["prev_score"] == pytest.approx(1.0)
    assert s["self_score"] == pytest.approx(0.2)
    assert s["next_score"] == pytest.approx(0.0)
    assert s["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert s["pattern"] == "diagonal"
    assert s["attends_previous"] and not s["broad"]
    assert "previous" in s["clark_label"]


def test_shares_confidence_and_sink():
    n = 5
    special = np.array([True, False, False, False, True])
    punct = np.array([False, False, False, True, False])
    head = np.zeros((n, n), dtype=np.float32)
    head[:, 0] = 0.5  # [CLS]
    head[:, 4] = 0.2  # [SEP]
    head[:, 3] = 0.2  # punctuation
    head[:, 1] = 0.1
    s = stats_of(head, special, punct)
    assert s["cls_share"] == pytest.approx(0.5)
    assert s["sep_share"] == pytest.approx(0.2)
    assert s["special_share"] == pytest.approx(0.7)
    assert s["punct_share"] == pytest.approx(0.2)
    assert s["first_token_share"] == pytest.approx(0.5)
    assert s["sink_ratio"] == pytest.approx(0.5 * 5)  # encoder: against the uniform 1/n, n = 5
    assert s["confidence"] == pytest.approx(0.2)  # special keys excluded: max over keys 1..3
    assert s["vertical_score"] == pytest.approx(0.7)


def test_causal_uniform_head_is_normalised_by_receptive_field():
    n = 6
    head = uniform(n, 1, 1, causal=True)[0, 0]
    s = stats_of(head, causal=True)
    assert s["entropy_norm"] == pytest.approx(1.0, abs=1e-6)  # rows m_i = 1 skipped
    assert s["entropy"] == pytest.approx(np.mean(np.log(np.arange(1, n + 1))), abs=1e-6)
    assert s["distance_ratio"] == pytest.approx(1.0, abs=1e-6)  # per-row baseline i/2
    assert math.isnan(s["next_score"])
    # uniform causal attention: no sink, whatever n (row 0, always 1.0, is left out)
    assert s["sink_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert s["first_token_share"] == pytest.approx(np.mean(1.0 / np.arange(2, n + 1)), abs=1e-6)
    np.testing.assert_allclose(statistics.sink_profile(head[None, None])[0, 0], 1.0, atol=1e-6)


def test_sink_head_is_found_and_vertical_for_causal_models():
    n = 12
    head = np.zeros((n, n), dtype=np.float32)
    head[:, 0] = 0.9
    head[np.arange(n), np.arange(n)] += 0.1
    head[0, 0] = 1.0
    s = stats_of(head, causal=True)
    assert s["first_token_share"] == pytest.approx(0.9)  # rows 1..n-1 only: row 0's 1.0 is not evidence
    assert s["pattern"] == "vertical"  # no special tokens: the sink is the vertical stripe
    assert s["sink_ratio"] == pytest.approx(0.9 / np.mean(1.0 / np.arange(2, n + 1)))


def test_causal_statistics_on_tiny_gpt2(tiny_gpt2):
    from core.attention.extract import extract

    result = extract(tiny_gpt2, "The cat sat on the mat.")
    assert result.causal
    stats = statistics.head_statistics_for(result)
    assert len(stats) == result.num_layers * result.num_heads
    assert stats["entropy_norm"].between(0, 1 + 1e-5).all()
    assert stats["next_score"].isna().all()
    assert np.isfinite(stats[["entropy", "mean_distance", "distance_ratio", "prev_score"]].to_numpy()).all()
    # entropy is normalised per row by ln(i+1), not by ln(n)
    a = result.attention.astype(np.float64)
    n = result.n_tokens
    rows = -(a * np.log(np.maximum(a, 1e-30))).sum(axis=-1)
    expected = (rows[..., 1:] / np.log(np.arange(2, n + 1))).mean(axis=-1).ravel()
    np.testing.assert_allclose(stats["entropy_norm"].to_numpy(), expected, atol=1e-5)
    # the sink share leaves row 0 out and is measured against the uniform 1/(i+1)
    first = a[:, :, 1:, 0].mean(axis=-1).ravel()
    np.testing.assert_allclose(stats["first_token_share"].to_numpy(), first, atol=1e-6)
    np.testing.assert_allclose(stats["sink_ratio"].to_numpy(), first / np.mean(1.0 / np.arange(2, n + 1)),
                               rtol=1e-6)


def test_head_statistics_is_vectorised_over_all_heads():
    att = random_attention(128, layers=6, heads=12, seed=1)
    special = np.zeros(128, dtype=bool)
    special[[0, 127]] = True
    punct = np.zeros(128, dtype=bool)
    punct[126] = True
    statistics.head_statistics(att, special, punct, np.zeros(128), False)  # warm-up
    start = time.perf_counter()
    stats = statistics.head_statistics(att, special, punct, np.zeros(128), False)
    elapsed = time.perf_counter() - start
    assert len(stats) == 72 and list(stats.columns) == list(statistics.STAT_COLUMNS)
    assert elapsed < 0.5  # goal 50 ms; generous here because the test machine is shared
    one = stats_of(att[3, 7], special, punct)
    row = stats[(stats["layer"] == 3) & (stats["head"] == 7)].iloc[0]
    for col in ("entropy", "mean_distance", "cls_share", "confidence", "prev_score", "block_score"):
        assert row[col] == pytest.approx(one[col], abs=1e-9)


def test_head_statistics_on_bundled_model_for_tutorial_sentences(bundled_model):
    from core.attention.extract import extract

    for sentence in TUTORIAL_SENTENCES:
        result = extract(bundled_model, sentence)
        stats = statistics.head_statistics_for(result)
        assert len(stats) == 72
        numeric = stats.drop(columns=["pattern", "clark_label", "broad", "attends_previous",
                                      "attends_next", "attends_special"])
        assert np.isfinite(numeric.to_numpy(dtype=float)).all(), sentence
        assert stats["entropy_norm"].between(0, 1 + 1e-5).all()
        assert (stats["entropy"] <= math.log(result.n_tokens) + 1e-5).all()
        for col in ("cls_share", "sep_share", "special_share", "punct_share", "self_score", "prev_score",
                    "next_score", "confidence", "first_token_share", "diagonal_score"):
            assert stats[col].between(-1e-6, 1 + 1e-5).all(), (sentence, col)
        assert (stats["distance_ratio"] > 0).all()
        assert stats["block_score"].abs().max() < 1e-5  # one segment: nothing to be a block of
        assert set(stats["pattern"]) <= set(patterns.PATTERN_CLASSES)
        # the tokens are what the masks claim
        assert stats["punct_share"].max() > 0
        assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"


def test_bundled_model_has_special_token_heads(bundled_model):
    """Clark et al.'s finding holds qualitatively on MiniLM: many heads put most weight on [CLS]/[SEP]."""
    from core.attention.extract import extract

    stats = statistics.head_statistics_for(extract(bundled_model, TUTORIAL_SENTENCES[2]))
    assert (stats["special_share"] > 0.3).sum() >= 10


# --- pattern classes and Clark labels --------------------------------------------------------

def _pair_setup(n_a: int = 4, n_b: int = 4):
    """[CLS] a a a [SEP] b b b [SEP] with segments 0 (incl. first [SEP]) and 1."""
    n = n_a + n_b + 3
    special = np.zeros(n, dtype=bool)
    special[[0, n_a + 1, n - 1]] = True
    seg = np.zeros(n, dtype=np.int8)
    seg[n_a + 2:] = 1
    return n, special, seg


def test_pattern_classes_on_synthetic_heads():
    n, special, seg = _pair_setup()
    cls_head = np.zeros((n, n), dtype=np.float32)
    cls_head[:, 0] = 1.0
    assert stats_of(cls_head, special, segments=seg)["pattern"] == "vertical"

    sep_head = np.zeros((n, n), dtype=np.float32)
    sep_head[:, [5, n - 1]] = 0.5
    assert stats_of(sep_head, special, segments=seg)["pattern"] == "vertical"

    assert stats_of(previous_token_head(n), special, segments=seg)["pattern"] == "diagonal"
    nxt = np.roll(np.eye(n, dtype=np.float32), 1, axis=1)
    nxt[-1] = 0
    nxt[-1, -1] = 1
    assert stats_of(nxt, special, segments=seg)["pattern"] == "diagonal"

    both = 0.5 * cls_head + 0.5 * previous_token_head(n)
    s = stats_of(both, special, segments=seg)
    assert s["pattern"] == "vertical+diagonal"

    n, special, seg = _pair_setup(8, 8)  # long segments: a block head is not also diagonal
    same = (seg[:, None] == seg[None, :]) & ~special[None, :]
    block = (same / same.sum(axis=1, keepdims=True)).astype(np.float32)
    s = stats_of(block, special, segments=seg)
    assert s["block_score"] >= 0.3
    assert s["pattern"] == "block"

    s = stats_of(uniform(n, 1, 1)[0, 0], special, segments=seg)
    assert s["pattern"] == "heterogeneous"
    assert s["block_score"] == pytest.approx(0.0, abs=1e-6)


def test_pattern_thresholds_are_editable_and_frozen():
    n, special, seg = _pair_setup(8, 8)
    head = 0.5 * np.eye(n, dtype=np.float32) + 0.5 / n
    stats = statistics.head_statistics(head[None, None], special, np.zeros(n, bool), seg, False)
    assert stats["pattern"].iloc[0] == "diagonal"
    strict = patterns.PatternThresholds(diagonal_min_d=0.9)
    assert patterns.classify_patterns(stats, strict).iloc[0] == "heterogeneous"
    with pytest.raises(Exception):
        strict.diagonal_min_d = 0.1  # type: ignore[misc]
    table = statistics.thresholds_table(strict)
    assert 0.9 in table["value"].tolist()


def test_clark_labels():
    stats = pd.DataFrame({"entropy_norm": [0.9, 0.1, 0.5], "prev_score": [0.0, 0.9, 0.0],
                          "next_score": [0.0, 0.0, np.nan], "special_share": [0.1, 0.0, 0.7]})
    labels = statistics.clark_labels(stats)
    assert labels["clark_label"].tolist() == ["broad", "previous", "special"]
    labels = statistics.clark_labels(stats, statistics.ClarkThresholds(broad_entropy_norm=0.4))
    assert labels["clark_label"].tolist() == ["broad", "previous", "broad, special"]


# --- template scores ------------------------------------------------------------------------

def test_template_scores():
    n, special, seg = _pair_setup()
    templates = patterns.make_templates(n, cls=special & (np.arange(n) == 0), sep=special & (np.arange(n) > 0),
                                  punct=np.zeros(n, bool), segment_ids=seg)
    assert set(templates) == set(patterns.TEMPLATE_NAMES)
    att = np.stack([previous_token_head(n), np.eye(n, dtype=np.float32)])[None]  # 1 layer, 2 heads
    scores = patterns.template_scores(att, templates)
    assert scores.loc[0, "previous"] == pytest.approx((n - 1) / n)  # row 0 sits on itself
    assert scores.loc[1, "self"] == pytest.approx(1.0)
    assert scores.loc[1, "previous"] == pytest.approx(0.0)
    excl = patterns.template_scores(att, templates, exclude_diagonal=True)
    assert excl.loc[0, "previous"] == pytest.approx(1.0)
    assert math.isnan(excl.loc[1, "self"])  # nothing left to score
    cls_head = np.zeros((n, n), dtype=np.float32)
    cls_head[:, 0] = 0.6
    cls_head[np.arange(n), np.arange(n)] += 0.4
    cls_head[0, 0] = 1.0
    s = patterns.template_scores(cls_head[None, None], templates)
    s_no_first = patterns.template_scores(cls_head[None, None], templates, exclude_first=True)
    assert s.loc[0, "cls"] > 0.5
    assert math.isclose(s_no_first.loc[0, "cls"], 0.0, abs_tol=1e-9)
    assert s_no_first.loc[0, "self"] == pytest.approx(1.0)
    assert patterns.template_scores(uniform(n, 1, 1), templates).loc[0, "same_segment"] == pytest.approx(
        (seg[:, None] == seg[None, :]).mean())


# --- the tutorial's categorisation -----------------------------------------------------------

def test_categorisation_precedence():
    words = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    special = np.array([True, False, False, False, True])
    m = np.zeros((1, 5, 5))
    m[0, 1, 0] = 0.5  # the -> [CLS]: adjacent AND special -> positional wins
    m[0, 1, 3] = 0.5  # the -> sat: from a determiner -> syntactic
    m[0, 0, 3] = 0.5  # [CLS] -> sat: special
    m[0, 2, 4] = 0.5  # cat -> [SEP]: special
    m[0, 3, 1] = 0.5  # sat -> the: to a determiner only -> semantic
    m[0, 2, 3] = 0.5  # cat -> sat: positional
    m[0, 4, 4] = 0.9  # self: never listed
    m[0, 3, 0] = 0.05  # below 0.1
    df = patterns.categorise_connections(m, words, special, threshold=0.1)
    got = {(r["from"], r["to"]): r["category"] for _, r in df.iterrows()}
    assert got == {(1, 0): "positional", (1, 3): "syntactic", (0, 3): "special", (2, 4): "special",
                   (3, 1): "semantic", (2, 3): "positional"}
    assert list(df.columns) == ["layer", "from", "to", "from_token", "to_token", "weight", "category"]
    assert df.loc[(df["from"] == 1) & (df["to"] == 3), "from_token"].item() == "the"


def test_categorisation_threshold_modes_show_the_weakness():
    n = 6
    layer_avg = lenses.head_average(uniform(n, layers=2))
    words = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    special = np.array([True, False, False, False, False, True])
    absolute = patterns.categorise_connections(layer_avg, words, special, 0.1, "absolute")
    assert len(absolute) == 2 * n * (n - 1)  # uniform 1/6 > 0.1: every edge is "strong"
    relative = patterns.categorise_connections(layer_avg, words, special, 1.5, "relative")
    assert relative.empty  # nothing beats 1.5x uniform
    counts = patterns.category_counts(absolute, num_layers=3)
    assert counts["layer"].tolist() == [0, 1, 2]
    assert counts["total"].tolist() == [n * (n - 1), n * (n - 1), 0]
    assert (counts[list(patterns.CATEGORIES)].sum(axis=1) == counts["total"]).all()
    peaked = np.full((1, n, n), 0.02)
    peaked[0, :, 2] = 0.9
    cum = patterns.categorise_connections(peaked, words, special, 0.7, "cumulative")
    assert set(cum["to"]) == {2} and len(cum) == n - 1  # the self edge at (2, 2) is never listed


def test_categorisation_on_real_model(bundled_model):
    from core.attention.extract import extract

    result = extract(bundled_model, TUTORIAL_SENTENCES[0])
    df = patterns.categorise_connections(lenses.head_average(result.attention), list(result.display_tokens),
                                   result.special_mask, 0.1)
    assert not df.empty and set(df["category"]) <= set(patterns.CATEGORIES)
    assert (df["from"] != df["to"]).all() and (df["weight"] > 0.1).all()
    counts = patterns.category_counts(df, num_layers=result.num_layers)
    assert counts["total"].sum() == len(df)


@pytest.mark.parametrize("name", ["distilbert", "bert", "roberta", "gpt2"])
def test_every_family_end_to_end(tiny_models, name):
    """Masks, statistics, word merge and rollout on each architecture's real token layout."""
    from core.attention.extract import extract

    loaded = tiny_models[name]
    pair = None if name == "gpt2" else "A dog barked loudly."
    result = extract(loaded, "The cat sat on the mat, happily.", pair)
    special = np.asarray(result.special_mask)
    cls, sep = tokens.cls_mask(result.tokens, special), tokens.sep_mask(result.tokens, special)
    if name == "gpt2":
        assert not special.any() and not cls.any()
    else:
        assert np.flatnonzero(cls).tolist() == [0]
        assert sep.sum() == (3 if name == "roberta" else 2)  # </s></s> between texts
        assert set(result.segment_ids.tolist()) == {0, 1}
    assert tokens.punctuation_mask(result.display_tokens, special).sum() >= 2  # "," and "."
    stats = statistics.head_statistics_for(result)
    assert len(stats) == result.num_layers * result.num_heads
    cols = ["entropy", "entropy_norm", "mean_distance", "distance_ratio", "punct_share", "self_score",
            "prev_score", "confidence", "first_token_share", "block_score"]
    assert np.isfinite(stats[cols].to_numpy(dtype=float)).all()
    merged, labels, _ = tokens.merge_words(result.attention, tokens.word_keys(result.word_ids, result.segment_ids),
                                       list(result.display_tokens))
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-4)
    assert "happily" in labels
    roll = lenses.rollout(result.attention, causal=result.causal)
    np.testing.assert_allclose(roll.sum(axis=-1), 1.0, atol=1e-4)
    flow = lenses.attention_flow(result.attention, query=result.n_tokens - 1, causal=result.causal)
    assert flow.sum() == pytest.approx(1.0, abs=1e-5)


def test_jensen_shannon():
    a = random_attention(5, layers=1, heads=2, seed=9)
    assert np.allclose(statistics.jensen_shannon(a[0, 0], a[0, 0]), 0.0, atol=1e-12)
    eye, shifted = np.eye(4), np.roll(np.eye(4), 1, axis=1)
    np.testing.assert_allclose(statistics.jensen_shannon(eye, shifted), math.log(2), atol=1e-12)
    js = statistics.jensen_shannon(a[0, 0], a[0, 1])
    assert js.shape == (5,) and np.all((js > 0) & (js < math.log(2)))
    np.testing.assert_allclose(js, statistics.jensen_shannon(a[0, 1], a[0, 0]))  # symmetric


def test_pattern_summary_counts_and_codes_agree_with_the_labels(bundled_model) -> None:
    from core.attention.extract import extract

    result = extract(bundled_model, "The cat sat on the mat.", "It was warm.")
    stats = statistics.head_statistics_for(result)
    summary = patterns.pattern_summary(stats)
    labelled = summary.labelled
    assert list(labelled.columns[:3]) == ["layer", "head", "pattern"]
    assert int(summary.counts["heads"].sum()) == len(labelled) == result.num_layers * result.num_heads
    assert abs(float(summary.counts["share"].sum()) - 1.0) < 0.01
    assert summary.codes.shape == (result.num_layers, result.num_heads)
    for row in labelled.itertuples():
        assert patterns.PATTERN_CLASSES[summary.codes[row.layer, row.head]] == row.pattern
    assert (labelled["pattern"] == patterns.classify_patterns(stats).to_numpy()).all()


def test_template_scores_for_a_result_read_its_tokens(bundled_model):
    """The result-level template scores (what Pattern classes shows): 'self' is the mean diagonal
    weight, 'cls' the mean weight on [CLS], 'previous' the mean weight on the token before."""
    from core.attention.extract import extract

    result = extract(bundled_model, "The cat sat on the mat, and it slept.")
    scores = patterns.template_scores_for(result)
    att = result.attention.astype(np.float64)
    n = result.n_tokens
    row = scores[(scores["layer"] == 2) & (scores["head"] == 5)].iloc[0]
    assert row["self"] == pytest.approx(np.trace(att[2, 5]) / n, abs=1e-6)
    assert row["cls"] == pytest.approx(att[2, 5][:, 0].mean(), abs=1e-6)
    assert row["previous"] == pytest.approx(np.diagonal(att[2, 5], -1).sum() / n, abs=1e-6)
    nodiag = patterns.template_scores_for(result, exclude_diagonal=True)
    assert (nodiag["self"].fillna(0) == 0).all() and len(nodiag) == result.num_layers * result.num_heads
