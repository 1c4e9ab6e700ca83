"""core.probing.syntax and core.probing.run: hand-checked parses with planted heads (one that attends
to each word's syntactic head scores 1.0; one that attends to the next word scores exactly the +1
baseline), the streaming counts, the tables, and a real en_core_web_sm parse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.probing import run, syntax
from core.probing.parser import Parse
from tests.core.test_probing_common import HAND_PARSES, hand_parse, planted_attention, tokenize

SENTENCES = list(HAND_PARSES)
FAMILIES = ["wordpiece", "byte_bpe", "byte_bpe_gpt2", "sentencepiece"]


def planted_counts(family: str, texts=SENTENCES) -> syntax.SyntaxCounts:
    """One layer, three heads: 0 = syntactic head, 1 = next word, 2 = syntactic head transposed
    (each head attends to its dependents, shared evenly)."""
    counts = None
    for text in texts:
        parse = hand_parse(text)
        tok = tokenize(family, text)
        head = planted_attention(parse, tok, "head")[0, 0]
        nxt = planted_attention(parse, tok, "next")[0, 0]
        att = np.stack([head, nxt, head.T])[None]  # [1, 3, n, n]; head 2's rows need not sum to 1
        probe = syntax.probe_sentence(att, parse, tok.offsets, tok.special, tok.word_ids, text=text)
        counts = counts or syntax.SyntaxCounts(1, 3)
        counts.add(probe)
    return counts


def expected_plus_one(family: str) -> dict[str, float]:
    """By hand from HAND_PARSES: the share of each relation's (probed) words whose head is the next word."""
    hits: dict[str, list[int]] = {}
    for text in SENTENCES:
        words, heads, deps = HAND_PARSES[text]
        for i, (h, d) in enumerate(zip(heads, deps)):
            if d == "ROOT":
                continue
            if family == "wordpiece" and text.startswith("I don't") and words[i] in ("do", "n't"):
                continue  # BERT's "don" straddles do|n't: both words leave the probe
            hits.setdefault(d, []).append(int(h == i + 1))
    return {d: float(np.mean(v)) for d, v in hits.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_planted_heads(family):
    counts = planted_counts(family)
    acc = syntax.accuracy_frame(counts)
    dep = acc[acc["direction"] == syntax.DIRECTIONS[0]].set_index(["head", "relation"])["accuracy"]
    # head 0 attends to each word's syntactic head: 1.0 on every relation
    assert (dep.loc[0] == 1.0).all()
    # head 1 attends to the next word: exactly the +1 baseline, relation by relation
    base = syntax.baseline_frame(counts)
    plus_one = base[base["offset"] == 1].set_index("relation")["accuracy"]
    pd.testing.assert_series_equal(dep.loc[1].sort_index(), plus_one.sort_index(), check_names=False)
    assert plus_one.to_dict() == pytest.approx(expected_plus_one(family))
    # head 2 is head 0 transposed: the head -> dependent direction finds the syntactic head every time
    tr = acc[acc["direction"] == syntax.DIRECTIONS[1]].set_index(["head", "relation"])["accuracy"]
    assert (tr.loc[2] == 1.0).all()
    best = syntax.best_heads(counts).set_index("relation")
    assert (best["accuracy"] == 1.0).all()
    assert set(best["head"]) <= {0, 2}
    # 4 of 5 determiners sit right before their noun ("a red ball" is +2)
    assert best.loc["det", "offset"] == 1 and best.loc["det", "baseline"] == 0.8


def test_hand_counts_and_skips():
    counts = planted_counts("wordpiece")
    # 4 sentences, 29 words, 4 roots -> 25 arcs; BERT's don't leaves out aux and neg
    assert counts.sentences == 4
    assert counts.arcs == 23
    assert counts.skipped["merged"] == 2
    t = dict(zip(counts.relations, counts.total.sum(axis=0)))
    assert t == {"det": 5, "nsubj": 5, "prep": 1, "pobj": 1, "punct": 4, "mark": 1, "aux": 1, "ccomp": 1,
                 "amod": 2, "dobj": 2}
    # with a byte-level BPE the contraction splits cleanly: aux and neg are probed
    assert planted_counts("byte_bpe").arcs == 25


def test_causal_rows_without_candidates_predict_nothing():
    w = np.tril(np.ones((4, 4)))
    w /= w.sum(axis=1, keepdims=True)
    pred = syntax.predictions(w[None, None])
    assert pred[0, 0, 0, 0] == -1  # the first word sees only itself
    assert pred[0, 0, 0, 1] == 0
    assert pred[1, 0, 0, 3] == -1  # nothing later looks at the last word
    # ties go to the earlier word, as numpy's argmax
    assert pred[0, 0, 0, 3] == 0


def test_streaming_memory_and_merge():
    one = planted_counts("sentencepiece", SENTENCES[:2])
    two = planted_counts("sentencepiece", SENTENCES[2:])
    every = planted_counts("sentencepiece")
    size = every.nbytes
    for _ in range(50):  # the same sentences again: counts grow, memory does not
        for text in SENTENCES:
            tok = tokenize("sentencepiece", text)
            att = planted_attention(hand_parse(text), tok, "head", heads=3)
            every.add(syntax.probe_sentence(att, hand_parse(text), tok.offsets, tok.special, tok.word_ids))
    assert every.nbytes == size and every.sentences == 204
    merged = one.merge(two)
    both = planted_counts("sentencepiece")
    for name in ("correct", "total", "baseline"):
        a = getattr(merged, name)
        b = getattr(both, name)
        order = [merged.relations.index(r) for r in both.relations]
        # fold assignment differs (each run alternates from its own start): compare fold sums
        np.testing.assert_array_equal(a.sum(axis=0)[..., order], b.sum(axis=0))
    assert merged.sentences == 4
    pd.testing.assert_frame_equal(syntax.best_heads(merged)[["relation", "count", "accuracy", "baseline"]],
                                  syntax.best_heads(both)[["relation", "count", "accuracy", "baseline"]])


def test_frame_round_trip(tmp_path):
    counts = planted_counts("byte_bpe")
    frame = counts.to_frame()
    path = tmp_path / "counts.csv"
    frame.to_csv(path, index=False)
    back = syntax.SyntaxCounts.from_frame(pd.read_csv(path, keep_default_na=False))
    assert back.relations == counts.relations and back.offsets == counts.offsets
    for name in ("correct", "total", "baseline"):
        np.testing.assert_array_equal(getattr(back, name), getattr(counts, name))
    assert (back.sentences, back.skipped, back.unmatched_words) == \
           (counts.sentences, counts.skipped, counts.unmatched_words)
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    frame.to_parquet(tmp_path / "counts.parquet")
    again = syntax.SyntaxCounts.from_frame(pd.read_parquet(tmp_path / "counts.parquet"))
    np.testing.assert_array_equal(again.correct, counts.correct)
    assert again.relations == counts.relations


def test_best_heads_held_out_and_map():
    counts = planted_counts("wordpiece")
    best = syntax.best_heads(counts)
    assert list(best.columns) == ["relation", "count", "layer", "head", "direction", "accuracy", "offset",
                                  "baseline", "margin", "held_out", "held_out_baseline", "held_out_margin",
                                  "verdict"]
    assert set(best["verdict"]) <= set(syntax.VERDICTS)
    assert best["count"].is_monotonic_decreasing
    # relations seen in both folds get a held-out score; a perfect head stays perfect
    both = best.dropna(subset=["held_out"])
    assert len(both) and (both["held_out"] == 1.0).all()
    assert syntax.best_heads(counts, min_count=3)["count"].min() >= 3
    hmap = syntax.head_relation_map(counts)
    assert len(hmap) == 3 * len(counts.relations)
    assert (hmap.loc[hmap["head"] == 0, "accuracy"] == 1.0).all()
    assert (hmap.loc[hmap["head"] == 2, "direction"] == syntax.DIRECTIONS[1]).all()
    one_dir = syntax.head_relation_map(counts, direction=syntax.DIRECTIONS[0])
    assert (one_dir.loc[one_dir["head"] == 2, "accuracy"] < 1.0).any()
    with pytest.raises(ValueError):
        syntax.head_relation_map(counts, direction="sideways")


def test_wrong_shapes_are_errors():
    parse = hand_parse(SENTENCES[0])
    tok = tokenize("wordpiece", SENTENCES[0])
    n = len(tok.tokens)
    with pytest.raises(ValueError):
        syntax.probe_sentence(np.zeros((1, 1, n + 1, n + 1)), parse, tok.offsets, tok.special, tok.word_ids)
    counts = syntax.SyntaxCounts(2, 2)
    probe = syntax.probe_sentence(planted_attention(parse, tok, "head"), parse, tok.offsets, tok.special, tok.word_ids)
    with pytest.raises(ValueError):
        counts.add(probe)


def test_probe_batch_takes_records_and_dicts():
    items, parses = [], []
    for text in SENTENCES:
        tok = tokenize("wordpiece", text)
        att = planted_attention(hand_parse(text), tok, "head", heads=3)
        items.append({"text": text, "attention": att, "offsets": [list(o) for o in tok.offsets],
                      "special_mask": list(tok.special), "word_ids": [-1 if w is None else w for w in tok.word_ids],
                      "tokens": list(tok.tokens)})
        parses.append(hand_parse(text))
    counts = run.probe_batch(items, parses)
    assert counts.sentences == 4 and counts.arcs == 23
    assert (syntax.best_heads(counts)["accuracy"] == 1.0).all()
    with pytest.raises(ValueError):
        run.probe_batch(items, parses[:2])


# --- with a real model and the real parser ------------------------------------------------------

def _nlp():
    from core.probing import parser

    status = parser.parser_status()
    if not status.available:
        pytest.skip(f"no English spaCy model: {status.message}")
    return parser.load_parser()


@pytest.fixture(scope="module")
def nlp():
    return _nlp()


def test_real_parse_of_a_simple_sentence(nlp):
    from core.probing import parser

    p = parser.parse(nlp, "The cat sat on the mat.")
    words, heads, deps = HAND_PARSES["The cat sat on the mat."]
    assert [t.text for t in p.tokens] == words
    assert [t.head for t in p.tokens] == heads
    assert [t.dep for t in p.tokens] == deps


def test_probe_corpus_on_a_tiny_model_with_progress_and_cancel(nlp, tiny_bert, tiny_gpt2):
    texts = ["The cat sat on the mat.", "", "I don't like big dogs.", "She said that the cat was sleeping."]
    seen = []
    r = run.probe_corpus(tiny_bert, texts, nlp, progress=lambda p: seen.append((p.done, p.total)))
    assert (r.done, r.total, r.blank, r.failed, r.cancelled) == (3, 3, 1, 0, False)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert (r.counts.layers, r.counts.heads) == (2, 2) and r.counts.sentences == 3
    calls = iter([False, False, True])
    c = run.probe_corpus(tiny_bert, texts, nlp, cancel=lambda: next(calls, True))
    assert c.cancelled and c.done == 1 and c.counts.sentences == 1  # what was done is kept
    g = run.probe_corpus(tiny_gpt2, texts, nlp)  # no specials, causal, byte-level BPE
    assert g.done == 3 and g.failed == 0


def test_probe_corpus_with_an_engine_and_a_failure(nlp, tiny_distilbert):
    from core.attention.engine import AttentionEngine

    engine = AttentionEngine(device="cpu")
    engine.add_model(tiny_distilbert)
    r = run.probe_corpus(engine, ["The cat sat on the mat.", "x" * 5], nlp, model_id=tiny_distilbert.info.model_id,
                         max_tokens=8)
    assert r.done + r.failed == 2
    with pytest.raises(ValueError):
        run.probe_corpus(engine, ["a"], nlp)


def test_sentence_input_matches_extract_and_view(bundled_model, nlp):
    from core.probing import parser

    text = "The cat that I love sat on the mat."
    item = run.sentence_input(bundled_model, text)
    assert item.offsets[0] == (0, 0) and item.special_mask[0]
    view = run.sentence_view(item, parser.parse(nlp, text), 2, 8)
    assert view.words[:3] == ("The", "cat", "that")
    assert view.attention.shape == (len(view.words), len(view.words))
    assert ("cat" in view.words) and view.arcs


def test_batched_run_equals_one_by_one(bundled_model, nlp):
    """With padded batches (core.attention.batch) the counts are exactly those of one-by-one extraction."""
    if run._batched_extractor() is None:
        pytest.skip("core.attention.batch is not in this tree")
    from core.examples import EXAMPLES

    texts = [*EXAMPLES.values(), "I don't think the well-known author's book, which I read twice, is bad.",
             "Birds sing.", "Where is the library? It is next to the station."]
    one = run.probe_corpus(bundled_model, texts, nlp)
    ticks = []
    many = run.probe_corpus(bundled_model, texts, nlp, batch_size=4, progress=lambda p: ticks.append(p.done))
    assert one.done == many.done == len(texts) and not (one.failed or many.failed)
    assert ticks[-1] == len(texts) and len(ticks) < len(texts)  # one tick per batch
    a, b = one.counts, many.counts
    order = [b.relations.index(r) for r in a.relations]
    # batches come in length order, but a sentence's fold is its corpus position: equal counts
    np.testing.assert_array_equal(a.correct, b.correct[..., order])
    np.testing.assert_array_equal(a.total, b.total[:, order])
    np.testing.assert_array_equal(a.baseline, b.baseline[..., order])


@pytest.mark.parametrize(("count", "margin", "want"), [
    (500, 0.0, "no better than the offset guess"),  # det: the best head is exactly the +1 guess
    (500, -0.02, "no better than the offset guess"),
    (500, 0.039, "barely above the offset guess"),  # nsubj: 3.9 points
    (500, 0.25, "beats the offset guess"),
    (5, 0.5, "too few words"),
    (500, float("nan"), "too few words"),
])
def test_each_relation_gets_a_verdict_against_its_offset_guess(count, margin, want):
    assert syntax.verdict(count, margin) == want
