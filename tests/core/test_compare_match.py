"""core.compare.align and core.compare.match: the she/he minimal pair word by word, texts that do
not line up, a head planted identical in two tiny models found by head matching, and a fine-tuned
copy whose changed heads rank first."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention.extract import extract
from core.compare import align, match, words
from tests.core.test_compare_models import (  # noqa: F401 - fixtures
    compare_dir, finetuned_copy, planted_pair, tiny_mwordpiece,
)
from tests.sentences import TUTORIAL_SENTENCES

SHE = "The lawyer questioned the witness because she was lying."
HE = "The lawyer questioned the witness because he was lying."


def _layer_head(wm: words.WordMatrix, layer: int, head: int) -> words.WordMatrix:
    return words.WordMatrix(wm.values[layer, head], wm.labels, wm.word_index, wm.special, wm.notes)


# --- alignment -------------------------------------------------------------------------------------

def test_align_words_kinds():
    assert align.align_words(("a", "b"), ("a", "b")).kind == align.IDENTICAL
    pair = align.align_words(("a", "b", "c"), ("a", "x", "c"))
    assert pair.kind == align.MINIMAL_PAIR and pair.differing == (1,) and "b / x" in pair.reason
    none = align.align_words(("a", "b"), ("a", "b", "c"))
    assert not none.lines_up and "2 words" in none.reason and "3" in none.reason
    assert align.align_words(("cafe\u0301",), ("café",)).kind == align.IDENTICAL  # NFC


@pytest.mark.parametrize("family_b", ["distilbert", "roberta", "gpt2"])
def test_she_he_minimal_pair_word_by_word(tiny_models, family_b):
    """The pair the old Compare page refused ("the texts tokenize differently"), across tokenizers."""
    ra = extract(tiny_models["distilbert"], SHE)
    rb = extract(tiny_models[family_b], HE)
    alignment, heads_a, heads_b = match.word_level_pair(ra, rb, specials="hidden")
    assert alignment.kind == align.MINIMAL_PAIR
    assert alignment.differing == (6,)
    assert alignment.words_a[6] == "she" and alignment.words_b[6] == "he"
    a, b = _layer_head(heads_a, 1, 0), _layer_head(heads_b, 1, 1)
    diff = align.difference(a, b, alignment)
    assert diff is not None
    assert diff.values.shape == (10, 10)
    assert diff.labels[6] == "she / he" and diff.differing.tolist() == [i == 6 for i in range(10)]
    np.testing.assert_allclose(diff.values, b.values - a.values)
    np.testing.assert_allclose(diff.values.sum(-1), 0.0, atol=1e-5)  # both rows sum to 1


def test_specials_as_own_rows_line_up_only_when_both_have_them(tiny_models):
    ra = extract(tiny_models["bert"], SHE)
    rr = extract(tiny_models["roberta"], HE)
    rg = extract(tiny_models["gpt2"], HE)
    al, ha, hr = match.word_level_pair(ra, rr, specials="own")
    a, r = _layer_head(ha, 0, 0), _layer_head(hr, 0, 0)
    diff = align.difference(a, r, al)
    assert diff is not None and diff.values.shape == (12, 12)
    assert diff.labels[0] == "[CLS] / <s>" and diff.special[0] and diff.special[-1]
    al_g, _, hg = match.word_level_pair(ra, rg, specials="own")
    assert al_g.lines_up  # the words do ...
    assert align.difference(a, _layer_head(hg, 0, 0), al_g) is None  # ... the special rows do not
    assert "Hide special tokens" in align.rows_line_up(a, _layer_head(hg, 0, 0))


def test_texts_that_do_not_line_up_are_said_so(tiny_models):
    ra = extract(tiny_models["distilbert"], SHE)
    rb = extract(tiny_models["roberta"], "The lawyer asked whether the witness was lying about it.")
    alignment, heads_a, heads_b = match.word_level_pair(ra, rb)
    assert not alignment.lines_up
    assert "do not line up" in alignment.reason
    assert align.difference(_layer_head(heads_a, 0, 0), _layer_head(heads_b, 0, 0), alignment) is None
    # each side is still its own word-level map, to draw side by side
    assert heads_a.values.shape[2] == 10 and heads_b.values.shape[2] == 11


# --- head matching ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted(compare_dir):
    return planted_pair(compare_dir, source=0, target=2, n_heads=4)


def _pairs(model_a, model_b, texts, **kw):
    out = []
    for text in texts:
        al, ha, hb = match.word_level_pair(extract(model_a, text), extract(model_b, text), **kw)
        assert al.lines_up
        out.append((ha.values, hb.values))
    return out


@pytest.mark.parametrize("specials", ["hidden", "own"])
def test_head_matching_finds_the_planted_head(planted, specials):
    a, b = planted
    matching = match.match_heads(_pairs(a, b, TUTORIAL_SENTENCES, specials=specials))
    assert matching.texts == 6 and matching.grid_a == matching.grid_b == (2, 4)
    layer, head, div = matching.best_of(0, 0)
    assert (layer, head) == (0, 2)
    assert div < 1e-4  # float32 round-off only
    best = matching.best()
    row = best[(best["layer"] == 0) & (best["head"] == 0)].iloc[0]
    assert (row["match_layer"], row["match_head"]) == (0, 2)
    others = best[~((best["layer"] == 0) & (best["head"] == 0))]
    assert (others["divergence"] > 20 * div).all()  # nothing else is identical by accident
    lmap = matching.layer_map()
    assert lmap.shape == (2, 2) and np.isfinite(lmap).all()
    assert np.nanmax(matching.divergence) <= np.log(2) + 1e-9


def test_head_matching_over_one_text_finds_it_too(planted):
    a, b = planted
    matching = match.match_heads(_pairs(a, b, [SHE]))
    assert matching.best_of(0, 0)[:2] == (0, 2) and matching.texts == 1


def test_matching_a_model_with_itself_is_the_identity(tiny_mwordpiece):
    matching = match.match_heads(_pairs(tiny_mwordpiece, tiny_mwordpiece, TUTORIAL_SENTENCES[:2]))
    best = matching.best()
    assert (best["match_layer"] == best["layer"]).all() and (best["match_head"] == best["head"]).all()
    assert best["divergence"].max() < 1e-6


def test_finetuned_copy_ranks_the_changed_heads_first(planted):
    base = planted[0]  # 2 layers x 4 heads
    changed = {(1, 1), (1, 3), (0, 2)}
    tuned = finetuned_copy(base, {1: [1, 3], 0: [2]}, scale=3.0)
    matching = match.match_heads(_pairs(base, tuned, TUTORIAL_SENTENCES))
    table = match.changed_heads(matching)
    assert list(table.columns) == ["rank", "layer", "head", "divergence", "match_layer", "match_head",
                                   "match_divergence"]
    top = {(int(r.layer), int(r.head)) for r in table.head(3).itertuples()}
    assert top == changed
    untouched_layer0 = table[(table["layer"] == 0) & (table["head"] != 2)]
    assert (untouched_layer0["divergence"] < 1e-6).all()  # layer 0's other heads are exactly the base's
    assert table["divergence"].is_monotonic_decreasing


def test_changed_heads_needs_the_same_grid():
    m = match.HeadMatching(divergence=np.zeros((2, 2, 3, 2)), rows=1, texts=1)
    with pytest.raises(ValueError, match="same grid"):
        match.changed_heads(m)


def test_divergence_skips_rows_without_mass():
    a = np.zeros((1, 1, 2, 2))
    a[0, 0, 0] = [1.0, 0.0]  # row 1 gave everything to hidden specials
    b = np.zeros((1, 1, 2, 2))
    b[0, 0] = [[0.0, 1.0], [0.5, 0.5]]
    m = match.match_heads([(a, b)])
    assert m.divergence[0, 0, 0, 0] == pytest.approx(np.log(2))  # one usable row, no overlap


def test_divergence_sums_equal_the_row_by_row_jensen_shannon():
    """The fast path (rows' own x ln x once, one logarithm per pair) gives what
    core.analysis.statistics.jensen_shannon gives row by row, to 1e-12."""
    from core.analysis.statistics import jensen_shannon

    rng = np.random.default_rng(3)
    heads = rng.random((2, 2, 3, 7, 7)) ** 4
    heads[heads < 0.05] = 0.0  # zeros in rows, as word-level maps have
    heads /= heads.sum(axis=-1, keepdims=True)
    heads[:, :, :, 0] = 0.0  # a row without mass (its word's attention went to hidden specials)
    a, b = heads
    sums, counts = match.divergence_sums(a, b)
    for i, j, k, l in [(0, 0, 0, 0), (0, 2, 1, 1), (1, 1, 0, 2)]:
        js = jensen_shannon(a[i, j, 1:], b[k, l, 1:])
        assert sums[i, j, k, l] == pytest.approx(js.sum(), abs=1e-12)
        assert counts[i, j, k, l] == 6
