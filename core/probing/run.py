"""A probing run over a list of texts: parse, extract, align, count; with progress and cancel.

The per-sentence inputs are plain data (`SentenceInput`: attention [L, H, n, n], character offsets,
special-token mask and word ids per token), so the same counting runs on one-sentence extraction
(`sentence_input`, here) or on the records of batched extraction (`core.attention.batch`, `from_record`), and a batch of
them is one call (`probe_batch`) that returns mergeable counts (for a worker process or a Ray task).

A finished run is a file: `ProbeRun.save` writes Parquet (the counts' long table,
`SyntaxCounts.to_frame`, plus a JSON header in the schema metadata) and `ProbeRun.load` reads it.
`python -m core.corpus --probe` writes one, and files complete runs in the result store's folder
(`<store>/probing/<40 hex>.parquet`, keyed by model files, sentences, token limit, parser, library
versions and this package's code), where `stored_probe` finds them without loading a model or spaCy.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.attention.extract import effective_max_tokens, extract
from core.attention.result import AttentionResult
from core import runfiles
from core.models.loading import LoadedModel
from core.probing import parser as parsing
from core.probing.align import AlignmentError
from core.probing.errors import ProbeRunError
from core.probing.syntax import DEFAULT_OFFSETS, SentenceProbe, SyntaxCounts, probe_sentence

log = logging.getLogger("attention_dashboard")

DEFAULT_MAX_TOKENS = 128  # probing sentences are short; longer texts are cut (their words reported)
MAX_FAILURES_KEPT = 50
FORMAT_VERSION = 1
META_KEY = b"attention_dashboard.probe_run"
SUBDIR = "probing"
MAX_STORED_RUNS = 64  # least recently used runs past this are deleted
_CODE_FILES = ("probing/align.py", "probing/syntax.py", "probing/run.py", "probing/parser.py", "analysis/tokens.py",
               "attention/batch.py")


@dataclass(frozen=True)
class SentenceInput:
    """What probing needs from a model for one text (no padding: n is this text's tokens)."""

    text: str
    attention: np.ndarray  # float [L, H, n, n]
    offsets: tuple[tuple[int, int], ...]  # per token (start, end) into text; specials (0, 0)
    special_mask: np.ndarray  # bool [n]
    word_ids: tuple[int | None, ...]  # per token; None for specials
    tokens: tuple[str, ...] = ()


def token_offsets(loaded: LoadedModel, result: AttentionResult) -> tuple[tuple[int, int], ...]:
    """Character offsets of the result's tokens, from the model's fast tokenizer (one more
    tokenizer call, same truncation); checked against the result's token ids."""
    tok = loaded.tokenizer
    if not getattr(tok, "is_fast", False):
        raise AlignmentError(f"{result.model_id} has no fast tokenizer, so no character offsets to align words")
    with loaded.lock:  # fast tokenizers are not thread-safe
        enc = tok(result.text, result.text_pair, add_special_tokens=True, truncation=True,
                  max_length=result.max_tokens, return_offsets_mapping=True, verbose=False)
    ids = tuple(int(i) for i in enc["input_ids"])
    if ids != tuple(result.token_ids):
        raise AlignmentError("the tokenizer's offsets do not match the extracted tokens")
    return tuple((int(s), int(e)) for s, e in enc["offset_mapping"])


def sentence_input(loaded: LoadedModel, text: str, max_tokens: int | None = DEFAULT_MAX_TOKENS,
                   result: AttentionResult | None = None) -> SentenceInput:
    """One text through the model (or an existing result for it) plus its token offsets."""
    res = result if result is not None else extract(loaded, text, None, max_tokens)
    return SentenceInput(res.text, res.attention, token_offsets(loaded, res), np.asarray(res.special_mask),
                         tuple(res.word_ids), tuple(res.display_tokens))


def _field(record: Any, *names: str) -> Any:
    for name in names:
        if isinstance(record, dict) and name in record:
            return record[name]
        if hasattr(record, name):
            return getattr(record, name)
    raise AttributeError(f"record has none of {names}")


def from_record(record: Any) -> SentenceInput:
    """A per-sentence record of batched extraction (`core.attention.batch`; an object or a dict
    with text, attention [L, H, n, n], offsets, special mask, word ids and tokens)."""
    return SentenceInput(
        text=str(_field(record, "text")),
        attention=np.asarray(_field(record, "attention")),
        offsets=tuple((int(s), int(e)) for s, e in _field(record, "offsets", "offset_mapping", "char_offsets")),
        special_mask=np.asarray(_field(record, "special_mask", "special"), dtype=bool),
        word_ids=tuple(_word_id(w) for w in _field(record, "word_ids")),
        tokens=tuple(str(t) for t in (_field(record, "tokens") if _has(record, "tokens") else ())),
    )


def _word_id(w: Any) -> int | None:
    """None, NaN and negative ids (how tables store "no word") are None."""
    if w is None:
        return None
    try:
        f = float(w)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) or f < 0 else int(f)


