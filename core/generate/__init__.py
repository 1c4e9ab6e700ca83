"""Generation step by step (causal LMs) and encoder-decoder attention (MarianMT, T5).

- `settings`: the frozen decoding `Settings` (greedy, top-k, top-p, temperature, seed), clamped
  to Transformer Explainer's ranges, and the link form of a generation (`GenerationLink`).
- `sampling`: the next-token distribution after temperature and top-k / top-p, and the seeded
  draw of step i (pure numpy).
- `steps`: `generate` / `extend` / `replay` / `Generation.rewind`: one KV-cached forward per
  token under the model's lock; each `Step` keeps the candidates, the choice and the newest
  token's attention [layers, heads, keys].
- `lenses`: what a page draws for one step: a head's row, the layer average, rollout.
- `seq2seq`: loading an encoder-decoder model, and `Seq2SeqResult` (encoder self, decoder self
  and cross-attention, tokens and offsets of both sides).
- `alignment`: a word alignment read from cross-attention.
- `notices`: what to notice about causal masking at one step (the tutorial's sentences).
- `errors`: the typed errors of this package (user-facing `str()`).
"""
