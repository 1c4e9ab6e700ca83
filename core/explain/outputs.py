"""What the model outputs for a text, and the one score every method in core.explain explains.

Three kinds of output (`LoadedModel.kind`):
- "masked" (DistilBERT, BERT, RoBERTa, the multilingual ones): the target word's pieces are
  replaced by the mask token; the output is softmax(logits) over the vocabulary at each masked
  position (the first one is the focus: its top-k, the original piece's probability and rank).
- "causal" (GPT-2, DistilGPT-2): softmax(logits) at position i is the next-token distribution
  after token i.
- "embedding" (all-MiniLM-L6-v2, no MLM head): e = normalise(mean of the last hidden states over
  the non-padding tokens), its documented pooling; with a second text, the cosine between the
  two embeddings.

The score F (docs/methods.md, section "The score each method explains"): log p(target token)
at the focus for language models; for embeddings, cos(e, e_pair) with a second text, else
cos(e, e_0) for interventions and blank-out and the projection <p, e_0> / ||p_0|| (p: the
pooled vector before normalising) for gradients, because cos(e, e_0) is at its maximum at the
text itself and its gradient there is zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.tokens import punctuation_mask
from core.explain.errors import NoOutputHeadError, NothingLeftError, OutOfRangeError, SpecialTokenError
from core.explain.hooks import model_inputs, private_forward, run
from core.explain.inputs import Sentence, blank_token_id, prepare
from core.models.loading import LoadedModel
from core.models.tokens import display_tokens

DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class Target:
    """Which output to read and explain. Leave fields None for the defaults."""

    word: int | None = None  # masked LM: index into Sentence.words of the word to mask (default: the last word that is not punctuation)
    position: int | None = None  # causal LM: token position whose next-token prediction is read (default: the token before the last word)
    token_id: int | None = None  # token whose log-probability is F (default: the original piece / the actual next token / the top prediction)
    compare_to: str | None = None  # embedding: a second text; F is the cosine to its embedding


@dataclass(frozen=True, eq=False)
class Problem:
    """A text and a Target resolved to positions and ids, plus the unedited output. Read-only arrays."""

    kind: str  # "masked" | "causal" | "embedding"
    sentence: Sentence  # the text as typed
    input_ids: np.ndarray  # int64 [n]: as run (masked LM: the target word's pieces are the mask token)
    focus: int  # token position whose output is read (-1 for embeddings: every position is pooled)
    masked_positions: tuple[int, ...]  # masked LM: the positions replaced by the mask token
    target_word: int | None  # masked LM: the masked word; causal: the word of the predicted token (if in the text)
    target_id: int | None  # the token whose log-probability is F (language models)
    log_probs: np.ndarray | None  # float32 [vocab]: log p at the focus, unedited (language models)
    embedding: np.ndarray | None  # float32 [hidden]: unit embedding e_0, unedited (embeddings)
    pooled_norm: float  # ||p_0||, the pooled vector's length before normalising (embeddings), else 0
    pair_embedding: np.ndarray | None  # float32 [hidden]: the second text's unit embedding, or None
    attention: np.ndarray  # float32 [layers, heads, n, n] of the input as run
    hidden_states: np.ndarray | None = None  # float32 [layers + 1, n, hidden]: only when resolve(hidden=True)

    @property
    def candidate_words(self) -> np.ndarray:
        """int [k]: words attribution and blank-out score (not special, not the masked word)."""
        words = self.sentence.content_words()
        if self.kind == "masked" and self.target_word is not None:
            words = words[words != self.target_word]
        if self.kind == "causal":  # the future cannot matter to a causal prediction
            words = np.asarray([w for w in words if self.sentence.word_tokens[w][0] <= self.focus], dtype=np.int64)
        return words


@dataclass(frozen=True, eq=False)
class TokenPrediction:
    """The top-k of one distribution over the vocabulary. Read-only arrays."""

    position: int
    token_ids: np.ndarray  # int64 [k], most probable first
    tokens: tuple[str, ...]  # [k] readable
    probabilities: np.ndarray  # float32 [k]
    target_id: int | None  # the original piece (masked) or the actual next token (causal), if any
    target_token: str | None
    target_probability: float  # nan without a target
    target_rank: int  # 1 = most probable; 0 without a target


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """What the model outputs for a text (kind decides which fields are set)."""

    problem: Problem
    predictions: tuple[TokenPrediction, ...]  # masked: one per masked piece; causal: the focus; embedding: ()
    embedding: np.ndarray | None  # float32 [hidden], unit length (embeddings)
    cosine: float | None  # cosine to Target.compare_to (embeddings with a second text)

    @property
    def kind(self) -> str:
        return self.problem.kind


def _ro(*arrays: np.ndarray | None) -> None:
    for a in arrays:
        if a is not None and a.flags.writeable:
            a.setflags(write=False)


WHAT_IT_IS_FOR = {
    "masked": "It was trained to fill in hidden words: cover a word with [MASK] and it ranks every word of "
              "its vocabulary by how well it fits. Those probabilities are its output here.",
    "causal": "It was trained to continue text: after each token it ranks every token of its vocabulary as "
              "the next one. Those probabilities are its output here.",
    "embedding": "It was trained to turn a sentence into one vector (its embedding) so that sentences with "
                 "similar meaning get similar vectors, for semantic search and clustering. It has no "
                 "word-prediction head: its output is the embedding (the mean of its last layer's token "
                 "vectors, scaled to length 1), and comparing two texts gives their cosine similarity "
                 "(1 = same direction, 0 = unrelated).",
    "none": "Its checkpoint holds only the encoder, without an output layer, so there is no prediction to "
            "show; the attention views still work.",
}


def what_it_is_for(loaded: LoadedModel) -> str:
    """One plain paragraph: what this model's output is (for the page's header)."""
    return WHAT_IT_IS_FOR.get(loaded.kind, WHAT_IT_IS_FOR["none"])


def require_kind(loaded: LoadedModel, wanted: str = "an output") -> str:
    if loaded.kind == "none" or (loaded.kind in ("masked", "causal") and loaded.lm is None):
        raise NoOutputHeadError(loaded.info.model_id, loaded.kind, wanted)
    return loaded.kind


def _last_word(sentence: Sentence) -> int:
    words = sentence.content_words()
    if not len(words):
        raise NothingLeftError("target")
    punct = punctuation_mask(list(sentence.words))
    plain = [w for w in words if not punct[w]]
    return int((plain or list(words))[-1])


def pooled(hidden: Any, mask: Any) -> Any:
    """Mean of the last hidden states over non-padding tokens: [B, n, d], [B, n] -> [B, d]."""
    m = mask.to(hidden.dtype)[..., None]
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)


def unit(x: Any) -> Any:
    import torch

    return torch.nn.functional.normalize(x, p=2, dim=-1)


def embed_texts(loaded: LoadedModel, texts: list[str], max_tokens: int | None = None) -> np.ndarray:
    """Unit sentence embeddings [len(texts), hidden] (mean pooling, then L2 normalisation)."""
    import torch

    out = []
    for text in texts:
        s = prepare(loaded, text, None, max_tokens)
        ids = torch.tensor(s.input_ids)[None]
        types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
        with private_forward(loaded, work_tokens=s.n_tokens):
            inputs = model_inputs(loaded, ids, types)
            h = loaded.model(**inputs, return_dict=True).last_hidden_state
            out.append(unit(pooled(h, inputs["attention_mask"]))[0].float().cpu().numpy())
    return np.stack(out)


def resolve(loaded: LoadedModel, text: str, target: Target | None = None, *, text_pair: str | None = None,
            max_tokens: int | None = None, hidden: bool = False) -> Problem:
    """Tokenise, place the target, run the unedited forward once. Raises a typed error for bad input.

    `hidden`: keep the hidden states too (the norm-based lens then needs no second forward)."""
    import torch

    target = target or Target()
    kind = require_kind(loaded)
    s = prepare(loaded, text, text_pair, max_tokens)
    ids = s.input_ids.copy()
    focus, masked, target_word, target_id = -1, (), None, target.token_id
    if kind == "masked":
        word = _last_word(s) if target.word is None else int(target.word)
        if not 0 <= word < s.n_words:
            raise OutOfRangeError("word", word, s.n_words)
        if s.word_special[word]:
            raise SpecialTokenError(s.words[word])
        masked = s.word_tokens[word]
        focus, target_word = masked[0], word
        target_id = int(s.input_ids[focus]) if target_id is None else target_id
        ids[list(masked)] = blank_token_id(loaded)
    elif kind == "causal":
        if target.position is None:
            last = _last_word(s)
            focus = max(s.word_tokens[last][0] - 1, 0)
        else:
            focus = int(target.position)
        if not 0 <= focus < s.n_tokens:
            raise OutOfRangeError("token position", focus, s.n_tokens)
        if focus + 1 < s.n_tokens:
            target_word = int(s.word_of_token[focus + 1])
            target_id = int(s.input_ids[focus + 1]) if target_id is None else target_id
    if target_id is not None and not 0 <= target_id < loaded.info.vocab_size:
        raise OutOfRangeError("token id", target_id, loaded.info.vocab_size)
    pair_embedding = None
    if kind == "embedding" and target.compare_to is not None and target.compare_to.strip():
        pair_embedding = embed_texts(loaded, [target.compare_to], max_tokens)[0]
    t_ids = torch.tensor(ids)[None]
    types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
    with private_forward(loaded, work_tokens=s.n_tokens):
        inputs = model_inputs(loaded, t_ids, types)
        out = run(loaded, inputs, attentions=True, hidden=hidden)
        attention = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
        states = torch.stack([h[0] for h in out.hidden_states]).float().cpu().numpy() if hidden else None
        log_probs = embedding = None
        norm = 0.0
        if kind == "embedding":
            p = pooled(out.last_hidden_state, inputs["attention_mask"])
            norm = float(p.norm())
            embedding = unit(p)[0].float().cpu().numpy()
        else:
            log_probs = torch.log_softmax(out.logits[0, focus].float(), dim=-1).cpu().numpy()
            if target_id is None:  # the last position of a causal text: explain its top prediction
                target_id = int(np.argmax(log_probs))
    _ro(ids, attention, log_probs, embedding, pair_embedding, states)
    return Problem(kind=kind, sentence=s, input_ids=ids, focus=focus, masked_positions=tuple(masked),
                   target_word=target_word, target_id=target_id, log_probs=log_probs, embedding=embedding,
                   pooled_norm=norm, pair_embedding=pair_embedding, attention=attention, hidden_states=states)


def top_predictions(loaded: LoadedModel, log_probs: np.ndarray, position: int, k: int, target_id: int | None) -> TokenPrediction:
    """The k most probable tokens of one log-probability vector [vocab], with the target's rank."""
    lp = np.asarray(log_probs, dtype=np.float64)
    k = max(1, min(int(k), lp.shape[0]))
    best = np.argpartition(-lp, k - 1)[:k]
    best = best[np.argsort(-lp[best], kind="stable")]
    probs = np.exp(lp[best]).astype(np.float32)
    shown = best.tolist() + ([] if target_id is None else [int(target_id)])
    with loaded.lock:  # reads of the shared tokenizer
        raw = loaded.tokenizer.convert_ids_to_tokens(shown)
        special = [i in set(loaded.tokenizer.all_special_ids) for i in shown]
        labels = display_tokens(loaded.tokenizer, raw, special, tuple(range(len(raw))))
    tokens = tuple(labels[:k])
    target_token = None if target_id is None else labels[-1]
    rank = 0 if target_id is None else int((lp > lp[target_id]).sum()) + 1
    prob = float("nan") if target_id is None else float(np.exp(lp[target_id]))
    ids = best.astype(np.int64)
    _ro(ids, probs)
    return TokenPrediction(position=position, token_ids=ids, tokens=tokens, probabilities=probs,
                           target_id=target_id, target_token=target_token, target_probability=prob,
                           target_rank=rank)


