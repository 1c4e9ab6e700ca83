"""Availability, decided up front (never by a 48 s time-out): ready (files on this machine),
downloadable (one short probe of the Hub answered, remembered per process) or unavailable.
"""

from __future__ import annotations

import enum
import json
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.errors import UnknownModelError
from core.models.registry import (
    BUNDLED_MODEL_ID,
    DEFAULT_MODEL_ID,
    ENCODER_DECODER_REASON,
    ENV_OFFLINE,
    ENV_PROBE_TIMEOUT,
    ModelSpec,
    bundled_model_path,
    encoder_decoder_registry,
    registry,
    resolve_spec,
)

class Availability(enum.Enum):
    READY = "ready"  # files on this machine (bundled or in the Hugging Face cache)
    DOWNLOADABLE = "downloadable"  # the Hub answered a short probe
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    availability: Availability
    reason: str  # one sentence: why it is ready / downloadable / unavailable

    @property
    def usable(self) -> bool:
        return self.availability is not Availability.UNAVAILABLE

_probe_lock = threading.Lock()
_probe_result: dict[str, bool] = {}


def offline_mode() -> bool:
    flags = (os.environ.get(ENV_OFFLINE, ""), os.environ.get("HF_HUB_OFFLINE", ""),
             os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float | None = None) -> bool:
    """One short TCP probe of the Hub, remembered for the life of the process."""
    if offline_mode():
        return False
    endpoint = hub_endpoint()
    with _probe_lock:
        if endpoint in _probe_result:
            return _probe_result[endpoint]
        if timeout is None:
            try:
                timeout = max(0.1, min(10.0, float(os.environ.get(ENV_PROBE_TIMEOUT, "1.5"))))
            except ValueError:
                timeout = 1.5
        parsed = urlparse(endpoint)
        host = parsed.hostname or ""
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:  # a malformed port in HF_ENDPOINT
            port = 0
        ok = bool(host and port) and _tcp_probe(host, port, timeout)
        _probe_result[endpoint] = ok
        return ok


def _tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Can a TCP connection be opened? Bounded in time, name lookup included.

    `socket.create_connection`'s timeout does not cover the DNS lookup, which can hang for
    many seconds on a machine with a broken resolver, so the attempt runs on a daemon thread
    and we wait at most `timeout` + 0.5 s for it.
    """
    answer: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except (OSError, ValueError):
            answer.append(False)

    worker = threading.Thread(target=attempt, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(answer and answer[0])


def reset_probe_cache() -> None:
    with _probe_lock:
        _probe_result.clear()


_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")


def _in_hf_cache(repo_id: str, extra_files: tuple[str, ...] = ()) -> bool:
    """Ready in the Hugging Face cache: config.json, a tokenizer file and every weight file (all
    shards of a sharded checkpoint). Half a download is never ready: huggingface_hub keeps
    unfinished files out of the snapshot folder, and core.models.download moves a model in only
    when all its files are there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False

    def cached(name: str) -> str | None:
        found = try_to_load_from_cache(repo_id, name)
        return found if isinstance(found, str) else None

    if cached("config.json") is None:
        return False
    if not any(cached(name) for name in _TOKENIZER_FILES):
        return False
    if not all(cached(name) for name in extra_files):
        return False
    if cached("model.safetensors") or cached("pytorch_model.bin"):
        return True
    index = cached("model.safetensors.index.json")
    if index is None:
        return False
    try:
        with open(index, encoding="utf-8") as fh:
            shards = set(json.load(fh).get("weight_map", {}).values())
    except (OSError, ValueError, AttributeError):
        return False
    return bool(shards) and all(cached(str(name)) for name in shards)


def check_availability(model_id: str) -> ModelStatus:
    """For the one-stack views (everything but the source / target views): an encoder-decoder
    model is unavailable here, with the reason."""
    spec = resolve_spec(model_id)
    if spec.encoder_decoder:
        return ModelStatus(spec, Availability.UNAVAILABLE, ENCODER_DECODER_REASON)
    return _files_status(spec)


def check_encoder_decoder_availability(model_id: str) -> ModelStatus:
    """For the source / target views: a registered encoder-decoder model, ready, downloadable or
    unavailable like any other. Raises UnknownModelError for any other id."""
    spec = resolve_spec(model_id)
    if not spec.encoder_decoder:
        raise UnknownModelError(model_id, list(encoder_decoder_registry()))
    return _files_status(spec)


def _files_status(spec: ModelSpec) -> ModelStatus:
    if spec.is_local:
        if (Path(spec.source) / "config.json").is_file():
            return ModelStatus(spec, Availability.READY, "its files are on this machine")
        return ModelStatus(spec, Availability.UNAVAILABLE, "its folder has no config.json")
    if _in_hf_cache(spec.source, spec.extra_files):
        return ModelStatus(spec, Availability.READY, "found in the local Hugging Face cache")
    if offline_mode():
        return ModelStatus(spec, Availability.UNAVAILABLE,
                           "offline mode is on and it is not in the local Hugging Face cache")
    if hub_reachable():
        return ModelStatus(spec, Availability.DOWNLOADABLE, "the Hugging Face Hub answered; first use downloads it")
    return ModelStatus(spec, Availability.UNAVAILABLE,
                       "the Hugging Face Hub is unreachable and it is not in the local cache")


def all_statuses() -> list[ModelStatus]:
    return [check_availability(mid) for mid in registry()]


def choose_default() -> tuple[str, str]:
    """(model id, one-sentence reason): DistilBERT when usable, else the bundled model."""
    status = check_availability(DEFAULT_MODEL_ID)
    if status.usable:
        return DEFAULT_MODEL_ID, f"DistilBERT is the default and is {status.availability.value}: {status.reason}."
    if bundled_model_path() is not None:
        return BUNDLED_MODEL_ID, (
            f"DistilBERT is unavailable ({status.reason}), so the app uses the bundled "
            "all-MiniLM-L6-v2, a real pretrained BERT with the same 6 x 12 grid."
        )
    for st in all_statuses():
        if st.usable:
            return st.spec.model_id, f"DistilBERT is unavailable ({status.reason}); using {st.spec.display_name}."
    return DEFAULT_MODEL_ID, f"No model is available: {status.reason}."

