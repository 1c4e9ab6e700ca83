"""Downloading a registered Hub model into the Hugging Face cache: size first, progress, cancel,
and never half a model.

    plan = plan_download("distilbert-base-uncased")          # file list and sizes from the Hub
    print(plan.size_text)                                      # "255 MB in 6 files"
    folder = download_model(plan, progress=cb, cancel=event)   # cb(DownloadProgress); event: threading.Event

How a half download is kept out of the cache: files are fetched (huggingface_hub's own
`hf_hub_download`, so the cache layout is the library's) into a staging folder beside the cache,
on the same disk; only when every file is there with the size the Hub announced does the model
move into the cache, its config.json last (availability looks for that file first). A cancel, a
full disk or a broken connection deletes the staging folder and raises a `DownloadError` whose
text is one sentence for the page. `core.models.availability` additionally calls a cached model
ready only when its config, tokenizer and every weight file are present.

Only what the app loads is fetched (`ALLOW_PATTERNS`: configuration, tokenizer, safetensors
weights); pickled `.bin` weights, TensorFlow/Flax/ONNX files are left on the Hub.
No Streamlit; the Compare page's sidebar and scripts/model_kit.py call this.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Its errors live in core.errors; ui/model_panel.py and scripts/model_kit.py import them from here.
from core.errors import ConnectionBrokenError, DiskFullError, DownloadCancelled, DownloadError, megabytes
from core.models.availability import hub_endpoint, offline_mode
from core.models.registry import resolve_spec

ALLOW_PATTERNS: tuple[str, ...] = (
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model", "*.safetensors",
    "model.safetensors.index.json",
    "source.spm", "target.spm",  # MarianMT's SentencePiece models, one per language
)
STAGING_PREFIX = ".attention-dashboard-staging-"
DISK_MARGIN = 64 * 2**20  # free space to leave beyond the files themselves


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int


@dataclass(frozen=True)
class DownloadPlan:
    """What a download will fetch: the Hub repo at one commit, the files and their sizes."""

    model_id: str
    repo_id: str
    revision: str  # the commit the sizes were read from (the files are fetched at that commit)
    files: tuple[RemoteFile, ...]
    endpoint: str

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def size_text(self) -> str:
        return f"{megabytes(self.total_bytes)} in {len(self.files)} files"


@dataclass(frozen=True)
class DownloadProgress:
    model_id: str
    done: int  # bytes received (files already complete plus the current one)
    total: int
    file: str  # the file being fetched
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


def wanted(name: str) -> bool:
    """Whether a repo file is one the app needs (ALLOW_PATTERNS; top-level files only)."""
    return "/" not in name and any(fnmatch.fnmatch(name, p) for p in ALLOW_PATTERNS)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def plan_download(model_id: str, *, endpoint: str | None = None, timeout: float = 10.0) -> DownloadPlan:
    """Ask the Hub which files the model has and how large they are (no download yet).

    Raises DownloadError (offline, Hub unreachable, no safetensors weights) with a sentence.
    """
    spec = resolve_spec(model_id)
    if spec.is_local:
        raise DownloadError(f"{model_id} is a local model; there is nothing to download.")
    if offline_mode():
        raise DownloadError(f"Offline mode is on, so {model_id} cannot be downloaded here.")
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint).model_info(spec.source, files_metadata=True, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one sentence
        raise DownloadError(f"Could not ask the Hugging Face Hub about {model_id} "
                            f"({type(exc).__name__}: {str(exc)[:160]}).") from exc
    files = []
    for sib in info.siblings or []:
        if wanted(sib.rfilename):
            size = sib.size if sib.size is not None else (sib.lfs.size if sib.lfs else None)
            files.append(RemoteFile(sib.rfilename, int(size or 0)))
    names = {f.name for f in files}
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        raise DownloadError(f"{model_id} has no config.json and safetensors weights on the Hub; "
                            "the app loads only safetensors.")
    files.sort(key=lambda f: (f.name == "config.json", f.name.endswith(".safetensors"), f.name))
    return DownloadPlan(model_id=model_id, repo_id=spec.source, revision=str(info.sha), files=tuple(files),
                        endpoint=endpoint)


class _Cancelled(BaseException):
    """Raised inside huggingface_hub's progress callback to stop a transfer (BaseException, so
    the library's retry logic for ordinary errors does not swallow it)."""


