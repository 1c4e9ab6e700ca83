"""Requests for "Does it matter?": the model's output (core.explain.outputs), interventions on
heads and words, head importance, token attribution, the lenses as word importances,
faithfulness for one sentence and over a corpus (a background job), and their charts
(core.render.explain_charts, core.render.grids).

Every value comes from `Prediction`, the output of one text under one `Target`: the other
requests name it, so one text's tokenisation and unedited forward pass are shared by every page.
Values are core.explain's frozen, read-only results, shared by every session. Texts are read up
to `MAX_TOKENS` tokens here: attribution and head importance take several forward and backward
passes, and a student waits for them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attention.engine import AttentionEngine
from core.attention.request import Loading, Request
from core.jobs import Job

MAX_TOKENS = 128
CORPUS_MAX_TOKENS = 64  # core.explain.faithfulness's own default: flow is computed up to 64 tokens
TOP_K = 10
IG_STEPS = 32
IMPORTANCE_VALUES = {  # HeadImportance field -> (grid title, value label)
    "ablation": ("Output change when the head alone is switched off", "Output change"),
    "gradient": ("Gradient importance (Michel et al. 2019)", "Importance, per-layer normalised"),
    "score_drop": ("Score drop when the head alone is switched off", "Score drop"),
}


@dataclass(frozen=True)
class OutputFacts:
    """What a model outputs, before any text: its kind, a plain paragraph on what it is for, and
    whether its heads can be switched off here."""

    model_id: str
    kind: str  # "masked" | "causal" | "embedding" | "none"
    what_it_is_for: str
    heads_editable: bool
    no_head_message: str | None  # the sentence to show when there is no output to read


@dataclass(frozen=True)
class Facts(Request):
    """The model's OutputFacts (loads it first if needed)."""

    model_id: str
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> OutputFacts:
        from core.explain import hooks, outputs
        from core.explain.errors import NoOutputHeadError

        loaded = engine.loaded(self.model_id, self.loading)
        message = None
        try:
            outputs.require_kind(loaded)
        except NoOutputHeadError as err:
            message = str(err)
        return OutputFacts(self.model_id, loaded.kind, outputs.what_it_is_for(loaded), hooks.supports(loaded), message)


@dataclass(frozen=True)
class Prediction(Request):
    """The model's output for a text under a Target (core.explain.outputs.predict): the top-k
    fills of a masked word, the next-token top-k at a position, or the sentence embedding."""

    model_id: str
    text: str
    text_pair: str | None
    target: Any  # core.explain.outputs.Target
    top_k: int = TOP_K
    max_tokens: int = MAX_TOKENS
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import outputs

        loaded = engine.loaded(self.model_id, self.loading)
        return outputs.predict(loaded, self.text, self.target, top_k=int(self.top_k),
                               text_pair=self.text_pair, max_tokens=int(self.max_tokens))


def _loaded(engine: AttentionEngine, prediction: Prediction, loading: Loading | None) -> Any:
    return engine.loaded(prediction.model_id, loading)


@dataclass(frozen=True)
class HeadMeansOf(Request):
    """Each head's mean context over the tutorial's examples: mean ablation's reference."""

    model_id: str
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import interventions

        return interventions.head_means(engine.loaded(self.model_id, self.loading))


@dataclass(frozen=True)
class InterventionOf(Request):
    """The prediction's text with heads switched off and words masked or dropped, against the
    unedited run (core.explain.interventions.intervene)."""

    prediction: Prediction
    intervention: Any  # core.explain.interventions.Intervention
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import interventions

        output = engine.get(self.prediction)
        change = self.intervention
        means = engine.get(HeadMeansOf(self.prediction.model_id, self.loading)) if change.mode == "mean" and \
            change.heads else None
        return interventions.intervene(_loaded(engine, self.prediction, self.loading), output.problem, change,
                                       means=means, top_k=int(self.prediction.top_k))


@dataclass(frozen=True)
class HeadImportanceOf(Request):
    """Every head's ablation effect and gradient score for the prediction (core.explain.importance)."""

    prediction: Prediction
    mode: str = "zero"
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import importance

        output = engine.get(self.prediction)
        means = engine.get(HeadMeansOf(self.prediction.model_id, self.loading)) if self.mode == "mean" else None
        return importance.head_importance(_loaded(engine, self.prediction, self.loading), output.problem,
                                          mode=self.mode, means=means)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ImportanceValues(Request):
    """One grid of a HeadImportance, [layers, heads]: "ablation", "gradient" or "score_drop"."""

    importance: HeadImportanceOf
    which: str

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        return np.asarray(getattr(engine.get(self.importance), self.which))


