"""Reading a corpus: one sentence per line of pasted text or a .txt file, a chosen column of a
.csv, a chosen field of a .jsonl, the built-in sets, or a Hugging Face dataset when online.

Every reader returns a `Corpus` (the sentences plus what was skipped, cut or dropped, counted)
or raises a `CorpusError` whose `str()` is a sentence for the user. Limits are constants, so
the page states them and the tests use them. No Streamlit; `datasets` is imported only when a
Hub dataset is asked for (it is not a requirement).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import runfiles
from core.corpus.errors import (
    CorpusError,
    DatasetUnavailableError,
    EmptyCorpusError,
    FileTooLargeError,
    MalformedFileError,
    MissingColumnError,
    NotUtf8Error,
    NumericColumnError,
    UnsupportedFormatError,
)

MAX_SENTENCES = 10_000  # sentences per corpus in the app (the command line lifts it)
MAX_CHARS_PER_LINE = 1_000  # longer lines are cut (at a space when one is near the end)
MAX_FILE_MB = 20  # uploads; .streamlit/config.toml's server.maxUploadSize says the same
MAX_FILE_BYTES = MAX_FILE_MB * 2**20
FORMATS = ("txt", "csv", "jsonl")
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "corpus"
SAMPLE_PATH = ASSETS / "sample_en.txt"
BUILTINS: dict[str, str] = {
    "tutorial": "The tutorial's six sentences",
    "sample_en": "Sample corpus (English, written for this app)",
}

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


# --- the corpus -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    """Sentences to run, in order, and what reading them skipped, cut or dropped."""

    name: str  # shown to the user: "pasted text", "reviews.csv, column 'text'", ...
    kind: str  # "text" | "txt" | "csv" | "jsonl" | "builtin" | "hub" | "list"
    sentences: tuple[str, ...]
    skipped_empty: int = 0  # empty lines / empty values, skipped
    truncated_lines: int = 0  # lines cut to MAX_CHARS_PER_LINE
    dropped_lines: int = 0  # lines past the sentence limit, not read
    skipped_other: int = 0  # values that were not text (null, list, object, missing field)

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def digest(self) -> str:
        """sha256 of the sentences (what the numbers depend on; not the name or the counts)."""
        return runfiles.texts_digest(self.sentences)

    def notes(self) -> list[str]:
        """One sentence per thing the reader did to the input, for the page and the command line."""
        out = []
        if self.skipped_empty:
            out.append(f"{self.skipped_empty:,} empty lines skipped.")
        if self.truncated_lines:
            out.append(f"{self.truncated_lines:,} lines longer than {MAX_CHARS_PER_LINE:,} characters were cut "
                       "to that length.")
        if self.dropped_lines:
            out.append(f"{self.dropped_lines:,} lines past the limit of {len(self.sentences):,} sentences were "
                       "not read.")
        if self.skipped_other:
            out.append(f"{self.skipped_other:,} values that were not text (empty, null, lists or objects) "
                       "were skipped.")
        return out

    @classmethod
    def of(cls, sentences: Iterable[str], name: str = "sentences", *,
           max_sentences: int | None = MAX_SENTENCES) -> Corpus:
        """A corpus from strings already in memory (each one sentence), with the same rules."""
        return _collect(name, "list", ((s, False) for s in sentences), max_sentences)


def _clean(value: str) -> tuple[str, bool]:
    """(the sentence on one line, stripped and cut to MAX_CHARS_PER_LINE; was it cut?)."""
    text = " ".join(value.split()) if ("\n" in value or "\r" in value or "\t" in value) else value.strip()
    if len(text) <= MAX_CHARS_PER_LINE:
        return text, False
    cut = text[:MAX_CHARS_PER_LINE]
    space = cut.rfind(" ")
    if space >= MAX_CHARS_PER_LINE * 0.8:  # cut at a word boundary when one is near the limit
        cut = cut[:space]
    return cut.rstrip(), True


def _collect(name: str, kind: str, values: Iterable[tuple[Any, bool]], max_sentences: int | None,
             *, skipped_other: int = 0) -> Corpus:
    """values: (raw value, is-not-text) pairs in order. Builds the Corpus and its counts."""
    sentences: list[str] = []
    empty = cut = dropped = 0
    other = skipped_other
    for raw, not_text in values:
        if not_text:
            other += 1
            continue
        if raw is None or not str(raw).strip():
            empty += 1
            continue
        if max_sentences is not None and len(sentences) >= max_sentences:
            dropped += 1
            continue
        text, was_cut = _clean(str(raw))
        cut += was_cut
        sentences.append(text)
    if not sentences:
        raise EmptyCorpusError(name, empty + other)
    return Corpus(name=name, kind=kind, sentences=tuple(sentences), skipped_empty=empty, truncated_lines=cut,
                  dropped_lines=dropped, skipped_other=other)


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Excel's CSVs) is not part of the text
    except UnicodeDecodeError as err:
        raise NotUtf8Error(name, int(err.start)) from None


def _check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLargeError(name, size, max_bytes)


# --- readers ----------------------------------------------------------------------------------

def from_text(text: str, name: str = "pasted text", *, max_sentences: int | None = MAX_SENTENCES) -> Corpus:
    """One sentence per line; empty lines skipped and counted."""
    return _collect(name, "text", ((line, False) for line in text.splitlines()), max_sentences)


def format_of(name: str) -> str:
    """"txt", "csv" or "jsonl" from a file name (.ndjson and .json-lines count as jsonl)."""
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in {"txt", "text"}:
        return "txt"
    if suffix in {"csv", "tsv"}:
        return "csv"
    if suffix in {"jsonl", "ndjson", "jsonlines"}:
        return "jsonl"
    raise UnsupportedFormatError(name)


def from_file(name: str, data: bytes, column: str | None = None, *, max_sentences: int | None = MAX_SENTENCES,
              max_bytes: int | None = MAX_FILE_BYTES) -> Corpus:
    """A .txt (one sentence per line), .csv (`column`) or .jsonl (`column` is the field) file's bytes."""
    _check_size(name, len(data), max_bytes)
    fmt = format_of(name)
    text = _decode(name, data)
    if fmt == "txt":
        corpus = from_text(text, name, max_sentences=max_sentences)
        return Corpus(**{**corpus.__dict__, "kind": "txt"})
    if column is None or not str(column).strip():
        what = "column" if fmt == "csv" else "field"
        raise MissingColumnError(name, "(none chosen)", csv_columns(data, name) if fmt == "csv"
                                 else jsonl_fields(data, name), what)
    if fmt == "csv":
        return _from_csv(name, text, column, max_sentences, delimiter="\t" if name.lower().endswith(".tsv") else ",")
    return _from_jsonl(name, text, column, max_sentences)


