"""core.compare.words: results of three tokenizer families (WordPiece, byte-level BPE,
SentencePiece) mapped onto the same words by character offsets; word-level matrices by Clark et
al.'s rule; Chinese/Japanese and Arabic/Hebrew with tiny multilingual tokenizers built here."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention.extract import extract
from core.compare import align, words
from tests.core.test_compare_models import (  # noqa: F401 - fixtures
    AR, HE, JA, ZH, compare_dir, tiny_mbpe, tiny_mwordpiece, tiny_sentencepiece,
)
from tests.sentences import TUTORIAL_SENTENCES

SHE = "The lawyer questioned the witness because she was lying."
HE_ = "The lawyer questioned the witness because he was lying."


@pytest.fixture(scope="module")
def three(tiny_distilbert, tiny_roberta, tiny_sentencepiece):
    """One model per tokenizer family: WordPiece, byte-level BPE, SentencePiece."""
    return {"wordpiece": tiny_distilbert, "bpe": tiny_roberta, "sentencepiece": tiny_sentencepiece}


def _check_map(result, wmap):
    """Every non-special token belongs to exactly one word, no token crosses a word boundary,
    words are in order and each is the text between its offsets."""
    assert len(wmap.token_word) == result.n_tokens
    for w in wmap.words:
        assert w.text == result.segment_text(w.segment)[w.start:w.end] and w.text.strip() == w.text
    order = [(w.segment, w.start) for w in wmap.words]
    assert order == sorted(order)
    for i, (wid, off) in enumerate(zip(wmap.token_word, result.offsets)):
        if result.special_mask[i]:
            assert wid == -1 and wmap.slot[i] >= 0
            continue
        assert wid >= 0
        s, e = off
        for k, w in enumerate(wmap.words):
            if w.segment != result.segment_ids[i] or k == wid:
                continue
            assert min(e, w.end) - max(s, w.start) <= 0, f"token {i} crosses into word {w.text!r}"
    assert set(wmap.token_word) - {-1} == set(range(len(wmap.words)))  # every word has a token


def test_text_spans_rules():
    text = "Café isn't naïve, 2026! 東京 ok👍🏽 👩\u200d💻 a\u0301b"
    got = [text[s:e] for s, e in words.text_spans(text)]
    assert got == ["Café", "isn", "'", "t", "naïve", ",", "2026", "!", "東", "京", "ok", "👍🏽", "👩\u200d💻", "a\u0301b"]
    assert words.text_spans("   ") == []
    assert [AR[s:e] for s, e in words.text_spans(AR)] == ["القطة", "جلست", "على", "الحصيرة", "."]


@pytest.mark.parametrize("text", TUTORIAL_SENTENCES + [SHE])
def test_three_tokenizer_families_land_on_the_same_words(three, text):
    results = {k: extract(m, text) for k, m in three.items()}
    maps = words.build_word_maps(list(results.values()))
    expected = tuple(text[s:e] for s, e in words.text_spans(text))  # no token crosses a base word here
    for (family, result), wmap in zip(results.items(), maps):
        assert wmap.texts == expected, family
        _check_map(result, wmap)
    # each family's own map (its tokens only) agrees too
    for result in results.values():
        assert words.word_map(result).texts == expected


def test_word_level_matrices_of_three_families_compare_cell_by_cell(three):
    results = [extract(m, SHE) for m in three.values()]
    maps = words.build_word_maps(results)
    hidden = [words.word_heads(r, m, specials="hidden") for r, m in zip(results, maps)]
    shapes = {h.values.shape[2:] for h in hidden}
    assert shapes == {(10, 10)}
    for h in hidden:
        np.testing.assert_allclose(h.values.sum(-1), 1.0, atol=1e-5)
        assert not h.special.any() and h.labels[6] == "she"
    own = [words.word_heads(r, m, specials="own") for r, m in zip(results, maps)]
    assert [h.labels[0] for h in own] == ["[CLS]", "<s>", "<s>"]
    assert [h.labels[-1] for h in own] == ["[SEP]", "</s>", "</s>"]
    for h in own:
        assert h.values.shape[2:] == (12, 12) and h.special.tolist() == [True] + [False] * 10 + [True]
        np.testing.assert_allclose(h.values.sum(-1), 1.0, atol=1e-5)
    assert align.rows_line_up(own[0], own[1]) is None


def test_clark_rule_keys_summed_queries_averaged(tiny_roberta):
    r = extract(tiny_roberta, SHE)
    wmap = words.word_map(r)
    wm = words.word_matrix(r.attention[1, 0], r, wmap, specials="own")
    pieces = [i for i, w in enumerate(wmap.token_word) if w == 1]  # "lawyer": several BPE pieces here
    assert len(pieces) > 1
    row = wm.labels.index("lawyer")
    a = r.attention[1, 0].astype(np.float64)
    witness = [i for i, w in enumerate(wmap.token_word) if w == 4]
    expected = a[np.ix_(pieces, witness)].sum(axis=1).mean()
    assert wm.values[row, wm.labels.index("witness")] == pytest.approx(expected, rel=1e-5)


def test_pairs_of_texts_and_special_slots(tiny_bert, tiny_roberta, tiny_gpt2):
    rb = extract(tiny_bert, "The cat sat.", "It slept.")
    rr = extract(tiny_roberta, "The cat sat.", "It slept.")
    rg = extract(tiny_gpt2, "The cat sat.", "It slept.")
    mb, mr, mg = words.build_word_maps([rb, rr, rg])
    assert mb.texts == mr.texts == mg.texts == ("The", "cat", "sat", ".", "It", "slept", ".")
    assert [w.segment for w in mb.words] == [0, 0, 0, 0, 1, 1, 1]
    assert mb.special_slots() == mr.special_slots() == (0, 4, 7)  # [CLS] | [SEP] | [SEP]; <s> | </s></s> | </s>
    assert mg.special_slots() == ()
    own_b = words.word_matrix(rb.attention[0, 0], rb, mb, specials="own")
    own_r = words.word_matrix(rr.attention[0, 0], rr, mr, specials="own")
    own_g = words.word_matrix(rg.attention[0, 0], rg, mg, specials="own")
    assert own_r.labels[5] == "</s></s>"  # RoBERTa's two separators share a row
    assert own_b.values.shape == own_r.values.shape == (10, 10)
    assert align.rows_line_up(own_b, own_r) is None
    assert "special tokens" in align.rows_line_up(own_b, own_g)


def test_truncated_results_lose_their_last_words(tiny_distilbert, tiny_roberta):
    text = " ".join(["cat"] * 20) + " end."
    full = extract(tiny_roberta, text)
    cut = extract(tiny_distilbert, text, max_tokens=12)
    assert cut.truncated_tokens > 0 and full.truncated_tokens == 0
    m_full, m_cut = words.build_word_maps([full, cut])
    assert len(m_cut.words) == 10 and len(m_full.words) == 22
    assert m_cut.notes and "truncated" in m_cut.notes[0]
    result = align.align(m_full, m_cut)
    assert not result.lines_up and "truncated" in result.reason


def test_results_without_offsets_are_refused(tiny_bert):
    import dataclasses

    r = dataclasses.replace(extract(tiny_bert, SHE), offsets=())
    with pytest.raises(ValueError, match="offsets"):
        words.word_map(r)


# --- other scripts ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def multilingual(tiny_mwordpiece, tiny_mbpe, tiny_sentencepiece):
    return [tiny_mwordpiece, tiny_mbpe, tiny_sentencepiece]


@pytest.mark.parametrize("text", [ZH, JA])
def test_chinese_and_japanese_get_words_without_spaces(multilingual, text):
    results = [extract(m, text) for m in multilingual]
    maps = words.build_word_maps(results)
    assert len({m.texts for m in maps}) == 1
    got = maps[0].texts
    assert "".join(got) == text  # every character in exactly one word, in order
    assert got[-1] == "。" and 1 < len(got) <= len(text)
    for r, m in zip(results, maps):
        _check_map(r, m)
    # the WordPiece model alone splits CJK into characters (BERT's pre-tokenizer does too) ...
    wp = words.word_map(results[0])
    assert len(wp.words) >= len(got)
    # ... the SentencePiece pre-tokenizer's own "words" are whitespace-separated chunks: one here
    assert words.word_map(results[2], "tokenizer").texts == (text,)
    # word-level matrices are comparable across the three and rows sum to 1
    heads = [words.word_heads(r, m) for r, m in zip(results, maps)]
    assert {h.values.shape[2:] for h in heads} == {(len(got), len(got))}
    for h in heads:
        np.testing.assert_allclose(h.values.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("text,expected", [
    (AR, ("القطة", "جلست", "على", "الحصيرة", ".")),
    (HE, ("החתול", "ישב", "על", "השטיח", ".")),
])
def test_right_to_left_words_keep_logical_order(multilingual, text, expected):
    results = [extract(m, text) for m in multilingual]
    maps = words.build_word_maps(results)
    for r, m in zip(results, maps):
        assert m.texts == expected
        _check_map(r, m)
        assert [w.rtl for w in m.words] == [True] * 4 + [False]
        starts = [w.start for w in m.words]
        assert starts == sorted(starts) and starts[0] == 0  # logical (reading) order, not screen order
    heads = [words.word_heads(r, m) for r, m in zip(results, maps)]
    assert all(h.labels == expected for h in heads)


def test_mixed_scripts_in_one_sentence(multilingual):
    text = "Tokyo 東京 and القاهرة are cities."
    results = [extract(m, text) for m in multilingual]
    maps = words.build_word_maps(results)
    assert len({m.texts for m in maps}) == 1
    texts = maps[0].texts
    assert texts[0] == "Tokyo" and "القاهرة" in texts and texts[-1] == "."
    for r, m in zip(results, maps):
        _check_map(r, m)
