"""How a corpus is cut into forward passes: its token limit per sentence. The batching itself
(bucketing, padding, verified attention) is `core.attention.batch`, shared with probing.
"""

from __future__ import annotations

# Read from here by core.corpus.run and its tests.
from core.attention.batch import DEFAULT_BATCH_SIZE, PaddedBatch, iter_batches, iter_padded  # noqa: F401

DEFAULT_CORPUS_MAX_TOKENS = 128  # sentences, not documents; the page states it
