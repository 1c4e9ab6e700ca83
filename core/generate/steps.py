"""Generation one token at a time, with the KV cache: `generate`, `extend`, `replay`, rewind.

Step i (0-based) takes the newest token of the context (for step 0 the prompt's last token),
runs it through the model ONCE with the keys and values of everything before it (the KV cache:
the prompt is one forward pass, each later token one incremental pass over a single position),
reads the next-token logits and that token's attention over every earlier position, and chooses
the next token (core.generate.sampling; step i's draw is seeded by (seed, i)). So a generation is
a pure function of (model, prompt, settings, number of steps): `replay` recomputes it exactly,
`Generation.rewind` is a truncation, and stepping on from a rewound generation gives the same
tokens as a replay. Attention rows of a causal model never change when tokens are appended, so
the prompt's matrix plus each step's row is the full matrix of the text (`attention_matrix`).

The model is shared: every forward runs under `loaded.lock`; nothing is stored on the model.
A `Generation` is frozen and shared between sessions; its cache tensors are never written to
(a forward pass appends by concatenation, which makes new tensors).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.attention.extract import cpu_threads_for
from core.attention.result import DEFAULT_MAX_TOKENS
from core.errors import EmptyTextError
from core.generate.errors import CannotGenerateError, PromptTooLongError, TooManyStepsError
from core.generate.sampling import choose, top_candidates
from core.generate.settings import MAX_STEPS, Settings
from core.models.loading import LoadedModel
from core.models.tokens import display_tokens, visible

SHOWN_CANDIDATES = 10  # candidates kept per step (at least k for top-k)
# A prompt must have fewer tokens than this (and than the model's positions): the attention
# pages' own limit, which also bounds the prompt's attention matrix each generation keeps.
MAX_PROMPT_TOKENS = DEFAULT_MAX_TOKENS
END_OF_TEXT = "end of text"


@dataclass(frozen=True)
class Candidate:
    token_id: int
    label: str  # the token as text, a leading space shown as ␣
    prob: float  # softmax(logits / T): the model's probability at this temperature (T = 1 for greedy)
    kept_prob: float  # probability in the distribution the choice is drawn from (0 when cut by top-k/top-p)


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Step:
    index: int  # 0-based
    query_position: int  # position of the token whose output chose this step (= context length - 1)
    candidates: tuple[Candidate, ...]  # most probable first
    chosen_id: int
    chosen_label: str
    chosen_prob: float  # kept_prob of the chosen token (1.0 for greedy)
    attention: np.ndarray  # [layers, heads, query_position + 1] float32, read-only: the query's row


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Generation:
    """A prompt and the steps taken from it. Build with `generate` / `replay`; shared, frozen."""

    model_id: str
    prompt: str
    settings: Settings
    prompt_ids: tuple[int, ...]
    prompt_attention: np.ndarray  # [layers, heads, P, P] float32, read-only
    steps: tuple[Step, ...]
    labels: tuple[str, ...]  # display label of every token (prompt + chosen)
    texts: tuple[str, ...]  # the decoded text after 0, 1, ..., n steps
    max_positions: int  # tokens a text may reach (the model's positions, at most MAX_PROMPT_TOKENS)
    eos_id: int | None
    # How to step on: the prompt's last logits, and at most one (tensors, cache object) pair
    # holding the keys and values of the positions fed so far ((key, value) per layer,
    # [1, heads, positions, head_dim]): the whole prompt before step 1, then every token but the
    # newest (which the next step feeds). The first extension TAKES them (no copy), so only the
    # newest generation of a chain holds a cache; extending one without it first recomputes the
    # cache exactly (`_rebuild`: the same forward passes again).
    _prompt_logits: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    _kv: list = field(default_factory=list, repr=False)

    @property
    def ids(self) -> tuple[int, ...]:
        return self.prompt_ids + tuple(s.chosen_id for s in self.steps)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def text(self) -> str:
        """Prompt + generated text: a text like any other (the attention pages take it)."""
        return self.texts[-1]

    @property
    def generated_text(self) -> str:
        return self.texts[-1][len(self.texts[0]):] if self.texts[-1].startswith(self.texts[0]) else self.texts[-1]

    @property
    def stopped(self) -> str:
        """Why no further step is possible ("" while one is): the end-of-text token, the token
        limit, or the cap of MAX_STEPS steps."""
        if self.steps and self.eos_id is not None and self.steps[-1].chosen_id == self.eos_id:
            return END_OF_TEXT
        if len(self.ids) >= self.max_positions:
            return f"the limit of {self.max_positions} tokens"
        if self.n_steps >= MAX_STEPS:
            return f"the cap of {MAX_STEPS} steps"
        return ""

    @property
    def num_layers(self) -> int:
        return int(self.prompt_attention.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.prompt_attention.shape[1])

    def rewind(self, n_steps: int) -> "Generation":
        """The same generation after its first `n_steps` steps (0: the prompt alone)."""
        n = max(0, min(int(n_steps), self.n_steps))
        if n == self.n_steps:
            return self
        keep = len(self.prompt_ids) + max(n - 1, 0)  # the positions fed after n steps
        with _KV_LOCK:
            held = self._kv[0][0] if self._kv else None
        # a copy of the first positions (a slice would keep the whole cache alive); contiguous, as
        # the original passes had them, so stepping on computes exactly what a replay does
        kv = [] if held is None else [(tuple((k[:, :, :keep].contiguous(), v[:, :, :keep].contiguous())
                                             for k, v in held), None)]
        return replace(self, steps=self.steps[:n], labels=self.labels[:len(self.prompt_ids) + n],
                       texts=self.texts[:n + 1], _kv=kv)

    def attention_matrix(self, step: int | None = None) -> np.ndarray:
        """The full causal attention [layers, heads, N, N] of the context step `step` saw
        (N = its query_position + 1); default: the last step (the prompt alone when none)."""
        if not self.steps:
            return self.prompt_attention
        s = self.steps[-1 if step is None else int(step)]
        n = s.query_position + 1
        p = len(self.prompt_ids)
        out = np.zeros((self.num_layers, self.num_heads, n, n), dtype=np.float32)
        out[:, :, :p, :p] = self.prompt_attention
        for earlier in self.steps[1:s.index + 1]:
            q = earlier.query_position
            out[:, :, q, :q + 1] = earlier.attention
        return out


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


def _check_model(loaded: LoadedModel) -> None:
    if loaded.kind != "causal" or loaded.lm is None:
        raise CannotGenerateError(loaded.info.model_id, loaded.kind)


def position_limit(loaded: LoadedModel) -> int:
    """Tokens the model reads: its positions, or the tokenizer's limit when lower."""
    limit = int(loaded.info.max_positions)
    tok_max = getattr(loaded.tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < limit:
        limit = tok_max
    return limit


_KV_LOCK = threading.Lock()


def _take_kv(gen: Generation) -> tuple[Any, Any]:
    """(tensors, cache object or None) of the generation if no one took them yet, else (None, None)."""
    with _KV_LOCK:
        return gen._kv.pop() if gen._kv else (None, None)


def _rebuild(loaded: LoadedModel, gen: Generation) -> tuple[Any, Any]:
    """The cache of the positions `gen` has fed, computed by the same forward passes as when it
    was made (the prompt's, then one per fed token), so its values are the same to the bit."""
    _, _, past, cache = _forward(loaded, list(gen.prompt_ids), None)
    fed = gen.ids[len(gen.prompt_ids):-1] if gen.steps else ()
    for token in fed:
        _, _, past, cache = _forward(loaded, [token], past, cache)
    return past, cache


def _forward(loaded: LoadedModel, ids: list[int], past: tuple | None,
             cache: Any = None) -> tuple[np.ndarray, np.ndarray, tuple, Any]:
    """One forward pass of `ids` after the cached positions `past` (or `cache`, the same
    positions as a cache object): (logits of the last position [V], attention of the fed
    positions [L, H, len(ids), keys], the new cache as tensors and as the object)."""
    import torch
    from transformers import DynamicCache

    lm = loaded.lm
    device = next(lm.parameters()).device
    x = torch.tensor([ids], dtype=torch.long, device=device)
    with loaded.lock, torch.inference_mode(), cpu_threads_for(len(ids)):
        if cache is None:  # on the pass's own thread count: copying a cache is work too
            cache = DynamicCache(ddp_cache_data=past, config=lm.config) if past else DynamicCache(config=lm.config)
        # logits of the last position only: the vocabulary projection of every prompt position is
        # the largest matrix product of a GPT-2 forward pass
        out = lm(input_ids=x, cache=cache, use_cache=True, output_attentions=True, logits_to_keep=1)
    if not out.attentions:
        from core.errors import NoAttentionError

        raise NoAttentionError(loaded.info.model_id, "the model returned no attention weights")
    att = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()  # [L, H, q, keys]
    logits = out.logits[0, -1].float().cpu().numpy()
    new_past = tuple((layer.keys, layer.values) for layer in out.cache.layers)
    return logits, att, new_past, out.cache


def _unknown(token_id: int) -> str:
    """The label of an id past the tokenizer's vocabulary (a model's output layer may have more
    rows than its tokenizer has tokens, as T5's, or a random test model's)."""
    return f"<id {token_id}>"


def _label(tokenizer: Any, token_id: int) -> str:
    if tokenizer.convert_ids_to_tokens([token_id])[0] is None:
        return _unknown(token_id)
    text = tokenizer.decode([token_id])
    if "\ufffd" in text or not text:  # part of a multi-byte character: show its bytes
        tok = tokenizer.convert_ids_to_tokens([token_id])
        return display_tokens(tokenizer, tok, [False], [None])[0]
    return visible(text)


def _labels(loaded: LoadedModel, ids: list[int]) -> tuple[str, ...]:
    tok = loaded.tokenizer
    pieces = tok.convert_ids_to_tokens(list(ids))
    special_ids = set(getattr(tok, "all_special_ids", []) or [])
    special = [i in special_ids or p is None for i, p in zip(ids, pieces)]
    pieces = [_unknown(i) if p is None else p for i, p in zip(ids, pieces)]
    # a new word starts at a special token or a piece that begins with the space marker
    word_ids: list[int | None] = []
    w = -1
    for i, piece in enumerate(pieces):
        if special[i]:
            word_ids.append(None)
            continue
        if i == 0 or special[i - 1] or piece.startswith(("Ġ", "▁", " ")) or word_ids[-1] is None:
            w += 1
        word_ids.append(w)
    return tuple(display_tokens(tok, pieces, special, word_ids))


def start(loaded: LoadedModel, prompt: str, settings: Settings) -> Generation:
    """The prompt read in one forward pass; no step taken yet."""
    _check_model(loaded)
    if not isinstance(prompt, str) or not prompt.strip():
        raise EmptyTextError()
    tok = loaded.tokenizer
    with loaded.lock:  # the shared fast tokenizer is not thread-safe
        ids = list(tok(prompt, add_special_tokens=False)["input_ids"])
        labels, text = _labels(loaded, ids), tok.decode(ids)
    if not ids:
        raise EmptyTextError()
    limit = min(position_limit(loaded), MAX_PROMPT_TOKENS)
    if len(ids) >= limit:
        raise PromptTooLongError(len(ids), limit)
    logits, att, past, cache = _forward(loaded, ids, None)
    eos = getattr(tok, "eos_token_id", None)
    return Generation(
        model_id=loaded.info.model_id, prompt=prompt, settings=settings, prompt_ids=tuple(ids),
        prompt_attention=_read_only(att), steps=(), labels=labels,
        texts=(text,), max_positions=limit, eos_id=int(eos) if eos is not None else None,
        _prompt_logits=_read_only(logits), _kv=[(past, cache)],
    )


def _step(loaded: LoadedModel, gen: Generation) -> Generation:
    """One more step: the newest token's incremental forward (step 0 reuses the prompt's), then
    the choice."""
    ids = list(gen.ids)
    q = len(ids) - 1
    past, cache = _take_kv(gen)
    if past is None:
        past, cache = _rebuild(loaded, gen)
    if gen.steps:
        logits, att, past, cache = _forward(loaded, [ids[-1]], past, cache)
        row = att[:, :, -1, :]
    else:  # the prompt's forward pass already gave step 0 its logits; its cache passes on
        logits, row = np.asarray(gen._prompt_logits), gen.prompt_attention[:, :, -1, :]
    temperature = gen.settings.temperature if gen.settings.samples else 1.0
    chosen, dist = choose(logits, gen.settings, gen.n_steps)
    shown = max(SHOWN_CANDIDATES, gen.settings.k if gen.settings.strategy == "top_k" else 0)
    top = top_candidates(logits, dist, temperature, shown)
    new_ids = ids + [chosen]
    with loaded.lock:  # the shared fast tokenizer is not thread-safe
        cands = tuple(Candidate(i, _label(loaded.tokenizer, i), p, kp) for i, p, kp in top)
        step = Step(index=gen.n_steps, query_position=q, candidates=cands, chosen_id=chosen,
                    chosen_label=_label(loaded.tokenizer, chosen), chosen_prob=float(dist[chosen]),
                    attention=_read_only(row))
        labels, text = _labels(loaded, new_ids), loaded.tokenizer.decode(new_ids)
    return replace(gen, steps=gen.steps + (step,), labels=labels, texts=gen.texts + (text,), _kv=[(past, cache)])


def extend(loaded: LoadedModel, gen: Generation, n: int = 1) -> Generation:
    """`gen` with up to `n` more steps (fewer when it reaches the end of text or the model's
    length). The model must be the one that started it."""
    _check_model(loaded)
    if loaded.info.model_id != gen.model_id:
        raise ValueError(f"this generation was made with {gen.model_id}, not {loaded.info.model_id}")
    n = int(n)
    if n < 0 or gen.n_steps + n > MAX_STEPS:
        raise TooManyStepsError(gen.n_steps + max(n, 0), MAX_STEPS)
    for _ in range(n):
        if gen.stopped:
            break
        gen = _step(loaded, gen)
    return gen


def generate(loaded: LoadedModel, prompt: str, settings: Settings, n_steps: int = 1) -> Generation:
    """The prompt, then `n_steps` steps (at most MAX_STEPS)."""
    if int(n_steps) > MAX_STEPS:
        raise TooManyStepsError(int(n_steps), MAX_STEPS)
    return extend(loaded, start(loaded, prompt, settings), n_steps)


def replay(loaded: LoadedModel, prompt: str, settings: Settings, n_steps: int) -> Generation:
    """What a link describes, recomputed: the same tokens every time (the draw of step i is
    seeded by (settings.seed, i))."""
    return generate(loaded, prompt, settings, n_steps)
