"""Reading a corpus: every format, every limit counted, every bad input a typed error whose text
is a sentence for the user."""

from __future__ import annotations

import json
import re

import pytest

from core.corpus import sources
from core.corpus.sources import (
    MAX_CHARS_PER_LINE,
    Corpus,
    DatasetUnavailableError,
    EmptyCorpusError,
    FileTooLargeError,
    MalformedFileError,
    MissingColumnError,
    NotUtf8Error,
    NumericColumnError,
    UnsupportedFormatError,
)
from core.errors import AttentionDashboardError
from core.examples import EXAMPLES


def _user_sentence(err: Exception) -> None:
    text = str(err)
    assert isinstance(err, AttentionDashboardError)
    assert text and (text[0].isupper() or text[0] == "'") and text.rstrip().endswith(".") and "Traceback" not in text


def test_pasted_text_skips_and_counts_empty_lines() -> None:
    corpus = sources.from_text("The cat sat.\n\n   \nA dog ran.\r\nWhy?\n")
    assert corpus.sentences == ("The cat sat.", "A dog ran.", "Why?")
    assert corpus.skipped_empty == 2
    assert corpus.notes() == ["2 empty lines skipped."]


def test_long_lines_are_cut_at_a_word_and_counted() -> None:
    long = " ".join(["word"] * 400)  # 1,999 characters
    corpus = sources.from_text(f"Short one.\n{long}\n{'x' * 1500}")
    assert corpus.truncated_lines == 2
    assert all(len(s) <= MAX_CHARS_PER_LINE for s in corpus.sentences)
    assert corpus.sentences[1].endswith("word")  # cut at a space, not inside a word
    assert len(corpus.sentences[2]) == MAX_CHARS_PER_LINE  # no space: a hard cut
    assert any("cut" in note for note in corpus.notes())


def test_lines_past_the_limit_are_dropped_and_counted() -> None:
    corpus = sources.from_text("\n".join(f"Sentence {i}." for i in range(25)), max_sentences=10)
    assert len(corpus) == 10 and corpus.dropped_lines == 15
    assert corpus.sentences[-1] == "Sentence 9."


def test_txt_file_and_byte_order_mark() -> None:
    corpus = sources.from_file("notes.txt", "\ufeffOne line.\nTwo lines.\n".encode("utf-8"))
    assert corpus.sentences == ("One line.", "Two lines.") and corpus.kind == "txt"


def test_csv_column_with_quotes_newlines_and_empty_cells() -> None:
    data = ('id,text,score\n1,"Hello, world.",3\n2,"A cell\nwith a newline.",4\n3,,5\n4,Last one.,6\n').encode()
    assert sources.csv_columns(data) == ["id", "text", "score"]
    corpus = sources.from_file("data.csv", data, "text")
    assert corpus.sentences == ("Hello, world.", "A cell with a newline.", "Last one.")
    assert corpus.skipped_empty == 1
    assert "column 'text'" in corpus.name


def test_csv_missing_column_names_the_columns() -> None:
    data = b"id,body\n1,Hello.\n"
    with pytest.raises(MissingColumnError) as info:
        sources.from_file("data.csv", data, "text")
    assert "'body'" in str(info.value) and "'text'" in str(info.value)
    _user_sentence(info.value)
    with pytest.raises(MissingColumnError):
        sources.from_file("data.csv", data, None)


def test_csv_column_of_numbers_is_refused() -> None:
    data = b"id,text\n1,Hello.\n2,Bye.\n3,\n"
    with pytest.raises(NumericColumnError) as info:
        sources.from_file("data.csv", data, "id")
    _user_sentence(info.value)
    assert "numbers" in str(info.value)
    with pytest.raises(NumericColumnError):
        sources.from_file("data.csv", b"x\n1.5\n-2e3\n7%\n", "x")