def read_path(path: str | Path, column: str | None = None, *, max_sentences: int | None = None,
              max_bytes: int | None = None) -> Corpus:
    """A corpus file on disk (the command line: no size or sentence limit unless given)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as err:
        raise MalformedFileError(p.name, f"it cannot be opened ({err.strerror or err})") from None
    _check_size(p.name, size, max_bytes)
    return from_file(p.name, p.read_bytes(), column, max_sentences=max_sentences, max_bytes=max_bytes)


def _csv_reader(name: str, text: str, delimiter: str = ",") -> Iterator[list[str]]:
    csv.field_size_limit(max(MAX_FILE_BYTES, len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as err:
        raise MalformedFileError(name, f"CSV row {reader.line_num:,}: {err}") from None


def csv_columns(data: bytes, name: str = "file.csv") -> list[str]:
    """The header row's column names (for the column picker)."""
    text = _decode(name, data)
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    for row in _csv_reader(name, text, delimiter):
        return [c.strip() for c in row]
    return []


def _from_csv(name: str, text: str, column: str, max_sentences: int | None, delimiter: str = ",") -> Corpus:
    rows = _csv_reader(name, text, delimiter)
    header = next(rows, None)
    if header is None:
        raise EmptyCorpusError(name, 0)
    names = [c.strip() for c in header]
    if column.strip() not in names:
        raise MissingColumnError(name, column, names)
    col = names.index(column.strip())
    values = [(row[col] if col < len(row) else "") for row in rows]
    _refuse_numbers(name, column, [v for v in values if v.strip()], "column")
    return _collect(f"{name}, column '{column}'", "csv", ((v, False) for v in values), max_sentences)


def _refuse_numbers(name: str, column: str, values: list[str], what: str) -> None:
    if values and all(_NUMBER.match(v.strip()) for v in values):
        raise NumericColumnError(name, column, [v.strip() for v in values[:3]], what)


