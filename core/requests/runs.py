"""Requests for runs over many sentences: corpus runs (core.corpus.run) and probing runs
(core.probing.run), each with its store on disk (a finished run reopens at once, after a restart
too, and `python -m core.corpus` files runs where these find them), what is derived from a run,
and each kind of run as a background job (core.jobs) of the engine.

What is derived from a run is keyed by the run object itself (its counts, or the CorpusRun): a
run is final once a page draws it, and a new run is a new object.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attention.engine import AttentionEngine
from core.attention.request import Loading, Request
from core.attention.result import AttentionResult
from core.jobs import Job


# --- corpus runs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorpusRunOf(Request):
    """A corpus through a model (core.corpus.run.run_corpus). Only a complete run is kept and
    filed; a cancelled one is returned with what it finished. `progress(done, total, per second,
    seconds left)` after each batch; `cancel` set: stop after the batch in flight."""

    cache: ClassVar[str] = "runs"

    model_id: str
    corpus: Any  # core.corpus.sources.Corpus (its digest is the key)
    max_tokens: int | None
    batch_size: int = field(default=8, compare=False)
    progress: Callable[[int, int, float, float], None] | None = field(default=None, compare=False)
    cancel: threading.Event | None = field(default=None, compare=False)
    loading: Loading | None = field(default=None, compare=False)

    @property
    def key(self) -> Any:
        return ("corpus_run", self.model_id, self.corpus.digest, self.max_tokens)

    def load(self, engine: AttentionEngine) -> Any | None:
        from core.corpus import run as corpus_run

        return corpus_run.stored_run(self.model_id, self.corpus, self.max_tokens)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.corpus import run as corpus_run

        loaded = engine.loaded(self.model_id, self.loading, "first use only")
        if self.progress is not None:
            self.progress(0, len(self.corpus), 0.0, float("inf"))
        return corpus_run.run_corpus(loaded, self.corpus, self.batch_size, progress=self.progress, cancel=self.cancel,
                                     max_tokens=self.max_tokens, store=False, reuse=False)

    def save(self, engine: AttentionEngine, value: Any) -> None:
        from core.corpus import run as corpus_run

        corpus_run.file_run(value)

    def keep(self, value: Any) -> bool:
        return bool(value.complete)


def start_corpus_run(engine: AttentionEngine, model_id: str, corpus: Any, batch_size: int,
                     max_tokens: int | None) -> Any:
    """A corpus run as a background job shared by every caller of the same corpus and model
    (core.corpus.run.CorpusJob: status, cancel); the model loads on the job."""
    from core.corpus import run as corpus_run

    def work(job: Job) -> Any:
        return engine.get(CorpusRunOf(model_id, corpus, max_tokens, batch_size,
                                      progress=lambda *p: job.report(p), cancel=job.cancel_event))

    job = engine.jobs.start(("corpus_run", model_id, corpus.digest, max_tokens), work, name="corpus-run",
                            failure=corpus_run.RUN_FAILED)
    return corpus_run.CorpusJob(job, len(corpus))


@dataclass(frozen=True)
class CorpusValues(Request):
    """One statistic of a corpus run per head, [layers, heads]: its mean, "sd", "ci_low", "ci_high" or "n"."""

    cache: ClassVar[str] = "runs"

    run: Any  # core.corpus.run.CorpusRun
    statistic: str
    what: str = "mean"

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        return self.run.grid(self.statistic, self.what)


@dataclass(frozen=True)
class CorpusPatternCodes(Request):
    """Each head's commonest pattern class over a corpus run, as an index into PATTERN_CLASSES."""

    cache: ClassVar[str] = "runs"

    run: Any  # core.corpus.run.CorpusRun

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        from core.analysis.patterns import PATTERN_CLASSES

        shares = self.run.pattern_shares()
        found = np.asarray([PATTERN_CLASSES.index(c) for c in shares["commonest"]], dtype=float)
        return found.reshape(self.run.num_layers, self.run.num_heads)


@dataclass(frozen=True)
class CorpusZScores(Request):
    """A result's head statistic against a corpus run of the same model, in standard deviations
    from the run's mean, [layers, heads] (NaN where the run has no spread)."""

    cache: ClassVar[str] = "runs"

    run: Any  # core.corpus.run.CorpusRun
    result: AttentionResult
    statistic: str

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        from core.requests.analysis import HeadStatistics

        run = self.run
        values = engine.get(HeadStatistics(self.result))[self.statistic].to_numpy(dtype=float)
        values = values.reshape(run.num_layers, run.num_heads)
        mean, sd = run.grid(self.statistic, "mean"), run.grid(self.statistic, "sd")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sd > 0, (values - mean) / sd, np.nan)


# --- probing runs -----------------------------------------------------------------------------