@dataclass(frozen=True)
class ShiftValues(Request):
    """How far each head's attention moved under an intervention, [layers, heads]."""

    intervention: InterventionOf

    def compute(self, engine: AttentionEngine) -> np.ndarray:
        return np.asarray(engine.get(self.intervention).attention_shift)


@dataclass(frozen=True)
class LensesOf(Request):
    """The lenses (raw, rollout, flow, norm-based) as token importances of the prediction's output."""

    prediction: Prediction
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import lenses

        output = engine.get(self.prediction)
        return lenses.lens_importance(_loaded(engine, self.prediction, self.loading), output.problem)


@dataclass(frozen=True)
class _OutputArray(Request):
    """A read-only array that core.explain.attribution's `method` computes for the prediction's
    output (the loaded model and the resolved problem): one value shared by attribution and
    faithfulness."""

    prediction: Prediction
    loading: Loading | None = field(default=None, compare=False)
    method: ClassVar[str]

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import attribution

        output = engine.get(self.prediction)
        value = getattr(attribution, self.method)(_loaded(engine, self.prediction, self.loading), output.problem)
        value.setflags(write=False)
        return value


class BlankOutOf(_OutputArray):
    """The output's drop when each candidate word is blanked out (one batched pass per word)."""

    method = "blank_out"


class GradientOf(_OutputArray):
    """Gradient x input per token of the prediction's output."""

    method = "gradient_x_input"


@dataclass(frozen=True)
class AttributionOf(Request):
    """Every method's word importances for the prediction's output (core.explain.attribution)."""

    prediction: Prediction
    ig_steps: int = IG_STEPS
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import attribution

        output = engine.get(self.prediction)
        found = engine.get(LensesOf(self.prediction, self.loading))
        return attribution.token_attribution(_loaded(engine, self.prediction, self.loading), output.problem,
                                             ig_steps=int(self.ig_steps), lenses=found,
                                             blank=engine.get(BlankOutOf(self.prediction, self.loading)),
                                             gradient_tokens=engine.get(GradientOf(self.prediction, self.loading)))


@dataclass(frozen=True)
class SentenceFaithfulnessOf(Request):
    """Spearman correlation of every lens and layer with blank-out and gradients, for this sentence."""

    prediction: Prediction
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import faithfulness

        output = engine.get(self.prediction)
        found = engine.get(LensesOf(self.prediction, self.loading))
        return faithfulness.sentence_faithfulness(_loaded(engine, self.prediction, self.loading), output.problem,
                                                  found, blank=engine.get(BlankOutOf(self.prediction, self.loading)),
                                                  gradient_tokens=engine.get(GradientOf(self.prediction, self.loading)))


@dataclass(frozen=True)
class TutorialEvidence(Request):
    """The tutorial's "does the most-attended word matter most?" numbers for the prediction's
    output (core.tutorial.views.OutputEvidence): per word, its share of the attention the
    output's rollout (and the last layer alone) gives the words, and the output's drop when the
    word is blanked out."""

    prediction: Prediction
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.tutorial.views import OutputEvidence

        found = engine.get(SentenceFaithfulnessOf(self.prediction, self.loading))
        problem = found.problem
        s, words = problem.sentence, found.words
        output = {"masked": f"the prediction of the masked word ‘{s.words[problem.target_word]}’"
                  if problem.target_word is not None else "the masked-word prediction",
                  "causal": f"the prediction of the token after ‘{s.display_tokens[problem.focus]}’",
                  "embedding": "the sentence embedding"}[problem.kind]
        return OutputEvidence(words=tuple(s.words[w] for w in words),
                              attended=_shares(s.merge(found.lenses.rollout[-1])[words]),
                              raw_last=_shares(s.merge(found.lenses.raw[-1])[words]),
                              blank_out=np.asarray(found.blank_out, dtype=np.float64), output=output)


def _shares(values: np.ndarray) -> np.ndarray:
    """Each word's part of what the words get together (special tokens take most of a row)."""
    total = float(np.sum(values))
    return np.asarray(values, dtype=np.float64) / total if total > 0 else np.asarray(values, dtype=np.float64)