def _progress_class(on_bytes: Callable[[int], None]) -> type:
    """A tqdm stand-in for huggingface_hub: reports received bytes, draws nothing."""

    class _Bar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.total = kwargs.get("total")
            self.n = int(kwargs.get("initial") or 0)
            self.disable = False

        def update(self, n: int | float = 1) -> None:
            self.n += int(n)
            on_bytes(int(n))

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.close()

        def close(self) -> None:
            pass

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        @classmethod
        def get_lock(cls) -> threading.RLock:
            return threading.RLock()

        @classmethod
        def set_lock(cls, lock: Any) -> None:
            pass

    return _Bar


def check_disk(plan: DownloadPlan, root: Path) -> None:
    """DiskFullError when the cache's disk lacks room for the plan's files (plus a margin)."""
    folder = root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < plan.total_bytes + DISK_MARGIN:
        raise DiskFullError(plan.model_id, plan.total_bytes + DISK_MARGIN, free, root)


def _is_disk_full(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def download_model(plan: DownloadPlan | str, *, progress: Callable[[DownloadProgress], None] | None = None,
                   cancel: threading.Event | None = None, cache_dir: str | Path | None = None,
                   min_interval: float = 0.1) -> Path:
    """Fetch the plan's files into the Hugging Face cache; returns the model's snapshot folder.

    `progress(DownloadProgress)` is called at most every `min_interval` seconds and once at the
    end; setting `cancel` stops the transfer within one network chunk. Raises DownloadCancelled,
    DiskFullError, ConnectionBrokenError or DownloadError; in every such case nothing of this
    download is left in the cache.
    """
    if isinstance(plan, str):
        plan = plan_download(plan)
    state = {"done": 0, "file": "", "files_done": 0, "last": 0.0}
    lock = threading.Lock()

    def report(force: bool = False) -> None:
        if progress is None:
            return
        now = time.monotonic()
        with lock:
            if not force and now - state["last"] < min_interval:
                return
            state["last"] = now
            snap = DownloadProgress(plan.model_id, int(state["done"]), plan.total_bytes, str(state["file"]),
                                    int(state["files_done"]), len(plan.files))
        progress(snap)

    def on_bytes(n: int) -> None:
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        with lock:
            state["done"] += n
        report()

    bar = _progress_class(on_bytes)

    def fetch(staging: Path) -> None:
        from huggingface_hub import hf_hub_download

        for f in plan.files:
            if cancel is not None and cancel.is_set():
                raise _Cancelled()
            with lock:
                state["file"] = f.name
                before = state["done"]
            hf_hub_download(plan.repo_id, f.name, revision=plan.revision, cache_dir=staging,
                            endpoint=plan.endpoint, tqdm_class=bar)
            with lock:  # a small file may come without progress callbacks
                state["done"] = before + f.size
                state["files_done"] += 1
            report()

    folder = staged_download(plan, fetch, cache_dir=cache_dir, done=lambda: int(state["done"]))
    report(force=True)
    return folder


def snapshot_into_cache(plan: DownloadPlan, *, tqdm_class: type | None = None,
                        cache_dir: str | Path | None = None) -> Path:
    """The same guarantees as `download_model`, fetched by huggingface_hub's `snapshot_download`
    (allow_patterns = the plan's files) with its own console progress bar (`tqdm_class`, e.g.
    tqdm.auto.tqdm; None = the library's default). Used by scripts/model_kit.py."""

    def fetch(staging: Path) -> None:
        from huggingface_hub import snapshot_download

        kwargs: dict[str, Any] = {}
        if tqdm_class is not None:
            kwargs["tqdm_class"] = tqdm_class
        snapshot_download(plan.repo_id, revision=plan.revision, cache_dir=staging, endpoint=plan.endpoint,
                          allow_patterns=[f.name for f in plan.files], max_workers=2, **kwargs)

    return staged_download(plan, fetch, cache_dir=cache_dir)


def staged_download(plan: DownloadPlan, fetch: Callable[[Path], None], *, cache_dir: str | Path | None = None,
                    done: Callable[[], int] | None = None) -> Path:
    """Run `fetch(staging_cache_dir)`, check every file, move the model into the cache.

    The staging folder sits inside the cache folder (one disk, so the move is renames) and is
    deleted whatever happens. Errors become DownloadError subclasses with one sentence.
    """
    root = cache_root(cache_dir)
    check_disk(plan, root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    try:
        fetch(staging)
        snapshot = _verify(plan, staging)
        _move_into_cache(staging, root, plan)
        return root / snapshot.relative_to(staging)
    except _Cancelled:
        raise DownloadCancelled(plan.model_id) from None
    except DownloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        if _is_disk_full(exc):
            free = shutil.disk_usage(root).free
            raise DiskFullError(plan.model_id, plan.total_bytes + DISK_MARGIN, free, root) from exc
        detail = f"{type(exc).__name__}: {str(exc)[:160]}"
        if not _is_network(exc):
            raise DownloadError(f"The download of {plan.model_id} failed ({detail}); nothing was kept.") from exc
        got = done() if done is not None else _staged_bytes(staging)
        raise ConnectionBrokenError(plan.model_id, got, plan.total_bytes, detail) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_network(exc: BaseException) -> bool:
    """A transfer error: sockets, HTTP clients, the Hub's HTTP errors (anywhere in the chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        module = type(exc).__module__.split(".")[0]
        if isinstance(exc, OSError) or module in ("httpx", "httpx2", "httpcore", "h11", "urllib3", "requests",
                                                   "huggingface_hub"):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _staged_bytes(staging: Path) -> int:
    total = 0
    for p in staging.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def _verify(plan: DownloadPlan, staging: Path) -> Path:
    """The staged snapshot folder, after checking every file is there with the announced size."""
    snapshot = staging / _repo_folder(plan.repo_id) / "snapshots" / plan.revision
    for f in plan.files:
        path = snapshot / f.name
        try:
            size = path.stat().st_size
        except OSError:
            raise DownloadError(f"The download of {plan.model_id} is missing {f.name}; nothing was kept.") from None
        if f.size and size != f.size:
            raise DownloadError(f"{f.name} of {plan.model_id} has {size} bytes, the Hub announced {f.size}; "
                                "nothing was kept.")
    return snapshot


def _move_into_cache(staging: Path, root: Path, plan: DownloadPlan) -> None:
    """Move the staged repo folder into the cache: blobs, then snapshot entries with config.json
    last, then refs/main (renames on one disk: each entry appears whole or not at all)."""
    src = staging / _repo_folder(plan.repo_id)
    dst = root / _repo_folder(plan.repo_id)
    entries = [p for p in src.rglob("*") if p.is_file() or p.is_symlink()]

    def order(p: Path) -> tuple[int, str]:
        rel = p.relative_to(src).parts
        if rel[0] == "blobs":
            return 0, str(p)
        if rel[0] == "snapshots":
            return (2 if p.name == "config.json" else 1), str(p)
        return 3, str(p)  # refs and anything else last

    for p in sorted(entries, key=order):
        target = dst / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            if p.relative_to(src).parts[0] == "blobs":
                continue  # the same blob (content-addressed) is already there
            target.unlink()
        os.replace(p, target)
    # The files were fetched at a commit; the app (and transformers) look them up by branch: the
    # ref is written last, atomically, so the model appears in the cache whole.
    refs = dst / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    tmp = refs / f".main.{os.getpid()}.tmp"
    tmp.write_text(plan.revision, encoding="utf-8")
    os.replace(tmp, refs / "main")


def pending_downloads(cache_dir: str | Path | None = None) -> list[Path]:
    """Staging folders left by a process that died mid-download (safe to delete when no download
    runs)."""
    root = cache_root(cache_dir)
    try:
        return [p for p in root.iterdir() if p.is_dir() and p.name.startswith(STAGING_PREFIX)]
    except OSError:
        return []