class SharedParser:
    """A spaCy pipeline shared by every session: one parse at a time (spaCy does not promise
    thread safety for a shared Language)."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.lock = threading.Lock()

    @property
    def meta(self) -> dict:
        return getattr(self.nlp, "meta", {})

    def __call__(self, text: str) -> Any:
        with self.lock:
            return self.nlp(text)

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> list:
        with self.lock:
            return list(self.nlp.pipe(texts, batch_size=batch_size))


@dataclass(frozen=True)
class ProbeRunOf(Request):
    """The heads of a model probed against spaCy's parse of `texts` (core.probing.run.probe_corpus,
    batched). Keyed by model, texts, token limit and parser (`parser`: its ParserStatus); `nlp`
    is the pipeline itself. Only a finished run is kept and filed; `progress(run)` is called as it
    goes with the run being filled in, so a caller stopped mid-run still holds the partial counts;
    `cancel()` True stops it after the sentences in flight."""

    cache: ClassVar[str] = "runs"

    model_id: str
    texts: tuple[str, ...]
    max_tokens: int | None
    parser: Any  # core.probing.parser.ParserStatus
    nlp: Any = field(default=None, compare=False)
    batch_size: int = field(default=16, compare=False)
    progress: Callable[[Any], None] | None = field(default=None, compare=False)
    cancel: Callable[[], bool] | None = field(default=None, compare=False)
    loading: Loading | None = field(default=None, compare=False)

    @property
    def key(self) -> Any:
        from core import runfiles

        return ("probe_run", self.model_id, runfiles.texts_digest(self.texts), len(self.texts), self.max_tokens,
                self.parser.name, self.parser.version)

    def load(self, engine: AttentionEngine) -> Any | None:
        from core.probing import run as probing_run

        return probing_run.stored_probe(self.model_id, list(self.texts), self.max_tokens, parser=self.parser)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import run as probing_run

        if self.nlp is None:
            raise ValueError("a probing run needs its parser (nlp)")
        loaded = engine.loaded(self.model_id, self.loading, "first use only")
        return probing_run.probe_corpus(loaded, list(self.texts), self.nlp, max_tokens=self.max_tokens,
                                        progress=self.progress, cancel=self.cancel, batch_size=self.batch_size)

    def save(self, engine: AttentionEngine, value: Any) -> None:
        from core.probing import run as probing_run

        probing_run.file_probe(value, list(self.texts), self.max_tokens, parser=self.parser)

    def keep(self, value: Any) -> bool:
        return not value.cancelled and value.counts is not None


PROBE_FAILED = "The probing run failed; the log has the details."


def start_probe_run(engine: AttentionEngine, request: ProbeRunOf) -> Job:
    """A probing run as a background job shared by every caller of the same request: its
    progress is the ProbeRun being filled in, `cancel()` stops it (the partial run stays its
    progress), its result the finished run. The model loads on the job."""

    def work(job: Job) -> Any:
        return engine.get(dataclasses.replace(request, progress=job.report, cancel=lambda: job.cancelled))

    return engine.jobs.start(request.key, work, name="probe-run", failure=PROBE_FAILED)


def probe_job(engine: AttentionEngine, request: ProbeRunOf) -> Job | None:
    return engine.jobs.get(request.key)


@dataclass(frozen=True)
class BestHeads(Request):
    """core.probing.syntax.best_heads of a run's counts."""

    cache: ClassVar[str] = "runs"

    counts: Any  # core.probing.syntax.SyntaxCounts
    min_count: int

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import syntax

        return syntax.best_heads(self.counts, min_count=int(self.min_count))


@dataclass(frozen=True)
class HeadRelationMap(Request):
    """core.probing.syntax.head_relation_map of a run's counts."""

    cache: ClassVar[str] = "runs"

    counts: Any  # core.probing.syntax.SyntaxCounts
    direction: str
    min_count: int

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import syntax

        return syntax.head_relation_map(self.counts, direction=self.direction, min_count=int(self.min_count))


@dataclass(frozen=True)
class BestHeadChart(Request):
    """The best head per relation against the best offset (core.probing.charts.best_head_chart)."""

    cache: ClassVar[str] = "runs"

    counts: Any  # core.probing.syntax.SyntaxCounts
    min_count: int
    held_out: bool

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import charts

        return charts.best_head_chart(engine.get(BestHeads(self.counts, self.min_count)), held_out=self.held_out)


@dataclass(frozen=True)
class RelationMapChart(Request):
    """Every head against every relation (core.probing.charts.head_relation_heatmap); marks no head."""

    cache: ClassVar[str] = "runs"

    counts: Any  # core.probing.syntax.SyntaxCounts
    direction: str
    min_count: int
    value: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import charts

        table = engine.get(HeadRelationMap(self.counts, self.direction, self.min_count))
        return charts.head_relation_heatmap(table, self.counts.layers, self.counts.heads, value=self.value,
                                            marking=True)


@dataclass(frozen=True)
class ProbeInputs(Request):
    """What probing needs of the result's text: its SentenceInput and spaCy's parse of it."""

    result: AttentionResult
    nlp: Any = field(default=None, compare=False)
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> tuple:
        from core.probing import parser as parsing
        from core.probing import run as probing_run

        res = self.result
        loaded = engine.loaded(res.model_id, self.loading, "first use only")
        return probing_run.sentence_input(loaded, res.text, result=res), parsing.from_doc(self.nlp(res.text))


@dataclass(frozen=True)
class SentenceView(Request):
    """The parse of the result's text against one head's word-level attention, for the arc chart
    (core.probing.run.sentence_view)."""

    result: AttentionResult
    layer: int
    head: int
    nlp: Any = field(default=None, compare=False)
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.probing import run as probing_run

        item, parse = engine.get(ProbeInputs(self.result, self.nlp, self.loading))
        return probing_run.sentence_view(item, parse, int(self.layer), int(self.head))
