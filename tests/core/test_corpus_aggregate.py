"""Streaming aggregation: the batch's vectorised statistics equal one head_statistics call per
sentence (float rounding) on every tiny architecture and the bundled model, whatever the padding;
moments equal numpy over every sentence, merging equals one pass, typical sentences equal a
brute-force ranking, and the state does not grow with the corpus."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from core.analysis import statistics
from core.analysis.patterns import PATTERN_CLASSES
from core.attention.extract import extract
from core.corpus import sources
from core.corpus.aggregate import (
    FLUSH_SENTENCES,
    STAT_NAMES,
    TYPICALITY_COLUMNS,
    CorpusAggregate,
    batch_statistics,
    sentence_statistics,
    t975,
)
from core.attention.batch import PaddedBatch, iter_batches, iter_padded

SAMPLE = sources.builtin("sample_en").sentences[:48]
# Mixed lengths, a truncated text, punctuation runs, no word at all between specials, emoji.
MIXED = [
    "Hi.", "Why?", "...", "!", "Café, naïve and résumé; 東京 🙂 don't re-enter.",
    "A much longer sentence that goes on and on, with commas, clauses, and far more words than any other here!",
    *SAMPLE[:10],
]
STAT_TOL = 1e-6  # float32 sums in another order: ~3e-7 seen


@pytest.fixture(scope="module")
def bert_records(tiny_bert):
    return [rec for recs in iter_batches(tiny_bert, SAMPLE, 16) for rec in recs]


@pytest.fixture(scope="module")
def gpt2_records(tiny_gpt2):
    return [rec for recs in iter_batches(tiny_gpt2, SAMPLE, 16) for rec in recs]


def _reference(records):
    """head_statistics_for per sentence, in corpus order: stats [k, LH, S], codes [k, LH]."""
    order = sorted(records, key=lambda r: r.index)
    frames = [statistics.head_statistics_for(r.result) for r in order]
    stats = np.stack([f[list(STAT_NAMES)].to_numpy(dtype=np.float64) for f in frames])
    codes = np.stack([[PATTERN_CLASSES.index(p) for p in f["pattern"]] for f in frames])
    return stats, codes


def _own(records, chunk=64):
    """The aggregate's own per-sentence statistics, `chunk` records padded together at a time
    (as `add` pads them: the padding changes float rounding), in corpus order."""
    parts = [sentence_statistics(records[s:s + chunk]) for s in range(0, len(records), chunk)]
    indices, stats, codes = (np.concatenate(x) for x in zip(*parts))
    order = np.argsort(indices)
    return stats[order], codes[order]


@pytest.mark.parametrize("which", ["bert_records", "gpt2_records"])
def test_batch_statistics_equal_one_call_per_sentence(which, request) -> None:
    records = request.getfixturevalue(which)
    indices, stats, codes = sentence_statistics(records)
    assert sorted(indices) == list(range(len(records)))
    order = np.argsort(indices)
    ref_stats, ref_codes = _reference(records)
    assert np.array_equal(np.isnan(stats[order]), np.isnan(ref_stats))  # NaN exactly where head_statistics has it
    np.testing.assert_allclose(stats[order], ref_stats, rtol=0, atol=STAT_TOL, equal_nan=True)
    assert np.array_equal(codes[order], ref_codes)


@pytest.mark.parametrize("family", ["distilbert", "bert", "roberta", "gpt2", "bundled"])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_padded_batches_equal_head_statistics(tiny_models, bundled_model, family, batch_size) -> None:
    """Straight from the padded forward pass (what run_corpus computes): every sentence's
    statistics equal head_statistics of its own one-sentence extraction, however far it is
    padded and whatever its batch partners; a truncated text too."""
    loaded = bundled_model if family == "bundled" else tiny_models[family]
    got = {}
    for batch in iter_padded(loaded, MIXED, batch_size, max_tokens=12):
        assert not batch.attention.flags.writeable and batch.size <= batch_size
        for b, n in enumerate(batch.lengths):  # the pads' rows and columns hold nothing
            assert not batch.attention[b, :, :, n:, :].any() and not batch.attention[b, :, :, :, n:].any()
        indices, stats, codes = batch_statistics(batch)
        got.update({int(i): (stats[k], codes[k]) for k, i in enumerate(indices)})
    assert sorted(got) == list(range(len(MIXED)))
    for i, text in enumerate(MIXED):
        ref = statistics.head_statistics_for(extract(loaded, text, max_tokens=12))
        stats, codes = got[i]
        ref_stats = ref[list(STAT_NAMES)].to_numpy(dtype=np.float64)
        assert np.array_equal(np.isnan(stats), np.isnan(ref_stats)), text
        # another forward pass: attention agrees to ~1e-6 (test_corpus_batch), the statistics with it
        np.testing.assert_allclose(stats, ref_stats, rtol=1e-5, atol=1e-5, equal_nan=True, err_msg=text)
        assert [PATTERN_CLASSES[c] for c in codes] == list(ref["pattern"]), text


@pytest.mark.parametrize("which", ["bert_records", "gpt2_records"])
def test_moments_and_interval_equal_numpy(which, request) -> None:
    records = request.getfixturevalue(which)
    first = records[0].result
    agg = CorpusAggregate(first.num_layers, first.num_heads)
    for start in range(0, len(records), 7):  # uneven batches
        agg.add(records[start:start + 7])
    ref, codes = _own(records, 7)
    summary = agg.summary()
    with warnings.catch_warnings():  # all-NaN columns (a causal model's next-token score)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(ref, axis=0)
        sd = np.nanstd(ref, axis=0, ddof=1)
    n = (~np.isnan(ref)).sum(axis=0)
    assert np.array_equal(summary["n"], n)
    np.testing.assert_allclose(summary["mean"], mean, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(summary["sd"], sd, atol=1e-10, equal_nan=True)
    half = t975(n - 1) * sd / np.sqrt(n)
    np.testing.assert_allclose(summary["ci_high"] - summary["mean"], half, atol=1e-10, equal_nan=True)
    counts = np.stack([(codes == c).sum(axis=0) for c in range(len(PATTERN_CLASSES))], axis=1)
    assert np.array_equal(agg.patterns, counts)
    assert agg.sentences == len(records)
    if first.causal:  # next-token score is NaN for causal models: never counted
        assert (summary["n"][:, STAT_NAMES.index("next_score")] == 0).all()


def test_merge_and_state_round_trip_equal_one_pass(bert_records) -> None:
    first = bert_records[0].result
    one = CorpusAggregate(first.num_layers, first.num_heads)
    one.add(bert_records)
    one.flush()  # small batches' statistics wait to be merged until a result is asked for
    a = CorpusAggregate(first.num_layers, first.num_heads)
    b = CorpusAggregate(first.num_layers, first.num_heads)
    a.add(bert_records[:20])
    b.add(bert_records[20:])
    merged = CorpusAggregate.from_state(a.to_state()).merge(CorpusAggregate.from_state(b.to_state()))
    for name in ("count", "patterns"):
        assert np.array_equal(getattr(merged, name), getattr(one, name))
    np.testing.assert_allclose(merged.mean, one.mean, atol=1e-12)
    np.testing.assert_allclose(merged.m2, one.m2, atol=1e-10)
    _same_ranking(merged.typical(), one.typical())  # the pools hold the whole corpus: the ranking is exact


def _same_ranking(a, b) -> None:
    for kind_a, kind_b in zip(a, b):
        for head_a, head_b in zip(kind_a, kind_b):
            assert [i for i, _ in head_a] == [i for i, _ in head_b]
            np.testing.assert_allclose([d for _, d in head_a], [d for _, d in head_b], atol=1e-9)


def test_typical_sentences_equal_a_brute_force_ranking(bert_records) -> None:
    first = bert_records[0].result
    agg = CorpusAggregate(first.num_layers, first.num_heads)
    for start in range(0, len(bert_records), 16):
        agg.add(bert_records[start:start + 16])
    ref, _ = _own(bert_records, 16)
    cols = [STAT_NAMES.index(c) for c in TYPICALITY_COLUMNS]
    x = ref[:, :, cols]
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0, ddof=1)
    ok = ~np.isnan(x) & (sd > 0)
    z = np.where(ok, (x - mean) / np.where(sd > 0, sd, 1), 0.0)
    dist = np.sqrt((z**2).sum(axis=2) / np.maximum(ok.sum(axis=2), 1))  # [k, LH]
    typical, atypical = agg.typical(5)
    for h in range(dist.shape[1]):
        order = np.lexsort((np.arange(len(dist)), dist[:, h]))
        assert [i for i, _ in typical[h]] == list(order[:5])
        np.testing.assert_allclose([d for _, d in typical[h]], dist[order[:5], h], atol=1e-5)
        far = np.lexsort((np.arange(len(dist)), -dist[:, h]))
        assert [i for i, _ in atypical[h]] == list(far[:5])


def test_small_corpora_split_typical_and_atypical(bert_records) -> None:
    first = bert_records[0].result
    agg = CorpusAggregate(first.num_layers, first.num_heads)
    agg.add(bert_records[:5])
    typical, atypical = agg.typical(5)
    for t, a in zip(typical, atypical):
        assert len(t) == len(a) == 2 and not {i for i, _ in t} & {i for i, _ in a}


def test_state_is_bounded(bert_records) -> None:
    """However many sentences go in, the aggregate's arrays keep their size."""
    first = bert_records[0].result
    agg = CorpusAggregate(first.num_layers, first.num_heads, pool_size=8)

    def size() -> int:
        return sum(v.nbytes for v in agg.to_state().values())

    agg.add(bert_records[:16])
    before = size()
    for _ in range(5):
        agg.add(bert_records)
    assert size() == before
    assert agg.typical_idx.shape == (first.num_layers * first.num_heads, 8)
    assert agg.sentences == 16 + 5 * len(bert_records)