def _has(record: Any, name: str) -> bool:
    return (isinstance(record, dict) and name in record) or hasattr(record, name)


def probe_input(item: SentenceInput, parse: parsing.Parse, *,
                baseline_offsets: Sequence[int] = DEFAULT_OFFSETS, keep_predictions: bool = False) -> SentenceProbe:
    return probe_sentence(item.attention, parse, item.offsets, item.special_mask, item.word_ids, text=item.text,
                          baseline_offsets=baseline_offsets, keep_predictions=keep_predictions)


def probe_batch(items: Iterable[SentenceInput | Any], parses: Iterable[parsing.Parse], *,
                counts: SyntaxCounts | None = None,
                baseline_offsets: Sequence[int] = DEFAULT_OFFSETS) -> SyntaxCounts:
    """Count a batch: records (SentenceInput or corpus records) with their parses, in order.
    Returns `counts` (new when None) with the batch added; batches from workers join with
    `SyntaxCounts.merge`. A sentence whose parse does not align raises AlignmentError."""
    for item, parse in zip(items, parses, strict=True):
        item = item if isinstance(item, SentenceInput) else from_record(item)
        probe = probe_input(item, parse, baseline_offsets=baseline_offsets)
        if counts is None:
            counts = SyntaxCounts(int(item.attention.shape[0]), int(item.attention.shape[1]), tuple(baseline_offsets))
        counts.add(probe)
    if counts is None:
        raise ValueError("an empty batch and no counts to add it to")
    return counts


@dataclass
class ProbeRun:
    """A finished (or cancelled) run: the counts and what happened on the way."""

    counts: SyntaxCounts | None
    model_id: str
    parser: str
    total: int  # texts asked for (blank lines not counted)
    done: int = 0  # texts counted
    cancelled: bool = False
    blank: int = 0  # blank lines skipped
    failures: list[tuple[int, str]] = field(default_factory=list)  # (index, message), first 50
    failed: int = 0
    truncated: int = 0  # texts cut by the token limit
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # what it was computed from (set by save / the CLI)
    path: Path | None = None  # the file it was read from or written to

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every text was tried (a text that failed to align is counted in `failed`, not missing)."""
        return not self.cancelled and self.done + self.failed >= self.total

    # -- files ------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {**self.meta, "format": FORMAT_VERSION, "kind": "probe_run", "model_id": self.model_id,
                "parser": self.parser, "total": self.total, "done": self.done, "cancelled": self.cancelled,
                "complete": self.complete, "blank": self.blank, "failed": self.failed,
                "failures": [[int(i), str(m)] for i, m in self.failures], "truncated": self.truncated,
                "seconds": round(float(self.seconds), 3)}

    def to_bytes(self) -> bytes:
        """Parquet: the counts' long table (`SyntaxCounts.to_frame`), the header in its metadata."""
        if self.counts is None:
            raise ValueError("this probing run counted no sentence: there is nothing to write")
        return runfiles.headed_parquet(self.counts.to_frame(), META_KEY, self.header())

    def save(self, path: str | Path) -> ProbeRun:
        """Write atomically (temporary file + rename); returns the run with its `path` set."""
        self.path = runfiles.write_atomic(path, self.to_bytes())
        return self

    @classmethod
    def load(cls, source: str | Path | bytes) -> ProbeRun:
        """Open a run written by `save` / `python -m core.corpus --probe` (a path or the file's bytes)."""
        frame, meta, path = runfiles.read_headed_parquet(source, META_KEY, FORMAT_VERSION, "probing-run",
                                                         ProbeRunError)
        try:
            counts = SyntaxCounts.from_frame(frame)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            raise ProbeRunError(f"its counts do not match its header ({type(err).__name__})") from None
        extra = {k: v for k, v in meta.items() if k not in _HEADER_FIELDS}
        return cls(counts, str(meta.get("model_id", "")), str(meta.get("parser", "")), int(meta.get("total", 0)),
                   done=int(meta.get("done", 0)), cancelled=bool(meta.get("cancelled", False)),
                   blank=int(meta.get("blank", 0)), failures=[(int(i), str(m)) for i, m in meta.get("failures", [])],
                   failed=int(meta.get("failed", 0)), truncated=int(meta.get("truncated", 0)),
                   seconds=float(meta.get("seconds", 0.0)), meta=extra, path=path)


