"""Requests for generation step by step (causal LMs) and encoder-decoder attention (MarianMT, T5),
over core.generate, and their charts (core.render.generate_charts, core.render.bertviz_seq2seq).

`GenerationOf(model, prompt, settings, n)` is n steps: the value of n - 1 steps (from the engine,
so usually from memory) extended by one, so stepping on costs one incremental forward pass and a
link with n steps replays them once. `Seq2SeqOf` loads the encoder-decoder model through the
engine (core.generate.seq2seq's loader, kept in the engine's bounded model set) and reads the
three attentions of a source and a target (typed, or the model's own translation).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.attention.engine import AttentionEngine
from core.attention.request import Loading, Request

# t5-small does several tasks and is told which by a prefix of its input (Raffel et al. 2020).
T5_TRANSLATION_PREFIX = "translate English to German: "


@dataclass(frozen=True)
class GenerationOf(Request):
    """A prompt and `steps` generation steps under `settings` (core.generate.steps.Generation).
    More than MAX_STEPS raises TooManyStepsError; a model without a next-token head raises
    CannotGenerateError; a prompt too long for the model raises PromptTooLongError."""

    model_id: str
    prompt: str
    settings: Any  # core.generate.settings.Settings
    steps: int = 0
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.generate import steps as stepping
        from core.generate.errors import TooManyStepsError
        from core.generate.settings import MAX_STEPS

        n = int(self.steps)
        if n > MAX_STEPS:
            raise TooManyStepsError(n, MAX_STEPS)
        loaded = engine.loaded(self.model_id, self.loading)
        if n <= 0:
            return stepping.start(loaded, self.prompt, self.settings)
        before = engine.get(dataclasses.replace(self, steps=n - 1))
        return stepping.extend(loaded, before, 1)


def _step(engine: AttentionEngine, generation: GenerationOf, step: int) -> tuple[Any, Any]:
    gen = engine.get(generation)
    return gen, gen.steps[int(step)]


@dataclass(frozen=True)
class CandidatesChart(Request):
    """The candidates before step `step`'s choice, as bars (the chosen one orange)."""

    generation: GenerationOf
    step: int
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import generate_charts

        _, s = _step(engine, self.generation, self.step)
        cands = s.candidates
        chosen = next((i for i, c in enumerate(cands) if c.token_id == s.chosen_id), None)
        return generate_charts.candidates_chart([c.label for c in cands], np.array([c.prob for c in cands]),
                                                np.array([c.kept_prob for c in cands]), chosen, title=self.title)


@dataclass(frozen=True)
class AttentionRows(Request):
    """The newest token's attention at step `step` over its context: head (`layer`, `head`), the
    layer's average and rollout after the last layer, as {name: [keys]}."""

    generation: GenerationOf
    step: int
    layer: int
    head: int

    def compute(self, engine: AttentionEngine) -> dict[str, np.ndarray]:
        from core.generate import lenses

        gen = engine.get(self.generation)
        step, layer = int(self.step), int(self.layer)
        return {f"Layer {layer}, head {self.head}": lenses.head_row(gen, step, layer, int(self.head)),
                f"Layer {layer}, average of heads": lenses.layer_average_row(gen, step, layer),
                "Rollout (all layers)": lenses.rollout_row(gen, step)}


@dataclass(frozen=True)
class AttentionRowsChart(Request):
    rows: AttentionRows
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.generate import lenses
        from core.render import generate_charts

        labels = lenses.context_labels(engine.get(self.rows.generation), int(self.rows.step))
        return generate_charts.attention_rows_chart(labels, engine.get(self.rows), title=self.title)


# --- encoder-decoder models ----------------------------------------------------------------------

def task_source(model_type: str, source: str) -> str:
    """What the model reads: T5 is told its task by a prefix (added unless the text has one)."""
    if model_type == "t5" and not source.lstrip().lower().startswith("translate "):
        return T5_TRANSLATION_PREFIX + source
    return source