def test_small_batches_wait_and_every_result_counts_them(bert_records) -> None:
    """Statistics of small batches wait to be merged (never their attention); every result
    method merges what waits, so a run cut short still counts every sentence it did."""
    first = bert_records[0].result
    agg = CorpusAggregate(first.num_layers, first.num_heads)
    for rec in bert_records[:3]:
        agg.add([rec])
    assert agg.statistics_calls == 3 and agg.sentences == 0 < FLUSH_SENTENCES
    assert (agg.summary()["n"][:, STAT_NAMES.index("entropy")] == 3).all() and agg.sentences == 3
    agg.add(PaddedBatch.of_records(bert_records[3:5]))
    assert agg.to_state()["scalars"][3] == 5  # sentences
    assert agg.tokens == sum(r.n_tokens for r in bert_records[:5])


def test_pattern_codes_follow_classify_patterns() -> None:
    """The batch's pattern rule is classify_patterns' own, at and around every threshold."""
    import pandas as pd

    from core.analysis.patterns import PatternThresholds, classify_patterns
    from core.corpus.aggregate import _pattern_codes

    t = PatternThresholds()
    edges = sorted({0.0, 1.0, *(getattr(t, f) for f in t.__dataclass_fields__)})
    values = np.array([x + e for x in edges for e in (-1e-9, 0.0, 1e-9)] + [np.nan])
    v, d, b = (a.ravel() for a in np.meshgrid(values, values, values, indexing="ij"))
    labels = classify_patterns(pd.DataFrame({"vertical_score": v, "diagonal_score": d, "block_score": b}))
    assert [PATTERN_CLASSES[c] for c in _pattern_codes(v, d, b)] == list(labels)


def test_t_quantiles() -> None:
    np.testing.assert_allclose(t975(np.array([1, 5, 30, 120, 10_000])), [12.706, 2.571, 2.042, 1.980, 1.960],
                               atol=2e-3)
    assert np.isnan(t975(np.array([0]))[0])