_HEADER_FIELDS = frozenset(("format", "kind", "model_id", "parser", "total", "done", "cancelled", "complete", "blank",
                            "failed", "failures", "truncated", "seconds"))


# --- the disk store (what `python -m core.corpus --probe` files and the app can reopen) -------------

def probe_dir() -> Path | None:
    """`<result store folder>/probing`, or None when the store is off."""
    from core.attention.store import default_dir

    base = default_dir()
    return None if base is None else base / SUBDIR


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts, as `core.corpus.sources.Corpus.digest` computes it (each text + a newline)."""
    return runfiles.texts_digest(texts)


def probe_key(model_id: str, digest: str, max_tokens: int | None, parser_name: str | None,
              parser_version: str | None, offsets: Sequence[int] = DEFAULT_OFFSETS) -> dict[str, Any] | None:
    """What a stored probing run depends on, or None when the model's files are not on this machine.
    The parser is named as `parser.parser_status()` names it (package and version). Not the device
    or the batch size: batched counts equal one-by-one counts."""
    from core.attention.store import code_version, library_versions, model_fingerprint

    try:
        fp = model_fingerprint(model_id)
    except Exception:  # noqa: BLE001 - an unregistered model has no stored runs
        fp = None
    if fp is None or not parser_name:
        return None
    return {"kind": "probe_run", "model_id": model_id, "texts": digest,
            "max_tokens": None if max_tokens is None else int(max_tokens), "parser": parser_name,
            "parser_version": parser_version, "offsets": [int(k) for k in offsets], "model": fp,
            "versions": library_versions(), "code": code_version(_CODE_FILES), "format": FORMAT_VERSION}


def _parser_identity(parser: parsing.ParserStatus | None) -> tuple[str | None, str | None]:
    status = parser if parser is not None else parsing.parser_status()
    return (status.name, status.version) if status.available else (None, None)


def stored_probe(model_id: str, texts: Sequence[str], max_tokens: int | None = DEFAULT_MAX_TOKENS, *,
                 parser: parsing.ParserStatus | None = None, offsets: Sequence[int] = DEFAULT_OFFSETS,
                 folder: Path | None = None) -> ProbeRun | None:
    """The complete stored probing run of exactly these texts with this model, token limit and
    parser (default: the one `parser_status()` would load), or None. Never loads a model or spaCy."""
    key = probe_key(model_id, texts_digest(texts), max_tokens, *_parser_identity(parser), offsets)
    return runfiles.load_filed(folder or probe_dir(), key, ProbeRun.load, "probing")


def file_probe(run: ProbeRun, texts: Sequence[str], max_tokens: int | None = DEFAULT_MAX_TOKENS, *,
               parser: parsing.ParserStatus | None = None, folder: Path | None = None) -> Path | None:
    """File a complete run in the store (where `stored_probe` finds it); returns its path, or None
    when the store is off, the model is not registered here, or the run is incomplete."""
    folder = folder or probe_dir()
    if folder is None or run.counts is None or not run.complete:
        return None
    key = probe_key(run.model_id, texts_digest(texts), max_tokens, *_parser_identity(parser), run.counts.offsets)
    if key is None:
        return None
    stored = dataclasses.replace(run, failures=list(run.failures), path=None,
                                 meta={**run.meta, "key": key, "max_tokens": max_tokens})
    try:
        path = stored.save(runfiles.key_path(folder, key)).path
    except OSError as err:  # a read-only or full disk must not lose the run
        log.info("probing store: could not write (%s)", err)
        return None
    try:
        files = sorted((q for q in folder.glob("*.parquet") if len(q.stem) == 40), key=lambda q: q.stat().st_mtime)
        for old in files[:-MAX_STORED_RUNS] if len(files) > MAX_STORED_RUNS else []:
            old.unlink(missing_ok=True)
    except OSError:
        pass
    return path


def _resolve(model: Any, model_id: str | None) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if hasattr(model, "model") and callable(model.model):  # an AttentionEngine
        if not model_id:
            raise ValueError("probe_corpus with an engine needs model_id")
        return model.model(model_id)
    raise TypeError(f"expected a LoadedModel or an AttentionEngine, got {type(model).__name__}")


def _batched_extractor() -> Callable[..., Any] | None:
    """Batched extraction (`core.attention.batch.iter_batches`), if it can be imported."""
    try:
        from core.attention.batch import iter_batches
    except ImportError:
        return None
    return iter_batches


def probe_corpus(model: LoadedModel | Any, texts: Sequence[str], nlp: Any, *, model_id: str | None = None,
                 max_tokens: int | None = DEFAULT_MAX_TOKENS, baseline_offsets: Sequence[int] = DEFAULT_OFFSETS,
                 progress: Callable[[ProbeRun], None] | None = None, cancel: Callable[[], bool] | None = None,
                 batch_size: int = 1, chunk: int = 256) -> ProbeRun:
    """Probe every text: parse (spaCy, a chunk at a time), extract, align, count.

    model: a LoadedModel, or an AttentionEngine with `model_id` (only its loaded model is used:
    a corpus would flush the engine's result cache). nlp: a spaCy pipeline (`parser.load_parser`).
    batch_size > 1 extracts with the padded batches of `core.attention.batch` (equal
    to one-sentence extraction) when it is installed; 1 extracts one sentence at a time.
    progress(run) after each sentence (batch); the run object is the one returned, filled in as it
    goes, so a caller interrupted mid-run still holds what was counted. cancel() is checked before
    each sentence (batch); a cancelled run keeps what it counted. A text that fails (alignment,
    extraction) is skipped and listed in `failures`; the run goes on. Memory: the counts, one
    chunk of parses and one batch of attention, whatever the number of texts.
    """
    loaded = _resolve(model, model_id)
    limit = effective_max_tokens(loaded.info, loaded.tokenizer, max_tokens)
    kept = [(i, t) for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    run = ProbeRun(None, loaded.info.model_id, parsing.parser_label(nlp), total=len(kept),
                   blank=len(texts) - len(kept))
    counter = _Counter(run, tuple(int(k) for k in baseline_offsets), progress)
    batched = _batched_extractor() if batch_size > 1 else None
    stopped = cancel or (lambda: False)
    step = max(1, int(chunk if batched is not None else 32))
    for b in range(0, len(kept), step):
        part = kept[b:b + step]
        if stopped():
            run.cancelled = True
            break
        parses = dict(zip((i for i, _ in part), parsing.parse_many(nlp, [t for _, t in part], batch_size=len(part))))
        if batched is not None:
            _probe_batched(batched, loaded, part, parses, batch_size, limit, counter, stopped)
        else:
            _probe_one_by_one(loaded, part, parses, limit, counter, stopped)
        if run.cancelled:
            break
    counter.tick(report=False)
    return run


class _Counter:
    """Counts a probing run's sentences into `run` (its failures too) and reports progress."""

    def __init__(self, run: ProbeRun, offsets: tuple[int, ...],
                 progress: Callable[[ProbeRun], None] | None) -> None:
        self.run, self.offsets, self.progress = run, offsets, progress
        self.start = time.perf_counter()

    def fail(self, index: int, err: BaseException) -> None:
        self.run.failed += 1
        if len(self.run.failures) < MAX_FAILURES_KEPT:
            self.run.failures.append((index, f"{type(err).__name__}: {err}"))

    def count(self, index: int, item: SentenceInput, parse: parsing.Parse, truncated: bool) -> None:
        run = self.run
        try:
            probe = probe_input(item, parse, baseline_offsets=self.offsets)
            if run.counts is None:
                run.counts = SyntaxCounts(int(item.attention.shape[0]), int(item.attention.shape[1]), self.offsets)
            run.counts.add(probe, fold=index)  # fold by corpus position: the same in any batch order
            run.done += 1
            run.truncated += int(truncated)
        except Exception as err:  # noqa: BLE001 - one bad text never stops the run
            self.fail(index, err)

    def tick(self, report: bool = True) -> None:
        self.run.seconds = time.perf_counter() - self.start
        if report and self.progress is not None:
            self.progress(self.run)


def _probe_batched(batched: Callable[..., Any], loaded: LoadedModel, part: list[tuple[int, str]],
                   parses: dict[int, parsing.Parse], batch_size: int, limit: int, counter: _Counter,
                   stopped: Callable[[], bool]) -> None:
    """One chunk of texts in padded batches; a batch that fails lists its texts as failures."""
    left = {i for i, _ in part}
    try:
        for records in batched(loaded, [t for _, t in part], batch_size, limit, indices=[i for i, _ in part]):
            for rec in records:
                left.discard(rec.index)
                counter.count(rec.index, from_record(rec), parses[rec.index], rec.result.truncated_tokens > 0)
            counter.tick()
            if stopped():
                counter.run.cancelled = True
                break
    except Exception as err:  # noqa: BLE001 - a failed batch: its texts are listed, the run goes on
        for i in sorted(left):
            counter.fail(i, err)
        counter.tick()


def _probe_one_by_one(loaded: LoadedModel, part: list[tuple[int, str]], parses: dict[int, parsing.Parse],
                      limit: int, counter: _Counter, stopped: Callable[[], bool]) -> None:
    """One chunk of texts, one extraction each; a text that fails is listed and skipped."""
    for index, text in part:
        if stopped():
            counter.run.cancelled = True
            break
        try:
            res = extract(loaded, text, None, limit)
            item = sentence_input(loaded, text, limit, result=res)
        except Exception as err:  # noqa: BLE001
            counter.fail(index, err)
        else:
            counter.count(index, item, parses[index], res.truncated_tokens > 0)
        counter.tick()


@dataclass(frozen=True)
class SentenceView:
    """One sentence for the arc view: units, the parse's arcs and one head's predictions."""

    words: tuple[str, ...]  # unit texts
    arcs: tuple[tuple[int, int, str], ...]  # (dependent unit, head unit, relation), clean arcs only
    attention: np.ndarray  # float [U, U]: the head's word-level attention (rows: from)
    alignment_table: Any  # pandas DataFrame (align.Alignment.table)


def sentence_view(item: SentenceInput, parse: parsing.Parse, layer: int, head: int) -> SentenceView:
    """What the arc chart draws for one head on one sentence."""
    from core.probing.align import align
    from core.probing.syntax import arcs_for, unit_attention

    alignment = align(parse, item.offsets, item.special_mask, item.word_ids, text=item.text)
    arcs = arcs_for(parse, alignment)
    att = unit_attention(np.asarray(item.attention[layer, head]), alignment) if alignment.n_units else np.zeros((0, 0))
    return SentenceView(tuple(u.text for u in alignment.units),
                        tuple(zip(arcs.dependent.tolist(), arcs.head.tolist(), arcs.relation)),
                        np.asarray(att, dtype=np.float64),
                        alignment.table(parse, item.tokens or None))
