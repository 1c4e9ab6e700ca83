"""What to notice on each tutorial step, computed from the data the step shows.

Every notice is one plain sentence and the number it states (`Notice.value`, formatted into
the text by `pct` or `weight`), computed here from the same arrays core.tutorial.views gives
the page to draw. Nothing is a fixed claim about attention that could be false for the current
sentence: when a pattern is absent the sentence says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis import compare, patterns, statistics
from core.attention.result import AttentionResult
from core.tutorial import views
from core.tutorial.views import StepContext

PATTERN_MODE = "relative"  # the Pattern breakdown page's default rule ...
PATTERN_THRESHOLD = 2.0  # ... "more than twice uniform attention (1/n)"
NOTEBOOK_THRESHOLD = 0.1  # the notebook's fixed "strong connection" threshold
VISIBLE_LINE = 0.1  # a BertViz line weighing more than this is clearly visible


@dataclass(frozen=True)
class Notice:
    """One thing to notice: the sentence shown, the number it states, and which quantity that is."""

    key: str  # e.g. "top_key_share"
    text: str
    # None: a fact without a number (e.g. "this model is causal"); a tuple: one number per panel
    value: float | int | tuple[float, ...] | None = None


def pct(value: float) -> str:
    """A share as the notices write it: 0.6234 -> "62%"."""
    return f"{float(value):.0%}"


def weight(value: float) -> str:
    """A single attention weight as the notices write it: 0.7412 -> "0.74"."""
    return f"{float(value):.2f}"


def _q(label: str) -> str:
    return f"‘{label}’"


def _special_names(result: AttentionResult) -> list[str]:
    return list(dict.fromkeys(t for t, s in zip(result.display_tokens, result.special_mask) if s))


def _sink(result: AttentionResult) -> tuple[np.ndarray, str]:
    """The key set the 'parking' notices measure: special tokens, or (none: a causal model
    without them) the first token, the attention sink of causal models (Xiao et al. 2024)."""
    special = np.asarray(result.special_mask, dtype=bool)
    if special.any():
        names = " and ".join(_special_names(result))
        return special, f"the special tokens ({names})"
    first = np.zeros(result.n_tokens, dtype=bool)
    first[0] = True
    return first, f"the first token ({_q(result.display_tokens[0])})"


# --- the steps --------------------------------------------------------------------------------

def model_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    info = r.info
    heads = r.num_layers * r.num_heads
    out = [
        Notice("heads", f"{info.display_name} has {r.num_layers} layers of {r.num_heads} heads: {heads} attention "
                        "heads, each with its own way of spreading attention over this sentence.", heads),
        Notice("weights", f"For your {r.n_tokens} tokens each head makes one {r.n_tokens} × {r.n_tokens} table, so "
                          f"the model computes {int(r.attention.size):,} attention weights for this text.",
               int(r.attention.size)),
        Notice("parameters", f"It has {info.num_parameters / 1e6:.1f} million parameters "
                             f"(the notebook's DistilBERT has 66 million).", round(info.num_parameters / 1e6, 1)),
    ]
    if r.causal:
        out.append(Notice("causal", "It is a causal model: each token may only look at itself and the tokens "
                                    "before it, so the upper half of every table is empty (masked)."))
    else:
        out.append(Notice("causal", "It is an encoder: every token may look at every other token, before and "
                                    "after it."))
    return out


def token_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    special = int(np.asarray(r.special_mask).sum())
    names = _special_names(r)
    if special:
        first = Notice("special", f"Your text became {r.n_tokens} tokens: {r.n_tokens - special} from the text and "
                                  f"{special} special ({', '.join(names)}) that the tokenizer adds.", special)
    else:
        first = Notice("special", f"Your text became {r.n_tokens} tokens; this model adds no special tokens.")
    out = [first]
    split = views.split_words(r)
    if split:
        word, pieces = split[0]
        count = len(split)
        out.append(Notice("split", f"{count} word{'s were' if count > 1 else ' was'} cut into pieces; for example "
                                   f"{_q(word)} became {' + '.join(_q(p) for p in pieces)}. The model only sees "
                                   "pieces that are in its vocabulary.", count))
    else:
        out.append(Notice("split", "Every word here is a single token; rarer or longer words are cut into "
                                   "pieces (try a rare word such as ‘xylophonist’)."))
    if r.text_pair is not None:
        start = int(np.flatnonzero(np.asarray(r.segment_ids) == 1)[0]) if (np.asarray(r.segment_ids) == 1).any() else -1
        if start >= 0:
            out.append(Notice("pair", f"The second sentence starts at token {start} ({_q(r.display_tokens[start])}): "
                                      "its tokens belong to segment 1.", start))
    return out


def head_notices(ctx: StepContext) -> list[Notice]:
    """For the selected head's heatmap (layer, head)."""
    r = ctx.result
    m = _head(ctx)
    shares = views.key_shares(m)
    top = int(np.argmax(shares))
    out = [Notice("top_key_share", f"In layer {ctx.layer}, head {ctx.head}, {pct(shares[top])} of all the attention "
                                   f"goes to {_q(views.token_label(r, top))}.", float(shares[top]))]
    sink, name = _sink(r)
    if r.special_mask.any():
        share = float(shares[sink].sum())
        out.append(Notice("special_share", f"{pct(share)} of it goes to {name}: a head with nothing specific to do "
                                           "often parks its attention there.", share))
    near = views.neighbour_share(m)
    out.append(Notice("neighbour_share", f"{pct(near)} goes to the token itself or its immediate neighbours.", near))
    best = views.top_connections(m, r, k=1)
    if len(best):
        row = best.iloc[0]
        out.append(Notice("strongest", f"The strongest connection (a token to another) is "
                                       f"{_q(views.token_label(r, row['from']))} → {_q(views.token_label(r, row['to']))}"
                                       f" with weight {weight(row['weight'])}.", float(row["weight"])))
    return out