@dataclass(frozen=True)
class Seq2SeqOf(Request):
    """The encoder, decoder and cross-attention of `source` -> `target` (blank: the model's greedy
    translation) with an encoder-decoder model (core.generate.seq2seq.Seq2SeqResult). T5 gets its
    translation prefix (`task_source`)."""

    model_id: str
    source: str
    target: str = ""
    loading: Loading | None = field(default=None, compare=False)

    def compute(self, engine: AttentionEngine) -> Any:
        from core.generate.errors import NotEncoderDecoderError
        from core.generate.seq2seq import Seq2SeqModel, load_seq2seq, run_seq2seq

        loaded = engine.loaded(self.model_id, self.loading,
                               loader=functools.partial(load_seq2seq, device=engine.device))
        if not isinstance(loaded, Seq2SeqModel):
            raise NotEncoderDecoderError(self.model_id)
        return run_seq2seq(loaded, task_source(loaded.info.model_type, self.source), self.target.strip() or None)


@dataclass(frozen=True)
class AlignmentOf(Request):
    """The word alignment read from the cross-attention of the `layers` and `heads` picked (None:
    all heads) (core.generate.alignment.word_alignment)."""

    seq2seq: Seq2SeqOf
    layers: tuple[int, ...]
    heads: tuple[int, ...] | None = None

    def compute(self, engine: AttentionEngine) -> Any:
        from core.generate.alignment import word_alignment

        return word_alignment(engine.get(self.seq2seq), layers=self.layers, heads=self.heads)


@dataclass(frozen=True)
class AlignmentChart(Request):
    alignment: AlignmentOf
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import generate_charts

        a = engine.get(self.alignment)
        mass = [float(a.matrix[t, s]) if s >= 0 else 0.0 for t, s in enumerate(a.links)]
        return generate_charts.alignment_chart([w.text for w in a.source_words], [w.text for w in a.target_words],
                                               a.links, mass, title=self.title)


SEQ2SEQ_KINDS = {"encoder": "Encoder self-attention", "decoder": "Decoder self-attention",
                 "cross": "Cross-attention (target × source)"}


@dataclass(frozen=True)
class Seq2SeqHeatmap(Request):
    """One head of one of the three attentions ("encoder", "decoder" or "cross") as a heatmap;
    the decoder's later keys are masked."""

    seq2seq: Seq2SeqOf
    which: str
    layer: int
    head: int
    title: str

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render import generate_charts

        r = engine.get(self.seq2seq)
        src, tgt = r.source.labels, r.target.labels
        att = {"encoder": r.encoder_attention, "decoder": r.decoder_attention, "cross": r.cross_attention}[self.which]
        values = att[int(self.layer), int(self.head)]
        rows, cols = (src, src) if self.which == "encoder" else (tgt, tgt) if self.which == "decoder" else (tgt, src)
        allowed = np.tril(np.ones(values.shape, dtype=bool)) if self.which == "decoder" else None
        names = {"encoder": ("Source (from)", "Source (to)"), "decoder": ("Target (from)", "Target (to)"),
                 "cross": ("Target (from)", "Source (to)")}[self.which]
        return generate_charts.rect_heatmap(values, rows, cols, title=self.title, row_title=names[0],
                                            col_title=names[1], allowed=allowed)


@dataclass(frozen=True)
class Seq2SeqBertviz(Request):
    """BertViz's encoder-decoder view of the result (core.render.bertviz_seq2seq)."""

    seq2seq: Seq2SeqOf
    kind: str
    options: Any  # core.render.bertviz.BertvizOptions

    def compute(self, engine: AttentionEngine) -> Any:
        from core.render.bertviz_seq2seq import build_seq2seq_view

        return build_seq2seq_view(engine.get(self.seq2seq), self.kind, options=self.options)  # type: ignore[arg-type]