def _jsonl_rows(name: str, text: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise MalformedFileError(name, f"line {number:,} is not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise MalformedFileError(name, f"line {number:,} is not a JSON object")
        yield row


def jsonl_fields(data: bytes, name: str = "file.jsonl", sample: int = 200) -> list[str]:
    """Field names seen in the first `sample` objects, in first-seen order (for the field picker)."""
    text = _decode(name, data)
    seen: dict[str, None] = {}
    for i, row in enumerate(_jsonl_rows(name, text)):
        if i >= sample:
            break
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


TEXT_NAMES = ("text", "sentence", "sentences", "review", "content", "body", "comment", "utterance")


def text_column(data: bytes, name: str = "file.csv", sample: int = 200) -> str | None:
    """The column (.csv) or field (.jsonl) most likely to hold the sentences: one named like text
    ("text", "sentence", ...), else the one whose first `sample` values are most often words and
    longest on average; never a column of numbers (an id column came first and was picked before,
    which only made an error). None when no column has text."""
    fmt = format_of(name)
    text = _decode(name, data)
    if fmt == "csv":
        rows = _csv_reader(name, text, "\t" if name.lower().endswith(".tsv") else ",")
        header = [c.strip() for c in next(rows, [])]
        columns: dict[str, list[str]] = {c: [] for c in header}
        for i, row in enumerate(rows):
            if i >= sample:
                break
            for c, v in zip(header, row):
                columns[c].append(v)
    else:
        columns = {}
        for i, row in enumerate(_jsonl_rows(name, text)):
            if i >= sample:
                break
            for k, v in row.items():
                columns.setdefault(str(k), []).append(v if isinstance(v, str) else "")
    for want in TEXT_NAMES:
        for c in columns:
            if c.lower() == want and any(v.strip() and not _NUMBER.match(v.strip()) for v in columns[c]):
                return c
    best, score = None, 0.0
    for c, values in columns.items():
        words = [v.strip() for v in values if v.strip() and not _NUMBER.match(v.strip())]
        if not words:
            continue
        value = len(words) / max(len(values), 1) * (sum(len(w) for w in words) / len(words))
        if value > score:
            best, score = c, value
    return best


def _from_jsonl(name: str, text: str, field: str, max_sentences: int | None) -> Corpus:
    values: list[tuple[Any, bool]] = []
    found = False
    for row in _jsonl_rows(name, text):
        if field not in row:
            values.append((None, True))
            continue
        found = True
        value = row[field]
        if isinstance(value, str):
            values.append((value, False))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values.append((str(value), False))  # refused below if every value is a number
        elif value is None:
            values.append((None, False))  # an empty value
        else:
            values.append((None, True))  # a list, an object or a boolean: not a sentence
    if not found:
        raise MissingColumnError(name, field, jsonl_fields(text.encode("utf-8"), name), "field")
    _refuse_numbers(name, field, [v for v, not_text in values if not not_text and v is not None and v.strip()],
                    "field")
    return _collect(f"{name}, field '{field}'", "jsonl", values, max_sentences)


# --- built-in sets ----------------------------------------------------------------------------

def builtin(name: str) -> Corpus:
    """"tutorial" (core/examples.py's six sentences) or "sample_en" (assets/corpus/sample_en.txt)."""
    if name == "tutorial":
        from core.examples import EXAMPLES

        return Corpus(name=BUILTINS["tutorial"], kind="builtin", sentences=tuple(EXAMPLES.values()))
    if name == "sample_en":
        text = SAMPLE_PATH.read_text(encoding="utf-8")
        corpus = from_text(text, BUILTINS["sample_en"], max_sentences=None)
        return Corpus(**{**corpus.__dict__, "kind": "builtin", "skipped_empty": 0})
    raise KeyError(f"no built-in corpus {name!r}; known: {', '.join(BUILTINS)}")


# --- Hugging Face datasets (online only) ------------------------------------------------------

def datasets_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("datasets") is not None


def hub_dataset_status() -> tuple[bool, str]:
    """(usable, one sentence why), decided up front like models: the `datasets` package, the
    offline switches, then one short probe of the Hub (remembered per process)."""
    from core.models.availability import hub_reachable, offline_mode

    if not datasets_installed():
        return False, ("the `datasets` package is not installed (it is optional: "
                       "`pip install datasets` adds Hugging Face datasets)")
    if offline_mode():
        return False, "offline mode is on (ATTENTION_DASHBOARD_OFFLINE or HF_HUB_OFFLINE)"
    if not hub_reachable():
        return False, "the Hugging Face Hub is unreachable from this machine"
    return True, "the Hugging Face Hub answered"


def from_hub(dataset: str, config: str | None, split: str, column: str, *,
             max_sentences: int | None = MAX_SENTENCES) -> Corpus:
    """The first `max_sentences` values of `column` in a Hub dataset, streamed (no full download)."""
    from core.models.registry import validate_hub_id

    dataset, split, column = dataset.strip(), (split or "train").strip(), column.strip()
    config = (config or "").strip() or None
    if not validate_hub_id(dataset):
        raise DatasetUnavailableError(f"'{dataset[:80]}' is not a dataset name of the form 'name' or 'owner/name'")
    usable, reason = hub_dataset_status()
    if not usable:
        raise DatasetUnavailableError(reason)
    import datasets  # type: ignore[import-not-found]  # optional; checked above

    label = f"{dataset}{'/' + config if config else ''} [{split}], column '{column}'"
    try:
        stream = datasets.load_dataset(dataset, config, split=split, streaming=True)
    except Exception as err:  # noqa: BLE001 - unknown dataset, config or split: one sentence
        raise DatasetUnavailableError(f"'{dataset}' could not be opened ({type(err).__name__}: "
                                      f"{str(err)[:200]})") from None
    features = list(getattr(stream, "features", None) or [])
    if features and column not in features:
        raise MissingColumnError(dataset, column, features)
    limit = MAX_SENTENCES * 10 if max_sentences is None else max_sentences  # a stream has no end to count to
    values: list[tuple[str | None, bool]] = []
    try:
        for row in stream:
            if len(values) >= limit:
                break
            if column not in row:
                raise MissingColumnError(dataset, column, list(row))
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
                values.append((None, True))  # a list, an object or a boolean: not a sentence
            else:
                values.append((None if value is None else str(value), False))
    except CorpusError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DatasetUnavailableError(f"reading '{dataset}' failed ({type(err).__name__}: {str(err)[:200]})") from None
    _refuse_numbers(dataset, column, [v for v, bad in values if not bad and v is not None and v.strip()], "column")
    return _collect(label, "hub", values, max_sentences)