def test_jsonl_field_and_non_text_values() -> None:
    rows = [{"text": "First.", "n": 1}, {"text": None}, {"text": ["a", "list"]}, {"other": "no field"},
            {"text": "Second."}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    assert sources.jsonl_fields(data) == ["text", "n", "other"]
    corpus = sources.from_file("rows.jsonl", data, "text")
    assert corpus.sentences == ("First.", "Second.")
    assert corpus.skipped_empty == 1 and corpus.skipped_other == 2


def test_jsonl_errors() -> None:
    with pytest.raises(MissingColumnError) as info:
        sources.from_file("rows.jsonl", b'{"a": "x"}\n', "text")
    assert "field" in str(info.value)
    with pytest.raises(NumericColumnError):
        sources.from_file("rows.jsonl", b'{"n": 1}\n{"n": 2.5}\n', "n")
    with pytest.raises(MalformedFileError) as bad:
        sources.from_file("rows.jsonl", b'{"text": "ok"}\n{not json}\n', "text")
    assert "line 2" in str(bad.value)
    _user_sentence(bad.value)
    with pytest.raises(MalformedFileError):
        sources.from_file("rows.jsonl", b'["a list"]\n', "text")


def test_not_utf8_is_refused_with_the_position() -> None:
    data = "Caf\u00e9 au lait.\n".encode("latin-1")
    for name, column in (("notes.txt", None), ("data.csv", "text"), ("rows.jsonl", "text")):
        with pytest.raises(NotUtf8Error) as info:
            sources.from_file(name, data, column)
        assert "UTF-8" in str(info.value) and "position 3" in str(info.value)
        _user_sentence(info.value)


def test_size_limit_and_formats() -> None:
    with pytest.raises(FileTooLargeError) as info:
        sources.from_file("big.txt", b"a\n" * 10, max_bytes=8)
    _user_sentence(info.value)
    with pytest.raises(UnsupportedFormatError):
        sources.from_file("slides.pdf", b"%PDF")
    assert sources.format_of("x.NDJSON") == "jsonl"


def test_empty_corpus_is_refused() -> None:
    with pytest.raises(EmptyCorpusError) as info:
        sources.from_text("\n  \n\n")
    assert "3 empty" in str(info.value)
    _user_sentence(info.value)


def test_read_path_has_no_size_limit_by_default(tmp_path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("\n".join(f"Line {i}." for i in range(sources.MAX_SENTENCES + 5)), encoding="utf-8")
    assert len(sources.read_path(path)) == sources.MAX_SENTENCES + 5
    with pytest.raises(MalformedFileError):
        sources.read_path(tmp_path / "missing.txt")


def test_builtins() -> None:
    tutorial = sources.builtin("tutorial")
    assert tutorial.sentences == tuple(EXAMPLES.values())
    sample = sources.builtin("sample_en")
    assert 250 <= len(sample) <= 1000
    assert len(set(sample.sentences)) == len(sample)  # no duplicates
    assert sum(s.endswith("?") for s in sample.sentences) >= 20  # questions
    passive = re.compile(r"\b(is|are|was|were|been|be)\s+\w+(ed|en|lt|ld|ht|wn)\b")
    assert sum(bool(passive.search(s)) for s in sample.sentences) >= 30  # passives
    assert sum(" who " in s or " that " in s or " which " in s for s in sample.sentences) >= 40  # relatives
    with pytest.raises(KeyError):
        sources.builtin("nope")


def test_digest_depends_on_sentences_only() -> None:
    a = sources.from_text("One.\n\nTwo.", name="a")
    b = Corpus.of(["One.", "Two."], name="b")
    assert a.digest == b.digest
    assert a.digest != Corpus.of(["One.", "Two!"]).digest


def test_hub_datasets_are_decided_up_front(monkeypatch) -> None:
    # conftest sets offline mode; `datasets` is not a requirement. Either way: a clear reason, fast.
    usable, reason = sources.hub_dataset_status()
    assert not usable and reason
    with pytest.raises(DatasetUnavailableError) as info:
        sources.from_hub("imdb", None, "train", "text")
    _user_sentence(info.value)
    with pytest.raises(DatasetUnavailableError):
        sources.from_hub("../etc/passwd", None, "train", "text")
    monkeypatch.setattr(sources, "datasets_installed", lambda: False)
    assert "not installed" in sources.hub_dataset_status()[1]


@pytest.mark.parametrize(("name", "data", "want"), [
    ("reviews.csv", b"id,stars,comment_text\n1,5,The food was great and cheap.\n2,3,Slow service but a nice view.\n",
     "comment_text"),
    ("a.csv", b"id,Sentence,label\n1,The cat sat.,0\n2,A dog barked.,1\n", "Sentence"),
    ("a.tsv", b"n\tline\n1\tThe cat sat on the mat.\n", "line"),
    ("a.jsonl", b'{"id": 1, "body": "The cat sat."}\n{"id": 2, "body": "A dog barked."}\n', "body"),
    ("nums.csv", b"id,score\n1,0.5\n2,0.7\n", None),
])
def test_the_text_column_is_chosen_not_the_first_one(name, data, want):
    assert sources.text_column(data, name) == want
    if want is not None:
        assert len(sources.from_file(name, data, want).sentences) >= 1
