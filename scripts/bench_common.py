"""What the benchmark scripts share: an offline, quiet environment, the repo on sys.path, and
a plain English text of an exact token count. Import it before anything loads transformers."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORDS = ("the cat sat on the mat and the dog played in the park while she said that it was "
         "sleeping near the big red door").split()


def text_with_tokens(tokenizer: Any, n: int) -> str:
    """A plain English text that tokenizes to exactly n tokens (specials included)."""
    words = [WORDS[i % len(WORDS)] for i in range(max(1, n - 2))]
    text = " ".join(words)
    got = len(tokenizer(text)["input_ids"])
    if got != n:
        raise RuntimeError(f"benchmark text has {got} tokens, wanted {n}")
    return text
