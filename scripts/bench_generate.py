"""Benchmark core.generate: one generation step with the KV cache, on a DistilGPT-2-sized model.

    .venv/bin/python scripts/bench_generate.py [--repeats N] [--json]

The Hub is not needed: the model is a randomly initialised GPT2LMHeadModel with DistilGPT-2's
configuration (6 layers x 12 heads, 768 wide, 50,257-token vocabulary, 1,024 positions), its
tokenizer a byte-level BPE trained here (the vocabulary size does not change the cost: the
model's output layer keeps all 50,257 rows). Weights are random, so timings are what matters.
Torch threads as the app sets them (core.attention.extract.cpu_threads_for: an incremental step
feeds one token, so it runs on one thread; the prompt's forward pass on the default count above
64 tokens); a row on the default thread count is given for comparison.

Rows (median wall time and this process's CPU time; other processes on the same cores stretch
the wall time, not the CPU time):
- a step at 128 tokens (the newest token attends to 128 keys): `extend(generation, 1)` whole
  (forward pass, distribution, draw, candidates, labels, text), goal <= 100 ms; each timed step
  starts from the cache's tensors, as after a rewind (stepping on from the newest generation
  skips one copy of the cache);
- the same step's forward pass alone, with the cache; and without it (all 128 tokens again);
- steps at 32 and 511 tokens (the longest under the app's limit of 512); the prompt's forward pass at 127 tokens; 64 steps at once.

Importable: `run() -> list[dict]` with the schema of the other bench scripts; `markdown(rows)`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import bench_common  # noqa: F401 - sets the offline env first and puts the repo on sys.path

GOAL_STEP_MS = 100.0
DISTILGPT2 = {"n_layer": 6, "n_head": 12, "n_embd": 768, "vocab_size": 50257, "n_positions": 1024}

_CPU: list[float] = []


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    _CPU[:] = [statistics.median(cpu) * 1000]
    return statistics.median(times) * 1000


def _row(metric: str, n: int | None, ms: float, goal: str = "", passed: bool | None = None) -> dict:
    cpu = _CPU.pop() if _CPU else None
    return {"benchmark": "generate", "metric": metric, "n_tokens": n, "value": round(ms, 2), "unit": "ms",
            "goal": goal, "passed": passed, "cpu": None if cpu is None else round(cpu, 2),
            "load": round(os.getloadavg()[0], 2)}


def build_model(folder: Path):
    """A random GPT2LMHeadModel with DistilGPT-2's configuration, loaded as the app loads models."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from core.models.loading import load_from_source, quiet_transformers

    quiet_transformers()
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator([" ".join(bench_common.WORDS)] * 4, trainer=trainer)
    eot = tk.token_to_id("<|endoftext|>")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  model_max_length=DISTILGPT2["n_positions"])
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(**DISTILGPT2, bos_token_id=eot, eos_token_id=eot)).save_pretrained(folder)
    return load_from_source(str(folder), model_id="random-distilgpt2", device="cpu", local_only=True)


def _prompt(loaded, n: int) -> str:
    """A text of exactly n tokens (no specials: a causal prompt has none)."""
    words, text = [], ""
    i = 0
    while True:
        words.append(bench_common.WORDS[i % len(bench_common.WORDS)])
        text = " ".join(words)
        got = len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
        if got >= n:
            break
        i += 1
    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"][:n]
    return loaded.tokenizer.decode(ids)


def _at(loaded, settings, keys: int):
    """A generation whose next step's newest token attends to `keys` keys."""
    from core.generate.steps import extend, start

    gen = extend(loaded, start(loaded, _prompt(loaded, keys - 1), settings), 1)  # step 0 reuses the prompt's pass
    assert len(gen.ids) == keys, (len(gen.ids), keys)
    return gen


def run(repeats: int = 9) -> list[dict]:
    import torch
    from transformers import DynamicCache

    from core.attention.extract import cpu_threads_for
    from core.generate.settings import MAX_STEPS, Settings
    from core.generate.steps import extend, generate, start

    loaded = build_model(Path(tempfile.mkdtemp(prefix="bench_generate_")))
    settings = Settings.make("top_k", temperature=0.8, k=5, seed=0)
    rows = []
    gen = _at(loaded, settings, 128)
    # each timed step starts from the cache tensors without the cache object, as a rewound
    # generation does (one copy of the cache more than stepping on from the newest generation)
    held = gen._kv[0][0]
    ms = _median_ms(lambda: extend(loaded, replace(gen, _kv=[(held, None)]), 1), repeats)
    rows.append(_row("a step at 128 tokens: extend(generation, 1), as the app runs it", 128, ms,
                     f"<= {GOAL_STEP_MS:g} ms", ms <= GOAL_STEP_MS))

    default_threads = torch.get_num_threads()

    lm = loaded.lm
    past = held
    x = torch.tensor([[gen.ids[-1]]])
    full = torch.tensor([list(gen.ids)])

    def cached_forward(threads: int) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                lm(input_ids=x, cache=DynamicCache(ddp_cache_data=past, config=lm.config), use_cache=True,
                   output_attentions=True, logits_to_keep=1)
        finally:
            torch.set_num_threads(before)

    def full_forward() -> None:
        with torch.inference_mode(), cpu_threads_for(full.shape[1]):
            lm(input_ids=full, output_attentions=True, logits_to_keep=1)

    ms = _median_ms(lambda: cached_forward(1), repeats)
    rows.append(_row("  its forward pass alone, with the KV cache (1 thread)", 128, ms))
    ms = _median_ms(lambda: cached_forward(default_threads), repeats)
    rows.append(_row(f"  its forward pass alone, with the KV cache ({default_threads} threads)", 128, ms))
    ms = _median_ms(full_forward, repeats)
    rows.append(_row("  the same token without the cache: a forward pass over all 128 tokens", 128, ms))
    for keys in (32, 511):  # 511: the longest step under the app's limit of 512 tokens
        g = _at(loaded, settings, keys)
        g_held = g._kv[0][0]
        ms = _median_ms(lambda g=g, h=g_held: extend(loaded, replace(g, _kv=[(h, None)]), 1), repeats)
        rows.append(_row(f"a step at {keys} tokens", keys, ms))
    prompt = _prompt(loaded, 127)
    ms = _median_ms(lambda: start(loaded, prompt, settings), repeats)
    rows.append(_row("the prompt's forward pass (127 tokens)", 127, ms))
    short = _prompt(loaded, 64)
    ms = _median_ms(lambda: generate(loaded, short, settings, MAX_STEPS), max(3, repeats // 3))
    rows.append(_row(f"{MAX_STEPS} steps at once from a 64-token prompt (the cap)", 64 + MAX_STEPS, ms))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| benchmark | tokens | median (wall) | CPU time | load avg | goal | result |",
             "|---|---:|---:|---:|---:|---|---|"]
    for row in rows:
        verdict = "-" if row["passed"] is None else ("pass" if row["passed"] else "FAIL")
        cpu = "-" if row["cpu"] is None else f"{row['cpu']:.1f} ms"
        lines.append(f"| {row['metric']} | {row['n_tokens'] if row['n_tokens'] is not None else '-'} "
                     f"| {row['value']:.1f} ms | {cpu} | {row['load']} | {row['goal'] or '-'} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.repeats)
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0 if all(r["passed"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
