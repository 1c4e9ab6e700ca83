"""Plain words: every term the app uses, in a sentence or three, with one small example each.

The examples are computed here, by the app's own functions (core.analysis), on tiny fixed
inputs, so an example can never disagree with what a page computes. The formulas are kept
apart (`Term.how`, shown in a "how it is computed" expander) and written out in full in
docs/methods.md (`Term.methods`, the section's anchor there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis import lenses, patterns, statistics, tokens


@dataclass(frozen=True)
class Term:
    id: str  # also the glossary page's anchor: /glossary#<id>
    name: str
    plain: str  # plain language, no formula
    example: Callable[[], str]  # one small example, computed when called
    how: str = ""  # the formula, for "how it is computed"
    methods: str = ""  # the docs/methods.md section anchor

    @property
    def anchor(self) -> str:
        return self.id.replace("_", "-")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


TOY_TOKENS = ("[CLS]", "the", "cat", "sat", "[SEP]")
_TOY_SCORES = np.array([0.5, 0.2, 2.0, 1.0, 1.4])  # what the query 'sat' scores each key


def _attention_example() -> str:
    w = _softmax(_TOY_SCORES)
    parts = ", ".join(f"‘{t}’ {v:.2f}" for t, v in zip(TOY_TOKENS, w))
    return f"The query ‘sat’ spreads its attention as {parts}; together that is {w.sum():.2f}."


def _query_example() -> str:
    w = _softmax(_TOY_SCORES)
    best = int(np.argmax(w))
    return (f"In the row of ‘sat’ (the query), the biggest share, {w[best]:.2f}, goes to the key "
            f"‘{TOY_TOKENS[best]}’.")


def _key_example() -> str:
    w = _softmax(_TOY_SCORES)
    return (f"The key ‘cat’ matches the query ‘sat’ best (score {_TOY_SCORES[2]:.1f} of at most "
            f"{_TOY_SCORES.max():.1f}), so it gets {w[2]:.0%} of ‘sat’’s attention.")


TWO_HEADS = np.array([[[0.9, 0.1], [0.8, 0.2]],   # head 0: both tokens look at token 0
                      [[0.1, 0.9], [0.2, 0.8]]],  # head 1: both look at token 1
                     dtype=np.float32)


def _head_example() -> str:
    h0, h1 = TWO_HEADS
    return (f"Two heads of one layer on the same two tokens: head 0 gives token 0 {h0[0, 0]:.1f} of the first row, "
            f"head 1 gives it {h1[0, 0]:.1f}. Same input, different habits.")


def _head_average_example() -> str:
    avg = lenses.head_average(TWO_HEADS[None])[0]
    return (f"Averaging those two heads gives the first row {avg[0, 0]:.2f}, {avg[0, 1]:.2f}: the two clear "
            "habits vanish in the average.")


def _layer_example() -> str:
    return ("A 6-layer model with 12 heads per layer has 6 × 12 = 72 heads; layer 0 reads the token pieces, "
            "layer 5 reads what layer 4 wrote.")


def _token_example() -> str:
    return ("BERT's WordPiece vocabulary cuts ‘tokenization’ into ‘token’ + ‘##ization’ (## marks a piece that "
            "continues a word); ‘cat’ stays one token.")


def _special_example() -> str:
    return f"‘The cat sat’ becomes {' '.join(TOY_TOKENS)}: five tokens, two of them special."


def _word_merge_example() -> str:
    pieces = ["[CLS]", "un", "##believ", "##able", "[SEP]"]
    m = np.array([[0.2, 0.2, 0.2, 0.2, 0.2],
                  [0.1, 0.3, 0.3, 0.2, 0.1],
                  [0.1, 0.4, 0.2, 0.2, 0.1],
                  [0.1, 0.2, 0.4, 0.2, 0.1],
                  [0.2, 0.2, 0.2, 0.2, 0.2]], dtype=np.float32)
    keys = tokens.word_keys([None, 0, 0, 0, None], [0] * 5)
    merged, labels, _ = tokens.merge_words(m, keys, pieces)
    return (f"A toy word in three pieces: ‘[CLS]’ gives each piece 0.20; as one word ‘{labels[1]}’ it gets their sum, "
            f"{merged[0, 1]:.2f}. The word's own row is the mean of its pieces' rows, so it still sums to "
            f"{merged[1].sum():.2f}.")


def _entropy_example() -> str:
    n = 4
    flat = np.full((1, 1, n, n), 1 / n, dtype=np.float32)
    sharp = np.tile(np.array([0.97, 0.01, 0.01, 0.01], dtype=np.float32), (1, 1, n, 1))
    none = np.zeros(n, dtype=bool)
    e_flat = float(statistics.head_statistics(flat, none, none)["entropy_norm"].iloc[0])
    e_sharp = float(statistics.head_statistics(sharp, none, none)["entropy_norm"].iloc[0])
    return (f"Rows spread evenly over 4 tokens have entropy {e_flat:.2f} (as spread as possible); rows putting 0.97 "
            f"on one token have {e_sharp:.2f}.")


def _sink_example() -> str:
    n = 4
    causal = np.array([[1.0, 0.0, 0.0, 0.0],
                       [0.9, 0.1, 0.0, 0.0],
                       [0.8, 0.1, 0.1, 0.0],
                       [0.7, 0.1, 0.1, 0.1]], dtype=np.float32)[None, None]
    none = np.zeros(n, dtype=bool)
    row = statistics.head_statistics(causal, none, none, causal=True).iloc[0]
    return (f"A causal head whose rows give the first token 0.9, 0.8, 0.7: a first-token share of "
            f"{row['first_token_share']:.2f}, {row['sink_ratio']:.1f} times what even attention would give.")


def _rollout_example() -> str:
    att = np.array([[[[0.0, 1.0], [0.0, 1.0]]],    # layer 0: both tokens look at token 1
                    [[[1.0, 0.0], [1.0, 0.0]]]],   # layer 1: both look at token 0
                   dtype=np.float32)
    r = lenses.rollout(att)[-1]
    return (f"Layer 0 sends everything to token 1, layer 1 everything to token 0. With the residual path, rollout "
            f"says token 0 ends up with {r[0, 0]:.2f} from input 0 and {r[0, 1]:.2f} from input 1: not the 1.00 "
            "the last layer alone suggests.")


def _flow_example() -> str:
    att = np.array([[[[0.0, 1.0], [0.0, 1.0]]],
                    [[[1.0, 0.0], [1.0, 0.0]]]], dtype=np.float32)
    f = lenses.attention_flow(att, 0)
    return (f"On the same two layers, flow from token 0 at the top reaches input 0 with {f[0]:.2f} and input 1 "
            f"with {f[1]:.2f}: it follows the widest paths instead of multiplying every path.")


def _norm_example() -> str:
    weights = np.array([0.6, 0.4])
    norms = np.array([0.5, 2.0])
    moved = weights * norms
    share = moved / moved.sum()
    return (f"[SEP] gets weight {weights[0]:.1f} but its vector is short ({norms[0]:.1f}); ‘cat’ gets "
            f"{weights[1]:.1f} with a long one ({norms[1]:.1f}). Weight × length: [SEP] {share[0]:.0%}, ‘cat’ "
            f"{share[1]:.0%} of what actually moves.")


def _categories_example() -> str:
    toks = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    avg = np.array([[0.2, 0.2, 0.2, 0.2, 0.2],
                    [0.1, 0.1, 0.6, 0.1, 0.1],
                    [0.1, 0.6, 0.1, 0.1, 0.1],
                    [0.1, 0.1, 0.1, 0.1, 0.6],
                    [0.6, 0.1, 0.1, 0.1, 0.1]], dtype=np.float32)
    special = np.array([True, False, False, False, True])
    conns = patterns.categorise_connections(avg, toks, special, threshold=0.5, mode="absolute")
    parts = "; ".join(f"‘{r.from_token}’ → ‘{r.to_token}’ {r.category}" for r in conns.itertuples())
    return f"Connections above 0.5 in a toy layer: {parts}."


def _classes_example() -> str:
    stats = pd.DataFrame({"vertical_score": [0.8, 0.1, 0.2], "diagonal_score": [0.1, 0.7, 0.2],
                          "block_score": [np.nan, np.nan, np.nan]})
    labels = patterns.classify_patterns(stats).tolist()
    return (f"A head with 0.8 of its attention on [CLS]/[SEP] is ‘{labels[0]}’; one with 0.7 on its neighbours is "
            f"‘{labels[1]}’; one with neither is ‘{labels[2]}’.")


def _template_example() -> str:
    att = np.array([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.7, 0.2]], dtype=np.float32)[None, None]
    previous = patterns.make_templates(3)["previous"]
    score = float(patterns.template_scores(att, {"previous": previous})["previous"].iloc[0])
    return (f"A head whose rows give the previous token 0.8 and 0.7 (and row 0 has no previous token) scores "
            f"{score:.2f} on the ‘previous token’ template: {score:.0%} of all its attention is on that pattern.")


def _causal_example() -> str:
    return "In ‘the cat sat’ a causal model lets ‘cat’ look at ‘the’ and itself, but not at ‘sat’ (still unseen)."


def _probing_example() -> str:
    followed, words = 3, 4
    return (f"If, for {followed} of {words} words, a head's strongest attention lands on the word's parent in the "
            f"parse, it follows that relation {followed / words:.0%} of the time.")


def _output_example() -> str:
    fills = _softmax(np.array([2.0, 1.0, 0.0]))
    return (f"For ‘the cat sat on the [MASK]’ a masked-word model might give mat {fills[0]:.0%}, rug {fills[1]:.0%}, "
            f"floor {fills[2]:.0%}: its output is these probabilities over its whole vocabulary.")


def _ablation_example() -> str:
    before, after = np.array([0.7, 0.2, 0.1]), np.array([0.4, 0.4, 0.2])
    kl = float(np.sum(before * np.log(before / after)))
    return (f"If switching one head off moves the top guess from {before[0]:.0%} to {after[0]:.0%}, the prediction "
            f"moved by a KL divergence of {kl:.2f}: that sentence needed the head a little.")


def _attribution_example() -> str:
    drops = {"cat": 0.9, "sat": 0.3, "the": 0.05}
    best = max(drops, key=drops.get)
    return ("Blank-out: replace each word by [MASK] and measure how much the output drops: "
            + ", ".join(f"{w} {d:.2f}" for w, d in drops.items()) + f". ‘{best}’ matters most.")


def _faithfulness_example() -> str:
    lens, needed = np.array([0.5, 0.3, 0.2]), np.array([0.9, 0.05, 0.3])
    ranks = [np.argsort(np.argsort(v)) for v in (lens, needed)]
    rho = float(np.corrcoef(*ranks)[0, 1])
    return (f"A lens ranks three words 1, 2, 3 and blank-out ranks them 1, 3, 2: the rank correlation is {rho:.2f}, "
            "so the lens agrees only partly with what the output needs.")


def _js_example() -> str:
    p = np.array([[1.0, 0.0]])
    q = np.array([[0.0, 1.0]])
    return (f"Two rows looking at the same token differ by {float(statistics.jensen_shannon(p, p)[0]):.2f}; two "
            f"rows looking at different tokens by {float(statistics.jensen_shannon(p, q)[0]):.2f}, the most "
            "possible (ln 2).")


TOY_NEXT = ("mat", "rug", "floor", "moon")  # a toy vocabulary for the next token
_TOY_LOGITS = np.array([2.0, 1.5, 1.0, 0.0])  # the model's scores for them, most probable first
# core.generate is a peer layer, so these follow docs/methods.md's Sampling with numpy directly.


def _kept(probs: np.ndarray, k: int | None = None, p: float | None = None) -> np.ndarray:
    """Top-k or top-p of probabilities sorted most probable first, renormalised (0 = not kept)."""
    n = k if k is not None else int(np.searchsorted(np.cumsum(probs), p - 1e-12)) + 1
    out = np.where(np.arange(probs.size) < n, probs, 0.0)
    return out / out.sum()


def _temperature_example() -> str:
    at = {t: _softmax(_TOY_LOGITS / t)[0] for t in (0.5, 1.0, 2.0)}
    return (f"Scores 2, 1.5, 1, 0 for {', '.join(TOY_NEXT)} give ‘mat’ {at[1.0]:.0%} at temperature 1, "
            f"{at[0.5]:.0%} at 0.5 (sharper) and {at[2.0]:.0%} at 2 (flatter).")


def _sampling_example() -> str:
    k2 = _kept(_softmax(_TOY_LOGITS), k=2)
    p8 = _kept(_softmax(_TOY_LOGITS), p=0.8)
    kept = [t for t, v in zip(TOY_NEXT, p8) if v > 0]
    return (f"With the same scores at temperature 1, top-k with k = 2 draws ‘mat’ {k2[0]:.0%} and ‘rug’ {k2[1]:.0%} of "
            f"the time; top-p with p = 0.8 keeps {', '.join(kept)} ({len(kept)} tokens) and never draws ‘moon’.")


def _seed_example() -> str:
    cum = np.cumsum(_kept(_softmax(_TOY_LOGITS), k=3))

    def draws(seed: int) -> str:
        us = [np.random.default_rng(np.random.SeedSequence([seed, step])).random() for step in range(3)]
        return ", ".join(TOY_NEXT[int(np.searchsorted(cum, u * cum[-1], side="right"))] for u in us)
    return (f"Three top-k draws from the same scores: seed 0 gives {draws(0)}, every time; seed 2 gives "
            f"{draws(2)}.")


def _kv_cache_example() -> str:
    return ("At token 129 the model computes only that token's query, key and value and compares the query with "
            "the 128 kept keys and its own, instead of reading the 128 earlier tokens again. Rewinding to step 3 keeps the cache "
            "of the prompt and the first 3 tokens.")


def _encoder_decoder_example() -> str:
    return ("English to German: the encoder reads ‘the cat sat’ in both directions; the decoder writes ‘die Katze "
            "saß’ one token at a time, each time looking back at its own tokens and at the encoder's source.")


TOY_SOURCE = ("the", "cat", "sat", "</s>")
_TOY_CROSS_SCORES = np.array([0.2, 2.5, 0.4, 0.1])  # what the target token 'Katze' scores each source token


def _cross_attention_example() -> str:
    w = _softmax(_TOY_CROSS_SCORES)
    parts = ", ".join(f"‘{t}’ {v:.2f}" for t, v in zip(TOY_SOURCE, w))
    return f"The target token ‘Katze’ spreads its cross-attention over the source as {parts}: mostly on ‘cat’."


TERMS: tuple[Term, ...] = (
    Term("attention", "Attention (weight)",
         "How much one token looks at another when the model builds its next picture of the sentence. For each "
         "token, the weights over all tokens add up to 1.", _attention_example,
         "softmax(Q Kᵀ / √d) for one head: scores are turned into shares that sum to 1.", "attention-weights"),
    Term("token", "Token",
         "A piece of text the model knows: a whole word, part of a word, or punctuation.", _token_example,
         "The model's tokenizer splits the text; rare words become several pieces.", "conventions"),
    Term("special_tokens", "Special tokens",
         "Markers the tokenizer adds that are not in your text, such as [CLS] at the start and [SEP] at the end "
         "(<s> and </s> in other models).", _special_example,
         "Marked by the tokenizer's special-tokens mask.", "token-sets"),
    Term("query", "Query",
         "The token that is looking: one row of a heatmap. ‘Attending from’.", _query_example,
         "Row i of A[l, h]: how query i spreads its attention.", "conventions"),
    Term("key", "Key",
         "A token being looked at: one column of a heatmap. ‘Attending to’.", _key_example,
         "Column j of A[l, h]; the query's vector is compared with each key's vector.", "conventions"),
    Term("head", "Head",
         "One attention pattern. Each layer has several heads working side by side, each with its own habits. "
         "Head numbers are only positions in their layer: ‘head 5’ of two layers are unrelated.", _head_example,
         "A[l, h] is an n × n table per layer l and head h.", "conventions"),
    Term("layer", "Layer",
         "One round of reading the sentence. Each layer's heads look at what the layer below produced, so higher "
         "layers see already-mixed tokens.", _layer_example,
         "Layers and heads are numbered from 0 here; papers often count from 1.", "conventions"),
    Term("head_average", "Layer average",
         "The mean of all heads of one layer: a summary in which a special head can disappear.",
         _head_average_example, "mean over h of A[l, h].", "head-average"),
    Term("causal", "Causal model (masking)",
         "A model that writes text left to right (such as GPT-2): each token may only look at itself and earlier "
         "tokens. The hidden cells are masked, not zero attention.", _causal_example,
         "allowed[i, j] = (j ≤ i).", "causal-masking"),
    Term("entropy", "Entropy",
         "How spread out a token's attention is: 1 means evenly over every token, 0 means all on one token.",
         _entropy_example, "−Σ A ln A per row, divided by ln(number of keys the row may see).", "entropy"),
    Term("sink", "Attention sink",
         "A token that collects far more attention than its meaning would suggest, often the first token or [SEP]; "
         "heads with nothing to do park their attention there.", _sink_example,
         "First-token share against what uniform attention would give (Xiao et al. 2024).", "first-token-share"),
    Term("rollout", "Attention rollout",
         "Follows attention back through all layers (with the shortcut each layer keeps to its own input) to "
         "estimate how much each input token contributes to a token higher up.", _rollout_example,
         "Â = 0.5·(layer average) + 0.5·I per layer, multiplied through the layers (Abnar & Zuidema 2020).",
         "rollout"),
    Term("flow", "Attention flow",
         "Like rollout, but treats the layers as pipes and asks how much can flow from a token at the top to each "
         "input token.", _flow_example, "Maximum flow through the layered graph of Â (Abnar & Zuidema 2020).",
         "attention-flow"),
    Term("norm_based", "Norm-based attention",
         "Weight alone ignores how much a token actually passes on. Multiplying the weight by the size of what "
         "the token sends shows that [CLS], [SEP] and punctuation often pass on very little.", _norm_example,
         "A[i, j] · ‖f(x_j)‖ with f the value and output projection (Kobayashi et al. 2020).", "norm-based-attention"),
    Term("pattern_categories", "Pattern categories (the notebook's)",
         "The notebook's four bins for strong connections: positional (next to each other), special token, "
         "syntactic (from ‘the’, ‘a’, ‘an’) and semantic (whatever is left).", _categories_example,
         "Checked in that order; ‘strong’ means above a threshold (the app prefers a multiple of uniform 1/n).",
         "tutorial-categories"),
    Term("pattern_classes", "Pattern classes",
         "Five shapes a whole head can have (Kovaleva et al. 2019): vertical (stripes on [CLS]/[SEP]), diagonal "
         "(neighbours), both, block (within one sentence of a pair) and heterogeneous (none of these).",
         _classes_example, "A transparent rule on the share to [CLS]/[SEP] (V) and to |i − j| ≤ 1 (D).",
         "pattern-classes"),
    Term("template_score", "Template score",
         "How much of a head's attention falls on a fixed pattern, such as ‘the previous token’ or ‘[SEP]’.",
         _template_example, "Σ(A · P) / Σ A for a 0/1 template P (TransformerLens' head detector).",
         "template-scores"),
    Term("word_merge", "Word merge",
         "Joins a word's pieces back into one word: attention to the word is the sum over its pieces, attention "
         "from it the mean, so rows still add up to 1.", _word_merge_example,
         "Columns: sum over pieces; rows: mean over pieces (Clark et al. 2019, §4.1).", "word-merge"),
    Term("jensen_shannon", "Jensen-Shannon divergence",
         "How different two attention rows are: 0 when identical, 0.69 when they look at completely different "
         "tokens.", _js_example, "JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, in nats.",
         "jensen-shannon-divergence"),
    Term("model_output", "Model output",
         "What the model itself produces: a masked-word model ranks every word of its vocabulary for a [MASK], a "
         "causal model ranks every token as the next one, and a sentence model turns the text into one vector (its "
         "embedding), which is compared with another text's by cosine similarity.", _output_example,
         "softmax of the logits at the masked or next position; mean-pooled, unit-length embedding.", "model-outputs"),
    Term("ablation", "Switching a head off (ablation)",
         "Replace one head's output by zeros (zero ablation) or by its average output (mean ablation) and watch the "
         "model's output: how far it moves says how much this sentence needed the head.", _ablation_example,
         "Each head's context vector is replaced before the layer's output projection; change = KL divergence.",
         "head-ablation"),
    Term("attribution", "Attribution",
         "How much each input word matters to the output, measured on the output itself: by its gradient, by "
         "integrated gradients, or by blanking the word out (replacing it by [MASK]) and seeing how far the output "
         "drops.", _attribution_example,
         "gradient × input, integrated gradients (Sundararajan et al. 2017), blank-out (Abnar & Zuidema 2020).",
         "token-attribution"),
    Term("faithfulness", "Faithfulness",
         "How well a lens's ranking of the words agrees with what the output depends on (blank-out or gradients), as "
         "a rank correlation: 1 = the same order, 0 = unrelated.", _faithfulness_example,
         "Spearman's rank correlation per sentence, averaged over a corpus (Abnar & Zuidema 2020).", "faithfulness"),
    Term("probing", "Probing (syntax)",
         "Checks a head against a parser: does its strongest attention from a word land on the word the parser "
         "links it to (its parent)?", _probing_example,
         "Accuracy per relation, against the best fixed offset as a baseline (Clark et al. 2019)."),
    Term("temperature", "Temperature",
         "Divides the model's scores for the next token before they become probabilities: below 1 makes the most "
         "probable tokens more likely still, above 1 spreads the chance over more tokens. Greedy choice ignores it.",
         _temperature_example, "p = softmax(z / T) over the logits z of the next token.", "sampling"),
    Term("sampling", "Top-k and top-p sampling",
         "Ways of choosing the next token. Greedy always takes the most probable one. Top-k draws at random among "
         "the k most probable; top-p (nucleus) draws among the fewest most probable tokens whose probabilities "
         "together reach p. Either way the kept probabilities are scaled up to sum to 1.", _sampling_example,
         "Keep the k most probable, or the shortest most-probable-first prefix reaching p; renormalise.",
         "sampling"),
    Term("seed", "Seed",
         "The number that fixes a random draw. The same seed, settings and text always draw the same tokens, so a "
         "link replays the same generation; another seed draws differently.", _seed_example,
         "Step i draws u uniform in [0, 1) from a generator seeded by (seed, i).", "sampling"),
    Term("kv_cache", "KV cache (and rewinding)",
         "While generating, the model keeps the keys and values it has already computed for earlier tokens, so each "
         "new token costs one token's work. Rewinding keeps the first steps and their cache; since each step's "
         "draw depends only on the seed, the step number and the text so far, stepping on draws the same tokens "
         "again.", _kv_cache_example,
         "One forward pass per new token over the cached keys and values (Hugging Face's DynamicCache).",
         "the-kv-cache"),
    Term("encoder_decoder", "Encoder-decoder model",
         "A model in two parts, as used for translation (MarianMT, T5): the encoder reads the whole source text, "
         "every token looking both ways; the decoder writes the target left to right, like a causal model, and "
         "looks at the encoder's reading through cross-attention.", _encoder_decoder_example,
         "Encoder self-attention [S, S], decoder self-attention [T, T] (causal), cross-attention [T, S].",
         "encoder-decoder-attention"),
    Term("cross_attention", "Cross-attention",
         "The decoder's attention over the source: each target token's weights over the source tokens, adding up "
         "to 1. It is where a translation model looks at what it translates, and a rough guide to which words "
         "correspond.", _cross_attention_example,
         "Rows are decoder positions (queries), columns source tokens (keys): C[l, h] is T × S.",
         "encoder-decoder-attention"),
)

BY_ID: dict[str, Term] = {t.id: t for t in TERMS}


def term(term_id: str) -> Term:
    return BY_ID[term_id]