def predict(loaded: LoadedModel, text: str, target: Target | None = None, *, top_k: int = DEFAULT_TOP_K,
            text_pair: str | None = None, max_tokens: int | None = None) -> ModelOutput:
    """The model's output for `text`: masked-word fills, next-token top-k, or the embedding.

    Raises NoOutputHeadError (a model without an output head), OutOfRangeError (a word or
    position outside the text), SpecialTokenError (masking [CLS]), EmptyTextError.
    """
    import torch

    problem = resolve(loaded, text, target, text_pair=text_pair, max_tokens=max_tokens)
    predictions: list[TokenPrediction] = []
    if problem.kind == "masked" and len(problem.masked_positions) == 1:
        predictions.append(top_predictions(loaded, problem.log_probs, problem.focus, top_k, problem.target_id))
    elif problem.kind == "masked":
        s = problem.sentence
        ids = torch.tensor(problem.input_ids)[None]
        types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
        with private_forward(loaded, work_tokens=s.n_tokens):
            logits = run(loaded, model_inputs(loaded, ids, types)).logits[0]
            rows = torch.log_softmax(logits[list(problem.masked_positions)].float(), dim=-1).cpu().numpy()
        for pos, lp in zip(problem.masked_positions, rows):
            predictions.append(top_predictions(loaded, lp, pos, top_k, int(s.input_ids[pos])))
        if problem.target_id != int(s.input_ids[problem.focus]):
            predictions[0] = top_predictions(loaded, rows[0], problem.focus, top_k, problem.target_id)
    elif problem.kind == "causal":
        predictions.append(top_predictions(loaded, problem.log_probs, problem.focus, top_k, problem.target_id))
    cosine = None
    if problem.pair_embedding is not None:
        cosine = float(np.dot(problem.embedding, problem.pair_embedding))
    return ModelOutput(problem=problem, predictions=tuple(predictions), embedding=problem.embedding, cosine=cosine)


