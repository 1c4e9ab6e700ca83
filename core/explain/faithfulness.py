"""Faithfulness of the lenses (Abnar & Zuidema, "Quantifying Attention Flow", ACL 2020, Tables 1-2):
per sentence, the Spearman correlation between each lens's word importances for the output
(raw attention of layer l, rollout to layer l, flow to layer l, and norm-based attention of
layer l) and the blank-out or gradient importances of the same words; over a corpus, the mean
and spread per lens and layer.

The output of each sentence (core.explain.outputs.Target defaults): the masked last word
(masked LM), the prediction of the last word (causal LM), the sentence embedding (embedding
models). Gradient importance: |gradient x input| per word. Sentences with fewer than
`MIN_WORDS` scored words are skipped (a rank correlation of two numbers says nothing).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import AttentionDashboardError
from core.explain.attribution import blank_out, gradient_x_input
from core.explain.lenses import LENSES, LensImportance, lens_importance
from core.explain.outputs import Problem, Target, resolve
from core.models.loading import LoadedModel

REFERENCES = ("blank-out", "gradient")
MIN_WORDS = 3
# Abnar & Zuidema (2020), Table 1: Spearman correlation with blank-out, their subject-verb
# agreement model, layers 1-6 (mean over the test sentences).
PAPER_TABLE1: dict[str, tuple[float, ...]] = {
    "raw": (0.69, 0.10, -0.11, -0.09, 0.20, 0.29),
    "rollout": (0.32, 0.38, 0.51, 0.62, 0.70, 0.71),
    "flow": (0.32, 0.44, 0.70, 0.70, 0.71, 0.70),
}
LENS_NAMES = {"raw": "raw attention", "rollout": "rollout", "flow": "attention flow", "norm": "norm-based"}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho: Pearson correlation of the ranks (ties get their average rank); nan when
    either side is constant or has fewer than 2 values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size < 2:
        return float("nan")
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


@dataclass(frozen=True, eq=False)
class SentenceFaithfulness:
    """Spearman correlations for one sentence. Read-only arrays."""

    problem: Problem
    words: np.ndarray  # int64 [k]: scored words
    rho: np.ndarray  # float32 [lenses (LENSES), layers, references (REFERENCES)]; nan where undefined
    blank_out: np.ndarray  # float32 [k]
    gradient: np.ndarray  # float32 [k]: |gradient x input| per word
    lenses: LensImportance


def sentence_faithfulness(loaded: LoadedModel, problem: Problem, lenses: LensImportance | None = None,
                          *, with_norm: bool = True, blank: np.ndarray | None = None,
                          gradient_tokens: np.ndarray | None = None) -> SentenceFaithfulness:
    """Each lens and layer against blank-out and |gradient x input|, for one sentence. `blank`
    (over the candidate words) and `gradient_tokens`: this problem's own, when already computed."""
    s = problem.sentence
    words = problem.candidate_words
    lenses = lenses or lens_importance(loaded, problem, with_norm=with_norm)
    n_layers = lenses.raw.shape[0]
    rho = np.full((len(LENSES), n_layers, len(REFERENCES)), np.nan)
    if blank is None:
        blank = blank_out(loaded, problem, words) if len(words) else np.zeros(0, np.float32)
    if gradient_tokens is None:
        gradient_tokens = gradient_x_input(loaded, problem)
    grad = np.abs(s.merge(gradient_tokens)[words]).astype(np.float32)
    if len(words) >= MIN_WORDS:
        refs = (blank, grad)
        for li, lens in enumerate(LENSES):
            values = lenses.get(lens)
            if values is None:
                continue
            merged = s.merge(values)[:, words]
            for layer in range(n_layers):
                for ri, ref in enumerate(refs):
                    rho[li, layer, ri] = spearman(merged[layer], ref)
    out = (words, rho.astype(np.float32), np.asarray(blank, np.float32), grad)
    for a in out:
        if a.flags.writeable:
            a.setflags(write=False)
    return SentenceFaithfulness(problem=problem, words=out[0], rho=out[1], blank_out=out[2], gradient=out[3],
                                lenses=lenses)


@dataclass(frozen=True, eq=False)
class CorpusFaithfulness:
    """Correlations over a corpus. Read-only arrays; the per-sentence values are kept."""

    model_id: str
    corpus_name: str
    n_sentences: int  # asked for
    n_done: int  # run (== n_sentences unless cancelled)
    n_used: int  # with at least MIN_WORDS scored words
    skipped: tuple[str, ...]  # one sentence per skipped text and why
    cancelled: bool
    per_sentence: np.ndarray  # float32 [used, lenses, layers, references]
    mean: np.ndarray  # float32 [lenses, layers, references], nan-aware
    std: np.ndarray  # float32 [lenses, layers, references]
    count: np.ndarray  # int64 [lenses, layers, references]: sentences with a defined rho

    def table(self) -> pd.DataFrame:
        """Long form: lens, layer (from 1), reference, mean, std, n, and the paper's value."""
        rows = []
        for li, lens in enumerate(LENSES):
            for layer in range(self.mean.shape[1]):
                for ri, ref in enumerate(REFERENCES):
                    paper = PAPER_TABLE1.get(lens, ())
                    rows.append({"lens": LENS_NAMES[lens], "layer": layer + 1, "reference": ref,
                                 "mean": float(self.mean[li, layer, ri]), "std": float(self.std[li, layer, ri]),
                                 "n": int(self.count[li, layer, ri]),
                                 "paper": paper[layer] if ref == "blank-out" and layer < len(paper) else float("nan")})
        return pd.DataFrame(rows)


