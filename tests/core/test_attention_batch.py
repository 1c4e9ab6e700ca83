"""Batched extraction: each sentence's attention cut from a padded batch equals its one-sentence
`extract` (1e-5) on every tiny architecture and the bundled model, and padding never reaches a
number (whatever the pad id, the batch partner or the batch size)."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import statistics
from core.attention.extract import extract
from core.attention import batch as batch_mod
from core.attention.batch import iter_batches
from core.examples import EXAMPLES

MIXED = [
    *EXAMPLES.values(),
    "Hi.",
    "Why?",
    "A much longer sentence that goes on and on, with commas, clauses, and far more words than any other here!",
    "Café, naïve and résumé; 東京 🙂 don't re-enter.",
    "The cat sat.",
    "Birds sing in the trees every spring, and the children who live nearby listen to them.",
]
TOL = 1e-5


def _all(loaded, texts, batch_size, max_tokens=None, **kw):
    out = {}
    for records in iter_batches(loaded, texts, batch_size, max_tokens, **kw):
        assert len(records) <= batch_size
        for rec in records:
            assert rec.index not in out
            out[rec.index] = rec
    return out


def _check_equal(loaded, texts, batch_size, max_tokens=None, **kw) -> float:
    records = _all(loaded, texts, batch_size, max_tokens, **kw)
    assert sorted(records) == list(range(len(texts)))
    worst = 0.0
    for i, text in enumerate(texts):
        ref = extract(loaded, text, max_tokens=max_tokens)
        got = records[i].result
        assert got.text == text
        for field in ("tokens", "display_tokens", "token_ids", "word_ids", "truncated_tokens", "max_tokens",
                      "causal", "info", "text_pair"):
            assert getattr(got, field) == getattr(ref, field), field
        assert np.array_equal(got.special_mask, ref.special_mask)
        assert np.array_equal(got.segment_ids, ref.segment_ids)
        assert got.attention.shape == ref.attention.shape and got.attention.dtype == np.float32
        assert not got.attention.flags.writeable
        worst = max(worst, float(np.abs(got.attention - ref.attention).max()))
    assert worst < TOL
    return worst


@pytest.mark.parametrize("family", ["distilbert", "bert", "roberta", "gpt2"])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_batched_equals_one_by_one_on_tiny_models(tiny_models, family, batch_size) -> None:
    _check_equal(tiny_models[family], MIXED, batch_size)


@pytest.mark.parametrize("family", ["distilbert", "bert", "roberta", "gpt2"])
def test_truncation_matches_extract(tiny_models, family) -> None:
    _check_equal(tiny_models[family], MIXED, 4, max_tokens=9)


def test_bundled_model_mixed_lengths(bundled_model) -> None:
    _check_equal(bundled_model, MIXED, 5)
    _check_equal(bundled_model, MIXED, 64)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_pad_id_and_batch_partner_change_nothing(tiny_models, family, monkeypatch) -> None:
    """The pad token's identity and a long partner in the same batch leave a sentence's numbers alone."""
    loaded = tiny_models[family]
    short = "The cat sat."
    alone = _all(loaded, [short], 1)[0].attention
    partner = MIXED[8]  # the longest: the short sentence is padded far
    with_partner = _all(loaded, [short, partner], 2)[0].attention
    assert np.abs(with_partner - alone).max() < TOL
    tok = loaded.tokenizer
    original = tok.pad_token_id
    for fake in (5, 17):
        monkeypatch.setattr(type(tok), "pad_token_id", property(lambda self, f=fake: f), raising=False)
        got = _all(loaded, [short, partner], 2)[0].attention
        assert np.abs(got - alone).max() < TOL
    monkeypatch.undo()
    assert tok.pad_token_id == original


def test_padding_never_counted_in_statistics(tiny_gpt2, tiny_bert) -> None:
    """Statistics of a sentence from a padded batch equal those of its one-sentence extraction."""
    for loaded in (tiny_bert, tiny_gpt2):
        records = _all(loaded, MIXED, 64)
        for i, text in enumerate(MIXED):
            got = statistics.head_statistics_for(records[i].result)
            ref = statistics.head_statistics_for(extract(loaded, text))
            num = [c for c in got.columns if got[c].dtype.kind == "f"]
            np.testing.assert_allclose(got[num].to_numpy(), ref[num].to_numpy(), atol=1e-5, equal_nan=True)
            assert list(got["pattern"]) == list(ref["pattern"])


def test_weight_on_a_pad_or_nan_is_refused(tiny_bert, monkeypatch) -> None:
    """The padded batch is verified as `verify` checks one sentence: a real row must sum to 1 over
    the real keys alone, so weight given to a pad fails, and so does NaN."""
    from core.errors import NoAttentionError

    texts = ["The cat sat.", MIXED[8]]  # the short one is padded far
    forward = batch_mod._forward

    def leaky(loaded, batch, half):
        arr = forward(loaded, batch, half)
        n = min(len(e.ids) for e in batch)
        b = [len(e.ids) for e in batch].index(n)
        arr[b, 0, 0, 0, :n] *= 0.5
        arr[b, 0, 0, 0, n] = 0.5  # half of a real row's weight on a pad key
        return arr

    monkeypatch.setattr(batch_mod, "_forward", leaky)
    with pytest.raises(NoAttentionError, match="rows do not sum to 1"):
        list(batch_mod.iter_padded(tiny_bert, texts, 2))

    def nan(loaded, batch, half):
        arr = forward(loaded, batch, half)
        arr[0, 0, 0, 0, 0] = np.nan
        return arr

    monkeypatch.setattr(batch_mod, "_forward", nan)
    with pytest.raises(NoAttentionError, match="NaN"):
        list(iter_batches(tiny_bert, texts, 2))


def test_tokenizer_chunks_change_nothing(tiny_roberta, monkeypatch) -> None:
    """A pool is tokenized ENCODE_CHUNK texts at a time; the chunk size changes no number."""
    monkeypatch.setattr(batch_mod, "ENCODE_CHUNK", 3)
    _check_equal(tiny_roberta, MIXED, 4)


def test_length_bucketing_and_budget(tiny_bert, monkeypatch) -> None:
    texts = [("word " * k).strip() + "." for k in (9, 1, 5, 2, 8, 3, 7, 4, 6, 1)]
    lengths = [[r.n_tokens for r in recs] for recs in iter_batches(tiny_bert, texts, 3)]
    flat = [n for batch in lengths for n in batch]
    assert flat == sorted(flat)  # batches of similar length, shortest first
    assert sum(len(b) for b in lengths) == len(texts)
    # A tiny attention budget splits batches further, and the numbers stay the same.
    per_sentence = 4 * tiny_bert.info.num_layers * tiny_bert.info.num_heads * 12 * 12
    monkeypatch.setattr(batch_mod, "ATTENTION_BUDGET_BYTES", per_sentence * 2)
    sizes = [len(recs) for recs in iter_batches(tiny_bert, texts, 8)]
    assert max(sizes) <= 2 or all(s <= 8 for s in sizes)
    _check_equal(tiny_bert, texts, 8)


def test_offsets_indices_blank_texts_and_half_on_cpu(tiny_bert, tiny_roberta) -> None:
    texts = ["The cat sat.", "   ", "Dogs bark loudly!"]
    records = _all(tiny_bert, texts, 4, indices=[10, 11, 12])
    assert sorted(records) == [10, 12]  # the blank text is skipped
    rec = records[12]
    assert len(rec.offsets) == rec.n_tokens
    for (start, end), special, tok in zip(rec.offsets, rec.special_mask, rec.tokens):
        if special:
            assert (start, end) == (0, 0)
        else:
            assert rec.text[start:end].lower() == tok.removeprefix("##")
    bpe = _all(tiny_roberta, ["Hello world, again."], 1)[0]
    words = {rec_w for rec_w in bpe.word_ids if rec_w is not None}
    assert len(words) >= 3
    assert all(bpe.text[s:e].strip() for (s, e), sp in zip(bpe.offsets, bpe.special_mask) if not sp)
    half = _all(tiny_bert, texts, 4, half=True)  # float16 only on a GPU; ignored on the CPU
    assert np.array_equal(half[2].attention, _all(tiny_bert, texts, 4)[2].attention)
    with pytest.raises(ValueError):
        next(iter_batches(tiny_bert, texts, 0))
    with pytest.raises(ValueError):
        next(iter_batches(tiny_bert, texts, 2, indices=[1]))
