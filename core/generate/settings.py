"""Decoding settings and the link form of a generation.

Ranges follow Transformer Explainer (poloclub): temperature 0.2-10 (default 0.8), top-k 1-50
(default 5), top-p. Values outside a range are clamped, never refused, so any link opens.
A generation is fully described by (model, prompt, settings, number of steps): `steps.replay`
recomputes it exactly, so a link needs nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping

Strategy = Literal["greedy", "top_k", "top_p"]
STRATEGIES: tuple[str, ...] = ("greedy", "top_k", "top_p")

TEMPERATURE_RANGE = (0.2, 10.0)
TOP_K_RANGE = (1, 50)
TOP_P_RANGE = (0.01, 1.0)
SEED_RANGE = (0, 2**31 - 1)
# One generation takes at most this many steps: a link (or any request) cannot make the server
# generate without bound. 64 tokens at about 20-40 ms a step is about 1-3 s of CPU.
MAX_STEPS = 64
MAX_PROMPT_CHARS = 2000  # a link's prompt is cut here before it is tokenized


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


@dataclass(frozen=True)
class Settings:
    """How the next token is chosen. Build with `Settings.make(...)` to clamp and normalise.

    greedy: the most probable token (temperature, k and p do not matter and are stored at
    their defaults, so equal choices have equal settings and links); top_k: a seeded draw from
    the k most probable after temperature; top_p: a seeded draw from the smallest set of most
    probable tokens whose probability reaches p, after temperature.
    """

    strategy: Strategy = "top_k"
    temperature: float = 0.8
    k: int = 5
    p: float = 0.9
    seed: int = 0

    @classmethod
    def make(cls, strategy: str = "top_k", temperature: float = 0.8, k: int = 5, p: float = 0.9,
             seed: int = 0) -> "Settings":
        """Clamped to the ranges; an unknown strategy is greedy. Floats rounded to 3 decimals
        (what a link writes)."""
        strat = strategy if strategy in STRATEGIES else "greedy"
        t = float(temperature) if _finite(temperature) else 0.8
        pp = float(p) if _finite(p) else 0.9
        kk = int(k) if _finite(k) else 5
        s = int(seed) if _finite(seed) else 0
        out = cls(
            strategy=strat,  # type: ignore[arg-type]
            temperature=round(_clamp(t, *TEMPERATURE_RANGE), 3),
            k=int(_clamp(kk, *TOP_K_RANGE)),
            p=round(_clamp(pp, *TOP_P_RANGE), 3),
            seed=int(_clamp(s, *SEED_RANGE)),
        )
        defaults = cls()
        if strat == "greedy":  # nothing but the strategy matters
            return replace(defaults, strategy="greedy")
        if strat == "top_k":
            return replace(out, p=defaults.p)
        return replace(out, k=defaults.k)

    @property
    def samples(self) -> bool:
        return self.strategy != "greedy"

    def to_params(self) -> dict[str, str]:
        """The compact URL form: only what matters for the strategy."""
        out = {"strategy": self.strategy}
        if self.strategy != "greedy":
            out["temperature"] = f"{self.temperature:g}"
            out["seed"] = str(self.seed)
        if self.strategy == "top_k":
            out["k"] = str(self.k)
        if self.strategy == "top_p":
            out["p"] = f"{self.p:g}"
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Settings":
        """Read `to_params`' form; anything missing or unreadable takes its default."""
        d = cls()
        return cls.make(
            strategy=str(_first(params, "strategy", d.strategy)),
            temperature=_number(params, "temperature", d.temperature),
            k=int(_number(params, "k", d.k)),
            p=_number(params, "p", d.p),
            seed=int(_number(params, "seed", d.seed)),
        )

    def describe(self) -> str:
        """One line for a caption."""
        if self.strategy == "greedy":
            return "greedy: always the most probable token"
        pool = f"the {self.k} most probable" if self.strategy == "top_k" else \
            f"the most probable tokens up to {self.p:g} of the probability"
        return f"sampled from {pool}, temperature {self.temperature:g}, seed {self.seed}"


@dataclass(frozen=True)
class GenerationLink:
    """What a link holds: the prompt, the settings and how many steps were taken (capped)."""

    prompt: str
    settings: Settings
    steps: int

    @classmethod
    def make(cls, prompt: str, settings: Settings, steps: int) -> "GenerationLink":
        n = int(steps) if _finite(steps) else 0
        return cls(str(prompt)[:MAX_PROMPT_CHARS], settings, int(_clamp(n, 0, MAX_STEPS)))

    def to_params(self) -> dict[str, str]:
        return {"prompt": self.prompt, **self.settings.to_params(), "steps": str(self.steps)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "GenerationLink":
        """Never raises: an over-long prompt is cut, steps are capped at MAX_STEPS."""
        return cls.make(str(_first(params, "prompt", "")), Settings.from_params(params),
                        int(_number(params, "steps", 0)))


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError, OverflowError):
        return False


def _first(params: Mapping[str, Any], key: str, default: Any) -> Any:
    value = params.get(key, default)
    if isinstance(value, (list, tuple)):  # Streamlit's query params may hold lists
        value = value[0] if value else default
    return value


def _number(params: Mapping[str, Any], key: str, default: float) -> float:
    value = _first(params, key, default)
    try:
        x = float(str(value)[:32])
    except (TypeError, ValueError):
        return float(default)
    return x if math.isfinite(x) else float(default)