# --- a corpus: faithfulness as a background job --------------------------------------------------

@dataclass(frozen=True)
class CorpusFaithfulnessOf(Request):
    """Faithfulness of the lenses over a corpus (core.explain.faithfulness.corpus_faithfulness).
    Only a complete run is kept; `progress(done, total)` after each sentence; `cancel` set: stop
    after the sentences in flight (the value then holds what was done)."""

    cache: ClassVar[str] = "runs"

    model_id: str
    corpus: Any  # core.corpus.sources.Corpus (its digest is the key)
    max_tokens: int = CORPUS_MAX_TOKENS
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)
    cancel: threading.Event | None = field(default=None, compare=False)
    loading: Loading | None = field(default=None, compare=False)

    @property
    def key(self) -> Any:
        return ("faithfulness_run", self.model_id, self.corpus.digest, self.max_tokens)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain import faithfulness

        loaded = engine.loaded(self.model_id, self.loading, "first use only")
        return faithfulness.corpus_faithfulness(loaded, list(self.corpus.sentences), name=self.corpus.name,
                                                progress=self.progress, cancel=self.cancel,
                                                max_tokens=int(self.max_tokens))

    def keep(self, value: Any) -> bool:
        return not value.cancelled


FAITHFULNESS_FAILED = "The faithfulness run failed; the log has the details."


def start_faithfulness_run(engine: AttentionEngine, model_id: str, corpus: Any) -> Job:
    """A corpus faithfulness run on the engine's job registry, shared by every caller of the same
    corpus and model: progress (done, total), cancel, the result (partial when cancelled)."""
    request = CorpusFaithfulnessOf(model_id, corpus)

    def work(job: Job) -> Any:
        job.report((0, len(corpus)))
        return engine.get(dataclasses.replace(request, progress=lambda done, total: job.report((done, total)),
                                              cancel=job.cancel_event))

    return engine.jobs.start(request.key, work, name="faithfulness-run", failure=FAITHFULNESS_FAILED)


def faithfulness_job(engine: AttentionEngine, model_id: str, corpus: Any) -> Job | None:
    return engine.jobs.get(CorpusFaithfulnessOf(model_id, corpus).key)


# --- charts ------------------------------------------------------------------------------------

def run_labels(sentence: Any, ids_as_run: np.ndarray, kept: np.ndarray | None = None, *,
               with_original: bool = False) -> list[str]:
    """Token labels of an input as run: "[MASK]" where the run's token differs from the text's
    ("cat→[MASK]" with `with_original`, for a chart of the text before and after)."""
    kept = np.arange(sentence.n_tokens) if kept is None else np.asarray(kept)
    labels = []
    for ids_pos, original in enumerate(kept):
        label = sentence.display_tokens[original]
        if int(ids_as_run[ids_pos]) != int(sentence.input_ids[original]):
            label = f"{label}→[MASK]" if with_original else "[MASK]"
        labels.append(label)
    return labels


@dataclass(frozen=True)
class TopKChart(Request):
    """The prediction's top-k (its first masked piece, or the next token) as bars; the original
    word or the actual next token in orange."""

    prediction: Prediction
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import explain_charts

        pred = engine.get(self.prediction).predictions[0]
        return explain_charts.top_k_chart(pred.tokens, pred.probabilities, title=self.title,
                                          target=pred.target_token)


@dataclass(frozen=True)
class InterventionTopKChart(Request):
    """The top-k after an intervention (the unedited target in orange)."""

    intervention: InterventionOf
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import explain_charts

        pred = engine.get(self.intervention).prediction_after
        return explain_charts.top_k_chart(pred.tokens, pred.probabilities, title=self.title,
                                          target=pred.target_token)


@dataclass(frozen=True)
class InputHeatmap(Request):
    """One head's attention on the input as the model ran it (the masked sentence), [n, n]."""

    prediction: Prediction
    layer: int
    head: int
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import heatmaps, matrix

        problem = engine.get(self.prediction).problem
        s = problem.sentence
        att = problem.attention[int(self.layer), int(self.head)]
        allowed = np.tril(np.ones(att.shape, dtype=bool)) if problem.kind == "causal" else None
        dm = matrix.prepare(matrix.DrawMatrix.of(att, run_labels(s, problem.input_ids), allowed=allowed,
                                                 special=s.special_mask))
        return heatmaps.heatmap(dm, title=self.title, selectable=False)