def _head(ctx: StepContext) -> np.ndarray:
    return ctx.result.head(ctx.layer, ctx.head)


def layer_notices(ctx: StepContext) -> list[Notice]:
    """For the selected layer's average and the first / middle / last layer panel."""
    r = ctx.result
    avg = r.layer_mean(ctx.layer)
    avg_focus = float(views.row_focus(avg))
    head_focus = float(np.mean(views.row_focus(r.attention[ctx.layer])))
    out = [Notice("average_focus", f"Averaging blurs: in layer {ctx.layer} each row's largest weight is "
                                   f"{weight(avg_focus)} on average for the average of the heads, against "
                                   f"{weight(head_focus)} for its single heads.", avg_focus)]
    sink, name = _sink(r)
    layers = views.panel_layers(r.num_layers)
    panel = views.layer_panel(r)
    shares = [float(views.key_shares(panel[i])[sink].sum()) for i in range(len(layers))]
    listed = ", ".join(f"layer {layer} {pct(s)}" for layer, s in zip(layers, shares))
    out.append(Notice("panel_sink_share", f"Share of attention on {name}: {listed}.", tuple(shares)))
    return out


def bertviz_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    m = _head(ctx)
    allowed = r.allowed_mask()
    cells = int(allowed.sum())
    visible = int((np.asarray(m)[allowed] > VISIBLE_LINE).sum())
    return [Notice("visible_lines", f"In the head view each line is one weight. For layer {ctx.layer}, head "
                                    f"{ctx.head}, {visible} of its {cells} weights are above {VISIBLE_LINE}: those "
                                    "are the lines you can clearly see.", visible)]


def sentence_notices(ctx: StepContext) -> list[Notice]:
    """For the six sentence types' top-5 connections in the selected head."""
    best: list[tuple[str, float, str, str, bool]] = []
    for name, res in ctx.examples.items():
        top = views.top_connections(res.head(ctx.layer, ctx.head), res, k=1)
        if not len(top):
            continue
        row = top.iloc[0]
        involves = bool(res.special_mask[int(row["from"])] or res.special_mask[int(row["to"])])
        best.append((name, float(row["weight"]), views.token_label(res, row["from"]),
                     views.token_label(res, row["to"]), involves))
    if not best:
        return []
    name, w, a, b, _ = max(best, key=lambda t: t[1])
    special = sum(1 for t in best if t[4])
    return [
        Notice("strongest_sentence", f"The strongest connection over the {len(best)} sentences is {_q(a)} → {_q(b)} "
                                     f"({weight(w)}) in the {name.lower()} example.", w),
        Notice("special_top", f"In {special} of the {len(best)} sentences the strongest connection involves a special "
                              "token: look at the words, not only at the darkest cell.", special),
    ]


