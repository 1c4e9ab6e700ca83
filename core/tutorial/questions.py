"""Predict, then reveal: a question the student answers before the step's chart is shown.

Each question lists its options with the score the chart shows for each (`Question.scores`,
the data shown), and its answer is the option with the largest score (`np.argmax`: the first
one on a tie, and `why` says when there is a tie). The short why is computed from the same
numbers. Steps where a guess teaches nothing (the model's facts, BertViz) have no question.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis import patterns
from core.tutorial import notices, views
from core.tutorial.views import StepContext

TIE = 1e-9
YES_NO = ("matters",)  # questions answered yes or no: a wrong guess has no score of its own to show


@dataclass(frozen=True)
class Question:
    """A question, its options, the score of each option in the data shown, and the answer."""

    key: str  # which question, e.g. "head_row"
    prompt: str
    options: tuple[str, ...]
    scores: tuple[float, ...]  # one per option: what the chart shows for it
    answer: int  # index into options: the largest score
    why: str
    score_label: str  # what a score is, e.g. "share of ‘mat’’s attention"

    @property
    def answer_label(self) -> str:
        return self.options[self.answer]

    @property
    def answer_score(self) -> float:
        return self.scores[self.answer]

    def verdict(self, chosen: str | None) -> str:
        """One line for the student's guess (None: no guess)."""
        if chosen is None:
            return f"The answer is ‘{self.answer_label}’."
        if chosen == self.answer_label:
            return f"Right: ‘{self.answer_label}’."
        if chosen in self.options and self.key in YES_NO:
            return f"Not quite: the answer is ‘{self.answer_label}’."
        if chosen in self.options:
            got = self.scores[self.options.index(chosen)]
            return (f"Not quite: ‘{chosen}’ has {_fmt(got, self.key)}; the answer is ‘{self.answer_label}’ "
                    f"({_fmt(self.answer_score, self.key)}).")
        return f"The answer is ‘{self.answer_label}’."


def _fmt(value: float, key: str) -> str:
    return str(int(value)) if key == "categories" else (
        notices.weight(value) if key == "sentences" else notices.pct(value))


def make(key: str, prompt: str, options: list[str], scores: np.ndarray | list[float], why: str,
         score_label: str) -> Question:
    """A question whose answer is the argmax of `scores`; `why` gets a note when there is a tie."""
    values = np.asarray(scores, dtype=np.float64)
    if len(options) != len(values) or not len(values):
        raise ValueError(f"{len(options)} options for {len(values)} scores")
    best = int(np.argmax(values))
    tied = [options[i] for i in np.flatnonzero(values >= values[best] - TIE) if i != best]
    if tied:
        why += f" (Tied with {', '.join('‘' + t + '’' for t in tied)}.)"
    return Question(key=key, prompt=prompt, options=tuple(options), scores=tuple(float(v) for v in values),
                    answer=best, why=why, score_label=score_label)


def _kind(ctx: StepContext, query: int, key: int) -> str:
    """Why a query might look at a key, in plain words (from the tokens' kinds and distance)."""
    r = ctx.result
    if r.special_mask[key]:
        return (f"‘{r.display_tokens[key]}’ is a special token: heads with nothing specific to do often park "
                "their attention there (Clark et al. 2019).")
    if key == query:
        return "the token looks at itself."
    if abs(key - query) == 1:
        return "it is the next or previous token: many heads simply look one step away."
    if views.content_mask(r)[key]:
        return "another word of the sentence: this head links the two. Where it looks is not why the model decides."
    return "punctuation, another common place for attention to rest."


# --- the steps --------------------------------------------------------------------------------

def head_question(ctx: StepContext) -> Question:
    """Which key does the tutorial's query token attend to most in the selected head? (its row)"""
    r = ctx.result
    q = views.tutorial_query(r)
    keys = np.flatnonzero(r.allowed_mask()[q])
    labels = views.option_labels(r.display_tokens)
    row = r.head(ctx.layer, ctx.head)[q, keys]
    label = labels[q]
    key = int(keys[int(np.argmax(row))])
    why = f"‘{label}’ gives {notices.pct(row.max())} of its attention to ‘{labels[key]}’: " + _kind(ctx, q, key)
    return make("head_row", f"Which token will ‘{label}’ attend to most in layer {ctx.layer}, head {ctx.head}?",
                [labels[k] for k in keys], row, why, f"share of ‘{label}’’s attention")


def layer_question(ctx: StepContext) -> Question:
    """Which token receives the most attention in the selected layer's average? (column means)"""
    r = ctx.result
    shares = views.key_shares(r.layer_mean(ctx.layer))
    labels = views.option_labels(r.display_tokens)
    best = int(np.argmax(shares))
    why = (f"Over all rows of the average, {notices.pct(shares[best])} of the attention lands on "
           f"‘{labels[best]}’. When most heads agree on a token, the average keeps it; what single heads "
           "do differently is averaged away.")
    return make("layer_column", f"Which token will receive the most attention in layer {ctx.layer}'s average "
                                "(all its heads together)?", labels, shares, why, "share of all attention")