@dataclass(frozen=True)
class AttentionBeforeAfter(Request):
    """One head's attention before and after an intervention, side by side on one scale."""

    intervention: InterventionOf
    layer: int
    head: int
    TITLES: ClassVar[tuple[str, str]] = ("Before", "After")

    def panels(self, engine: AttentionEngine) -> tuple[np.ndarray, list[str], np.ndarray | None, str]:
        """(the head's attention before and after [2, n, n], the run's labels, the causal mask, title)."""
        found = engine.get(self.intervention)
        problem = found.problem
        layer, head = int(self.layer), int(self.head)
        stack = np.stack([found.attention_before[layer, head], found.attention_after[layer, head]])
        labels = run_labels(problem.sentence, found.input_ids, found.kept_positions, with_original=True)
        allowed = np.tril(np.ones(stack.shape[-2:], dtype=bool)) if problem.kind == "causal" else None
        return stack, labels, allowed, f"Layer {layer}, head {head}: before and after"

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import grids

        stack, labels, allowed, title = self.panels(engine)
        return grids.head_grid(stack, labels, titles=list(self.TITLES), columns=2, selectable=False,
                               allowed_mask=allowed, title=title)


@dataclass(frozen=True)
class BeforeAfterPanels(Request):
    """AttentionBeforeAfter's panels as data for their layout's shared template
    (core.render.panels; charts.PanelsTemplate), or None where that chart has cell numbers or
    blocks: then draw AttentionBeforeAfter."""

    chart: AttentionBeforeAfter

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import panels

        stack, labels, allowed, title = self.chart.panels(engine)
        return panels.panels_view(stack, labels, titles=self.chart.TITLES, title=title, allowed_mask=allowed)


@dataclass(frozen=True)
class RankChart(Request):
    """Every attribution method's and lens's rank of every word, in one chart."""

    attribution: AttributionOf
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import explain_charts

        found = engine.get(self.attribution)
        return explain_charts.rank_chart(found.labels, found.methods, found.ranks, found.scores, title=self.title)


@dataclass(frozen=True)
class SentenceFaithfulnessChart(Request):
    """This sentence's Spearman correlations of each lens with `reference`, by layer, beside
    Abnar & Zuidema's Table 1 (their values are against blank-out)."""

    faithfulness: SentenceFaithfulnessOf
    reference: str
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain.faithfulness import LENS_NAMES, LENSES, PAPER_TABLE1, REFERENCES
        from core.render import explain_charts

        found = engine.get(self.faithfulness)
        ri = REFERENCES.index(self.reference)
        rho = {LENS_NAMES[lens]: found.rho[li, :, ri] for li, lens in enumerate(LENSES)
               if np.isfinite(found.rho[li, :, ri]).any()}
        paper = {LENS_NAMES[k]: v for k, v in PAPER_TABLE1.items()} if self.reference == "blank-out" else None
        return explain_charts.faithfulness_chart(rho, title=self.title, reference=self.reference, paper=paper)


@dataclass(frozen=True)
class CorpusFaithfulnessChart(Request):
    """A corpus run's mean Spearman correlation per lens and layer, +/- its standard deviation,
    beside Abnar & Zuidema's Table 1."""

    cache: ClassVar[str] = "runs"

    run: Any  # core.explain.faithfulness.CorpusFaithfulness (by identity)
    reference: str
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.explain.faithfulness import LENS_NAMES, LENSES, PAPER_TABLE1, REFERENCES
        from core.render import explain_charts

        run, ri = self.run, REFERENCES.index(self.reference)
        keep = [li for li, _ in enumerate(LENSES) if np.isfinite(run.mean[li, :, ri]).any()]
        rho = {LENS_NAMES[LENSES[li]]: run.mean[li, :, ri] for li in keep}
        spread = {LENS_NAMES[LENSES[li]]: run.std[li, :, ri] for li in keep}
        paper = {LENS_NAMES[k]: v for k, v in PAPER_TABLE1.items()} if self.reference == "blank-out" else None
        return explain_charts.faithfulness_chart(rho, title=self.title, reference=self.reference, spread=spread,
                                                 paper=paper)