def next_token_distribution(loaded: LoadedModel, text: str, position: int) -> np.ndarray:
    """float32 [vocab]: p(next token | tokens 0..position), causal models only."""
    if require_kind(loaded, "next-token predictions") != "causal":
        raise NoOutputHeadError(loaded.info.model_id, loaded.kind, "next-token predictions")
    problem = resolve(loaded, text, Target(position=position))
    return np.exp(problem.log_probs.astype(np.float64)).astype(np.float32)


# --- scores on a batch of outputs (torch; used by interventions, importance, attribution) ----

def focus_log_probs(problem: Problem, out: Any) -> Any:
    """[B, vocab] log-probabilities at the focus of a batch (language models)."""
    import torch

    return torch.log_softmax(out.logits[:, problem.focus].float(), dim=-1)


def batch_embedding(out: Any, mask: Any) -> tuple[Any, Any]:
    """(pooled [B, d], unit [B, d]) from an encoder output."""
    p = pooled(out.last_hidden_state.float(), mask)
    return p, unit(p)


def value_score(problem: Problem, out: Any, mask: Any) -> Any:
    """F [B] for interventions and blank-out: log p(target) / cos to the pair / cos to e_0."""
    import torch

    if problem.kind != "embedding":
        return focus_log_probs(problem, out)[:, problem.target_id]
    _, e = batch_embedding(out, mask)
    ref = problem.pair_embedding if problem.pair_embedding is not None else problem.embedding
    return e @ torch.tensor(ref, device=e.device)


def gradient_score(problem: Problem, out: Any, mask: Any) -> Any:
    """F [B] for gradients: as value_score, except the projection <p, e_0>/||p_0|| for an
    embedding without a second text (cos(e, e_0) has zero gradient at the text itself)."""
    import torch

    if problem.kind != "embedding" or problem.pair_embedding is not None:
        return value_score(problem, out, mask)
    p, _ = batch_embedding(out, mask)
    return p @ torch.tensor(problem.embedding, device=p.device) / problem.pooled_norm