def sentence_question(ctx: StepContext) -> Question | None:
    """Which of the six sentences has the strongest connection in the selected head?"""
    if not ctx.examples:
        return None
    best = views.strongest_by_sentence(ctx.examples, ctx.layer, ctx.head)
    names = list(best)
    scores = np.array([best[n] for n in names])
    top = names[int(np.argmax(scores))]
    res = ctx.examples[top]
    found = views.top_connections(res.head(ctx.layer, ctx.head), res, k=1)
    if not len(found):
        return None  # no sentence has two tokens: nothing to compare
    row = found.iloc[0]
    why = (f"In the {top.lower()} example, ‘{views.token_label(res, row['from'])}’ → "
           f"‘{views.token_label(res, row['to'])}’ weighs {notices.weight(row['weight'])}: the same head "
           "behaves differently on each sentence.")
    return make("sentences", f"In layer {ctx.layer}, head {ctx.head}, which sentence will have the strongest single "
                             "connection (a token to another)?", names, scores, why, "strongest weight")


def across_question(ctx: StepContext) -> Question:
    """In which layer is head number `head` most focused? (mean of each row's largest weight)"""
    focus = views.row_focus(views.head_across_layers(ctx.result, ctx.head))
    layers = [f"layer {i}" for i in range(len(focus))]
    best = int(np.argmax(focus))
    why = (f"In layer {best} its rows put {notices.pct(focus[best])} on their largest key on average. Each "
           f"‘head {ctx.head}’ is a different head: the number is only its place in the layer.")
    return make("across_focus", f"In which layer will head {ctx.head} be most focused (each row on one token)?",
                layers, focus, why, "mean of each row's largest weight")


def pattern_question(ctx: StepContext) -> Question:
    """Which of the tutorial's categories gets the most strong connections?"""
    totals = notices.category_totals(ctx.result)
    names = list(patterns.CATEGORIES)
    scores = np.array([totals[c] for c in names], dtype=np.float64)
    best = names[int(np.argmax(scores))]
    meaning = {
        "positional": "neighbours attend to each other: position alone explains these.",
        "special": "much attention rests on [CLS]/[SEP]-like tokens.",
        "syntactic": "connections from ‘the’, ‘a’ or ‘an’ stand out.",
        "semantic": "‘semantic’ is only what is left over: no rule above matched, which is not proof of meaning.",
    }[best]
    why = f"{int(totals[best])} of {int(scores.sum())} strong connections are {best}: {meaning}"
    return make("categories", "Which category will have the most strong connections over all layers?", names,
                scores, why, "strong connections")


def yours_question(ctx: StepContext) -> Question:
    """Which token of the student's sentence receives the most attention in the selected head?"""
    r = ctx.result
    shares = views.key_shares(r.head(ctx.layer, ctx.head))
    labels = views.option_labels(r.display_tokens)
    best = int(np.argmax(shares))
    why = f"{notices.pct(shares[best])} of all the attention in this head lands on ‘{labels[best]}’."
    return make("yours_column", f"Which token of your sentence will receive the most attention in layer {ctx.layer}, "
                                f"head {ctx.head}?", labels, shares, why, "share of all attention")


def extension_question(ctx: StepContext) -> Question:
    """After rollout through every layer, which input token does the tutorial's query draw most from?"""
    r = ctx.result
    q = views.tutorial_query(r)
    keys = np.flatnonzero(r.allowed_mask()[q])
    labels = views.option_labels(r.display_tokens)
    row = views.rollout_last(ctx)[q, keys]
    best = int(keys[int(np.argmax(row))])
    why = (f"Rollout follows attention back through every layer (with the residual connection): "
           f"{notices.pct(row.max())} of ‘{labels[q]}’ traces back to ‘{labels[best]}’.")
    return make("rollout_row", f"After rollout through all {r.num_layers} layers, which input token will "
                               f"‘{labels[q]}’ draw most from?", [labels[k] for k in keys], row, why,
                f"share of ‘{labels[q]}’’s rollout")


def matters_question(ctx: StepContext) -> Question | None:
    """Is the word the output's attention reaches most (rollout) the word whose blank-out moves the
    output most? Yes scores 1 when the two are the same word, else No does."""
    ev = ctx.evidence
    if ev is None or not len(ev.words):
        return None
    attended, needed = views.evidence_tops(ev)
    same = attended == needed
    labels = views.option_labels(ev.words)
    why = (f"For {ev.output}, rollout gives ‘{labels[attended]}’ the most attention of any word "
           f"({notices.pct(ev.attended[attended])} of what the words get), but blanking out ‘{labels[needed]}’ moves the output most (the score drops by "
           f"{notices.weight(ev.blank_out[needed])}).")
    if same:
        why = (f"For {ev.output}, ‘{labels[attended]}’ gets the most attention after rollout "
               f"({notices.pct(ev.attended[attended])} of what the words get) and blanking it out also moves the output most (the score "
               f"drops by {notices.weight(ev.blank_out[needed])}). Here they agree; on other sentences they often "
               "do not.")
    options = ["Yes, the same word", "No, another word"]
    return make("matters", "Is the word that gets the most attention (rollout through every layer) the word the "
                "model's output needs most (blanking it out changes the output most)?", options,
                [1.0, 0.0] if same else [0.0, 1.0], why, "1 for the answer the sentence's numbers give")


QUESTIONS = {
    "head": head_question,
    "layer": layer_question,
    "sentences": sentence_question,
    "across": across_question,
    "patterns": pattern_question,
    "yours": yours_question,
    "matters": matters_question,
    "extensions": extension_question,
}


def question_for(step: str, ctx: StepContext) -> Question | None:
    """The predict-then-reveal question of `step`, or None where the step has none."""
    make_question = QUESTIONS.get(step)
    return None if make_question is None else make_question(ctx)