def corpus_faithfulness(loaded: LoadedModel, sentences: Sequence[str], *, name: str = "sentences",
                        progress: Callable[[int, int], None] | None = None,
                        cancel: threading.Event | None = None, max_tokens: int | None = 64,
                        with_norm: bool = True) -> CorpusFaithfulness:
    """`sentence_faithfulness` over every sentence (e.g. core.corpus.sources.builtin("sample_en")
    .sentences). `progress(done, total)` after each; `cancel.set()` stops after the current one
    (the result then holds what was done, `cancelled=True`)."""
    texts = list(sentences)
    values, skipped = [], []
    done = 0

    def one(text: str) -> SentenceFaithfulness | str:
        if cancel is not None and cancel.is_set():
            return ""
        try:
            problem = resolve(loaded, text, Target(), max_tokens=max_tokens, hidden=with_norm)
            return sentence_faithfulness(loaded, problem, with_norm=with_norm)
        except AttentionDashboardError as err:
            return f"'{text[:60]}': {err}"

    # Two workers: one sentence's flow and correlations (numpy, no lock) run while the other's
    # forward passes hold the model's lock; short passes use one torch thread, so a core is free.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for result in pool.map(one, texts):
            if result == "":
                continue
            if isinstance(result, str):
                skipped.append(result)
            elif len(result.words) >= MIN_WORDS:
                values.append(result.rho)
            else:
                skipped.append(f"'{result.problem.sentence.text[:60]}': fewer than {MIN_WORDS} words to rank.")
            done += 1
            if progress is not None:
                progress(done, len(texts))
    shape = (len(LENSES), loaded.info.num_layers, len(REFERENCES))
    per = np.stack(values).astype(np.float32) if values else np.zeros((0, *shape), np.float32)
    count = np.isfinite(per).sum(axis=0).astype(np.int64)
    with np.errstate(invalid="ignore"):
        safe = np.where(np.isfinite(per), per, 0.0)
        mean = np.divide(safe.sum(axis=0), count, out=np.full(shape, np.nan), where=count > 0)
        var = np.divide(((safe - np.nan_to_num(mean)) ** 2 * np.isfinite(per)).sum(axis=0), count - 1,
                        out=np.full(shape, np.nan), where=count > 1)
    arrays = (per, mean.astype(np.float32), np.sqrt(var).astype(np.float32), count)
    for a in arrays:
        a.setflags(write=False)
    return CorpusFaithfulness(model_id=loaded.info.model_id, corpus_name=name, n_sentences=len(texts), n_done=done,
                              n_used=len(values), skipped=tuple(skipped), cancelled=done < len(texts),
                              per_sentence=arrays[0], mean=arrays[1], std=arrays[2], count=arrays[3])


def reading(result: CorpusFaithfulness, reference: str = "blank-out") -> str:
    """A plain-words reading of the corpus result beside Abnar & Zuidema's Table 1."""
    ri = REFERENCES.index(reference)
    if result.n_used == 0:
        return "No sentence had enough words to rank, so there is nothing to read yet."
    last = result.mean.shape[1] - 1
    at_last = {lens: float(result.mean[li, last, ri]) for li, lens in enumerate(LENSES)}
    ranked = sorted(((v, k) for k, v in at_last.items() if np.isfinite(v)), reverse=True)
    best, worst = ranked[0], ranked[-1]
    what = "the drop of the output when a word is blanked out" if reference == "blank-out" else \
        "the size of the output's gradient on each word"
    parts = [
        f"Over {result.n_used} sentences, at the last layer, {LENS_NAMES[best[1]]} agrees best with {what} "
        f"(mean Spearman {best[0]:.2f}) and {LENS_NAMES[worst[1]]} least ({worst[0]:.2f}). 1 would mean the "
        "same word ranking, 0 no relation.",
    ]
    raw, roll = at_last.get("raw", np.nan), at_last.get("rollout", np.nan)
    if np.isfinite(raw) and np.isfinite(roll):
        verdict = "as" if roll > raw else "unlike"
        parts.append(f"Rollout {'beats' if roll > raw else 'does not beat'} raw attention here ({roll:.2f} against "
                     f"{raw:.2f}), {verdict} Abnar & Zuidema found against blank-out on their subject-verb "
                     "agreement model (rollout 0.71, flow 0.70, raw attention 0.29 at layer 6).")
    parts.append("Different models and outputs give different numbers; the paper's claim is the ordering: raw "
                 "attention of upper layers tracks the output poorly, attention combined over layers better.")
    return " ".join(parts)
