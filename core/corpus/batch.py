"""How a corpus is cut into forward passes: its token limit per sentence. The batching itself
(bucketing, padding, verified attention) is `core.attention.batch`, shared with probing.
"""

from __future__ import annotations

DEFAULT_CORPUS_MAX_TOKENS = 128  # sentences, not documents; the page states it