def across_notices(ctx: StepContext) -> list[Notice]:
    """For head `ctx.head` in every layer."""
    r = ctx.result
    stack = views.head_across_layers(r, ctx.head)
    focus = views.row_focus(stack)
    hi, lo = int(np.argmax(focus)), int(np.argmin(focus))
    out = [Notice("focus_layers", f"Head {ctx.head} is most focused in layer {hi} (rows put {pct(focus[hi])} on their "
                                  f"largest key, on average) and most spread out in layer {lo} "
                                  f"({pct(focus[lo])}).", float(focus[hi]))]
    closest = closest_head(r, ctx.layer, ctx.head)
    if closest is not None:
        other, match, js = closest
        same = " (by chance the same number)" if match == ctx.head else f", not head {ctx.head}"
        out.append(Notice("closest_head", f"The head of layer {other} whose attention is most like layer {ctx.layer}, "
                                          f"head {ctx.head} is head {match}{same}: numbers are only positions, so "
                                          "'head 5' in two layers are two unrelated heads.", match))
    return out


def closest_head(result: AttentionResult, layer: int, head: int) -> tuple[int, int, float] | None:
    """(the next layer (or the one before, for the last), its head most like (layer, head) by the
    mean Jensen-Shannon divergence of their rows, that divergence); None with one layer."""
    if result.num_layers < 2:
        return None
    other = layer + 1 if layer + 1 < result.num_layers else layer - 1
    others = np.asarray(result.attention[other])  # [heads, n, n]
    js = statistics.jensen_shannon(others, np.broadcast_to(result.head(layer, head), others.shape)).mean(axis=-1)
    match = int(np.argmin(js))
    return other, match, float(js[match])


def category_totals(result: AttentionResult) -> dict[str, int]:
    """The tutorial categories' counts over every layer, with Pattern breakdown's default rule."""
    _, counts = compare.category_breakdown(result, PATTERN_THRESHOLD, PATTERN_MODE)
    return {c: int(counts[c].sum()) for c in patterns.CATEGORIES}


def pattern_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    totals = category_totals(r)
    total = sum(totals.values())
    parts = ", ".join(f"{v} {k}" for k, v in totals.items())
    out = [Notice("category_total", f"Over the {r.num_layers} layers' averages, {total} connections are more than "
                                    f"{PATTERN_THRESHOLD:g}× uniform attention: {parts}.", total)]
    fixed = patterns.categorise_connections(np.stack([r.layer_mean(i) for i in range(r.num_layers)]),
                                            list(r.display_tokens), r.special_mask, NOTEBOOK_THRESHOLD,
                                            "absolute", causal=r.causal)
    out.append(Notice("fixed_threshold", f"The notebook's fixed 0.1 would keep {len(fixed)}: with {r.n_tokens} tokens "
                                         f"uniform attention is already 1/{r.n_tokens} = {weight(1 / r.n_tokens)}.",
                      len(fixed)))
    stats = ctx.stats if ctx.stats is not None else statistics.head_statistics_for(r)
    summary = patterns.pattern_summary(stats)
    first = summary.counts.iloc[0]
    out.append(Notice("pattern_class", f"By Kovaleva et al.'s classes, {int(first['heads'])} of the "
                                       f"{len(summary.labelled)} heads are ‘{first['pattern']}’ on this text.",
                      int(first["heads"])))
    return out


def yours_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    m = _head(ctx)
    shares = views.key_shares(m)
    top = int(np.argmax(shares))
    content = views.content_mask(r)
    out = [Notice("top_key_share", f"In layer {ctx.layer}, head {ctx.head}, {_q(views.token_label(r, top))} receives "
                                   f"the most attention: {pct(shares[top])} of it.", float(shares[top]))]
    if content.any():
        word = int(np.flatnonzero(content)[np.argmax(shares[content])])
        out.append(Notice("top_word_share", f"Among the words, {_q(views.token_label(r, word))} receives the most: "
                                            f"{pct(shares[word])}.", float(shares[word])))
    return out


def extension_notices(ctx: StepContext) -> list[Notice]:
    r = ctx.result
    q = views.tutorial_query(r)
    roll = views.rollout_last(ctx)[q]
    raw = r.head(r.num_layers - 1, ctx.head)[q]
    top_roll, top_raw = int(np.argmax(roll)), int(np.argmax(raw))
    last = f"Raw attention in the last layer (head {ctx.head}) gives {_q(views.token_label(r, top_raw))} " \
           f"{pct(raw[top_raw])}"
    last += (": here both agree." if top_raw == top_roll else
             " instead: one layer alone does not say where the information came from.")
    return [
        Notice("rollout_top", f"After rollout through all {r.num_layers} layers, {_q(views.token_label(r, q))} draws "
                              f"{pct(roll[top_roll])} of its input from {_q(views.token_label(r, top_roll))}.",
               float(roll[top_roll])),
        Notice("raw_last_top", last, float(raw[top_raw])),
    ]


def matters_notices(ctx: StepContext) -> list[Notice]:
    ev = ctx.evidence
    if ev is None or not len(ev.words):
        return [Notice("matters_none", ctx.no_evidence or "This model has no output to blank words out against, "
                                                          "so this step has nothing to measure.")]
    attended, needed = views.evidence_tops(ev)
    raw_top = int(np.argmax(ev.raw_last))
    rho = views.rank_correlation(ev.attended, ev.blank_out)
    found = [
        Notice("matters_attended", f"Of the attention that {ev.output} gives the words after rollout (special tokens "
                                   f"left out), {_q(ev.words[attended])} gets the most: {pct(ev.attended[attended])}.",
               float(ev.attended[attended])),
        Notice("matters_raw_last", f"The last layer alone (raw attention, all heads averaged) gives most to "
                                   f"{_q(ev.words[raw_top])}: {pct(ev.raw_last[raw_top])} of what the words get.",
               float(ev.raw_last[raw_top])),
        Notice("matters_blank_out", f"Blanking out {_q(ev.words[needed])} changes the output most: its score drops "
                                    f"by {weight(ev.blank_out[needed])}.", float(ev.blank_out[needed])),
    ]
    if np.isfinite(rho):
        found.append(Notice("matters_rho", f"Over all {len(ev.words)} words, the rank correlation of rollout with "
                                           f"blank-out is {weight(rho)} (1 = the same order, 0 = unrelated).",
                            float(rho)))
    return found


GET_A_CAUSAL_MODEL = ("To watch a model generate, choose a causal model such as GPT-2 or DistilGPT-2 in the "
                      "sidebar (it downloads when online), or fetch them beforehand for an offline room with "
                      "`python scripts/model_kit.py --models generation`.")


def generating_notices(ctx: StepContext) -> list[Notice]:
    gen = ctx.generation
    if gen is None:
        r = ctx.result
        n = r.n_tokens
        last = views.token_label(r, n - 1)
        return [
            Notice("generating_none", ctx.no_generation or "This model does not generate text, so this step has "
                                                           "no generation to look at."),
            Notice("generating_mask", f"Under a causal mask the first token {_q(views.token_label(r, 0))} may look "
                                      f"only at itself, and the last, {_q(last)}, at all {n} tokens: "
                                      f"{n * (n + 1) // 2} of the {n * n} cells are allowed.", n * (n + 1) // 2),
            Notice("generating_how", GET_A_CAUSAL_MODEL),
        ]
    return [Notice(f"generating_{key}", text) for key, text in gen.sentences]


NOTICES = {
    "model": model_notices,
    "tokens": token_notices,
    "head": head_notices,
    "layer": layer_notices,
    "bertviz": bertviz_notices,
    "sentences": sentence_notices,
    "across": across_notices,
    "patterns": pattern_notices,
    "yours": yours_notices,
    "matters": matters_notices,
    "generating": generating_notices,
    "extensions": extension_notices,
}


def notices_for(step: str, ctx: StepContext) -> list[Notice]:
    """What to notice on `step` (a core.tutorial.steps id) for this context."""
    return NOTICES[step](ctx)
