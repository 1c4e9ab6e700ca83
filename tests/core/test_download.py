"""core.models.download and scripts/model_kit.py against a LOCAL fake of the Hugging Face Hub: a
tiny HTTP server on 127.0.0.1 serving a tiny model's files, with HF_ENDPOINT pointed at it (no
real network). Checks: size first, progress, cancel, a connection that breaks mid-file, a full
disk, and that no half download ever shows as ready."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from core.models import availability, download
from core.models.download import (
    ConnectionBrokenError, DiskFullError, DownloadCancelled, DownloadError, download_model, plan_download,
)
from tests.tiny_models import model_folder

REPO = "distilbert-base-uncased"  # a registered model id; the fake Hub serves tiny files under it
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 64 * 1024


class FakeHub:
    """Serves one folder as a Hub model repo: model info with file sizes, the file tree, and
    HEAD/GET of /{repo}/resolve/{revision}/{file} with the headers huggingface_hub reads.

    Knobs: `break_file`/`break_after` (drop the connection after that many bytes of that file,
    every time), `delay` (seconds per chunk, so a cancel can land mid-file), `requests` (log).
    Bounded: loopback only, stopped by the fixture.
    """

    def __init__(self, folder: Path, repo: str = REPO) -> None:
        self.repo = repo
        self.files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.extra = {"pytorch_model.bin": b"x" * 1000, "onnx/model.onnx": b"y" * 500}  # must not be fetched
        self.break_file: str | None = None
        self.break_after = 0
        self.delay = 0.0
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _json(self, obj):
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _missing(self):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _serve(self, head: bool):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                api = f"/api/models/{hub.repo}"
                if path in (api, f"{api}/revision/main", f"{api}/revision/{COMMIT}"):
                    return self._json(hub.model_info())
                if path.startswith(f"{api}/tree/"):
                    return self._json(hub.tree())
                prefix = f"/{hub.repo}/resolve/"
                if not path.startswith(prefix):
                    return self._missing()
                _, _, name = path[len(prefix):].partition("/")
                data = hub.all_files().get(name)
                if data is None:
                    return self._missing()
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hub.etag(name)}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if head:
                    return
                limit = hub.break_after if name == hub.break_file else len(data)
                sent = 0
                try:
                    while sent < len(data):
                        if sent >= limit:
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)  # the connection breaks
                            self.close_connection = True
                            return
                        end = min(len(data), sent + CHUNK, limit if limit > sent else len(data))
                        self.wfile.write(data[sent:end])
                        sent = end
                        if hub.delay:
                            time.sleep(hub.delay)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def all_files(self) -> dict[str, bytes]:
        return {**self.files, **self.extra}

    def etag(self, name: str) -> str:
        return hashlib.sha256(self.all_files()[name]).hexdigest()

    def model_info(self) -> dict:
        return {"id": self.repo, "modelId": self.repo, "sha": COMMIT, "private": False, "disabled": False,
                "gated": False, "tags": [], "downloads": 0, "likes": 0,
                "siblings": [{"rfilename": n, "size": len(d), "blobId": self.etag(n)[:40]}
                             for n, d in self.all_files().items()]}

    def tree(self) -> list[dict]:
        return [{"type": "file", "oid": self.etag(n)[:40], "size": len(d), "path": n}
                for n, d in self.all_files().items()]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, online mode, for this test only."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("ATTENTION_DASHBOARD_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    availability.reset_probe_cache()
    yield cache
    availability.reset_probe_cache()


@pytest.fixture
def fake_hub(tiny_distilbert, tiny_models_dir, hub_cache, monkeypatch):
    with FakeHub(model_folder(tiny_models_dir, "distilbert")) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub


def _ready() -> bool:
    return availability._in_hf_cache(REPO)


def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.name.startswith(download.STAGING_PREFIX)]


# --- plan: size first ------------------------------------------------------------------------------

def test_plan_lists_only_what_the_app_loads_with_sizes(fake_hub):
    plan = plan_download(REPO)
    names = [f.name for f in plan.files]
    assert "config.json" in names and "model.safetensors" in names and "tokenizer.json" in names
    assert "pytorch_model.bin" not in names and "onnx/model.onnx" not in names
    assert names[-1] == "config.json"  # fetched last
    assert plan.total_bytes == sum(len(fake_hub.files[n]) for n in names)
    assert plan.revision == COMMIT and "MB" in plan.size_text and f"{len(names)} files" in plan.size_text
    assert not any("resolve" in r for r in fake_hub.requests)  # nothing downloaded yet


def test_plan_refuses_offline_and_local_models(fake_hub, monkeypatch):
    with pytest.raises(DownloadError, match="local model"):
        plan_download("all-MiniLM-L6-v2")
    monkeypatch.setenv("ATTENTION_DASHBOARD_OFFLINE", "1")
    with pytest.raises(DownloadError, match="Offline"):
        plan_download(REPO)


def test_plan_of_an_unreachable_hub_is_one_sentence(hub_cache, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match="Could not ask the Hugging Face Hub"):
        plan_download(REPO, timeout=2)


# --- download: progress, then ready ------------------------------------------------------------------

def test_download_reports_progress_and_the_model_is_ready_and_loads(fake_hub, hub_cache):
    plan = plan_download(REPO)
    seen = []
    assert not _ready()
    folder = download_model(plan, progress=seen.append, min_interval=0)
    assert _ready()
    assert folder == hub_cache / "models--distilbert-base-uncased" / "snapshots" / COMMIT
    assert seen and seen[-1].done == plan.total_bytes and seen[-1].fraction == 1.0
    assert seen[-1].files_done == len(plan.files)
    dones = [p.done for p in seen]
    assert dones == sorted(dones)
    assert len(seen) > len(plan.files)  # byte progress inside the large file, not only per file
    assert not _leftovers(hub_cache)
    gets = [r for r in fake_hub.requests if r.startswith("GET") and "/resolve/" in r]
    assert not any("pytorch_model.bin" in r or "onnx" in r for r in gets)
    # the app's own availability and loader now see it as ready, offline
    status = availability.check_availability(REPO)
    assert status.availability is availability.Availability.READY
    from core.models.loading import load_model

    os.environ["ATTENTION_DASHBOARD_OFFLINE"] = "1"
    loaded = load_model(REPO, device="cpu")
    assert loaded.info.model_type == "distilbert" and loaded.info.num_layers == 2


def test_cancel_mid_download_keeps_nothing(fake_hub, hub_cache):
    fake_hub.delay = 0.02
    plan = plan_download(REPO)
    cancel = threading.Event()

    def progress(p):
        if p.file == "model.safetensors" and p.done > 100_000:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="cancelled"):
        download_model(plan, progress=progress, cancel=cancel, min_interval=0)
    assert not _ready()
    assert not _leftovers(hub_cache)
    assert not (hub_cache / "models--distilbert-base-uncased").exists()


def test_a_cancel_before_the_start_downloads_nothing(fake_hub):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        download_model(plan_download(REPO), cancel=cancel)
    assert not any("/resolve/" in r for r in fake_hub.requests)


def test_a_connection_that_breaks_mid_file_keeps_nothing(fake_hub, hub_cache, monkeypatch):
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(time, "sleep", lambda s: None)  # the library's retry back-off
    fake_hub.break_file = "model.safetensors"
    fake_hub.break_after = 300_000
    plan = plan_download(REPO)
    started = time.monotonic()
    with pytest.raises(ConnectionBrokenError, match="connection broke") as info:
        download_model(plan)
    assert time.monotonic() - started < 60
    assert "Nothing was kept" in str(info.value)
    assert not _ready() and not _leftovers(hub_cache)
    assert fd is not None


def test_a_file_shorter_than_announced_is_not_kept(fake_hub, hub_cache, monkeypatch):
    plan = plan_download(REPO)
    bad = download.DownloadPlan(plan.model_id, plan.repo_id, plan.revision,
                                tuple(download.RemoteFile(f.name, f.size + (1 if f.name == "tokenizer.json" else 0))
                                      for f in plan.files), plan.endpoint)
    with pytest.raises(DownloadError):
        download_model(bad)
    assert not _ready() and not _leftovers(hub_cache)


def test_a_full_disk_is_said_before_anything_is_fetched(fake_hub, hub_cache, monkeypatch):
    real = shutil.disk_usage

    def tiny_disk(path):
        usage = real(path)
        return usage._replace(free=1000)

    monkeypatch.setattr(download.shutil, "disk_usage", tiny_disk)
    with pytest.raises(DiskFullError, match="Not enough disk space") as info:
        download_model(plan_download(REPO))
    assert "free" in str(info.value)
    assert not any("/resolve/" in r for r in fake_hub.requests)
    assert not _ready() and not _leftovers(hub_cache)


def test_a_disk_that_fills_up_mid_download_keeps_nothing(fake_hub, hub_cache, monkeypatch):
    import errno

    import huggingface_hub.file_download as fd

    real_get = fd.http_get

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fd, "http_get", full)
    with pytest.raises(DiskFullError):
        download_model(plan_download(REPO))
    assert not _ready() and not _leftovers(hub_cache)
    assert real_get is not None


# --- availability never calls half a model ready ----------------------------------------------------

def _cache_with(cache: Path, names: list[str], source: Path) -> None:
    snap = cache / "models--distilbert-base-uncased" / "snapshots" / COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    (cache / "models--distilbert-base-uncased" / "refs").mkdir(exist_ok=True)
    (cache / "models--distilbert-base-uncased" / "refs" / "main").write_text(COMMIT)
    for n in names:
        shutil.copy(source / n, snap / n)


def test_half_a_model_in_the_cache_is_not_ready(hub_cache, tiny_distilbert, tiny_models_dir):
    src = model_folder(tiny_models_dir, "distilbert")
    _cache_with(hub_cache, ["config.json", "model.safetensors"], src)  # no tokenizer yet
    assert not _ready()
    _cache_with(hub_cache, ["tokenizer.json"], src)
    assert _ready()
    (hub_cache / "models--distilbert-base-uncased" / "snapshots" / COMMIT / "model.safetensors").unlink()
    assert not _ready()  # config + tokenizer, no weights
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    snap = hub_cache / "models--distilbert-base-uncased" / "snapshots" / COMMIT
    (snap / "model.safetensors.index.json").write_text(json.dumps(index))
    (snap / "model-00001-of-00002.safetensors").write_bytes(b"1")
    assert not _ready()  # one shard of two
    (snap / "model-00002-of-00002.safetensors").write_bytes(b"2")
    assert _ready()


# --- scripts/model_kit.py ------------------------------------------------------------------------------

def test_model_kit_downloads_and_precomputes_then_runs_offline(fake_hub, hub_cache, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import model_kit
    finally:
        sys.path.pop(0)
    store_dir = tmp_path / "results"
    monkeypatch.setenv("ATTENTION_DASHBOARD_CACHE_DIR", str(store_dir))
    sentences = tmp_path / "mine.txt"
    sentences.write_text("Our own workshop sentence.\n\n# a comment\nAnother one here.\n", encoding="utf-8")
    rc = model_kit.main(["--models", REPO, "--sentences", str(sentences), "--no-progress"])
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 0, captured.out + captured.err
    assert _ready()
    entries = list(store_dir.glob("*.npz"))
    assert len(entries) == 6 + 2 + 2  # the six examples, the she/he pair, two own sentences
    assert "ready" in out and REPO in out
    # offline now: the engine answers every kit sentence from the store without loading the model
    monkeypatch.setenv("ATTENTION_DASHBOARD_OFFLINE", "1")
    from core.attention.engine import AttentionEngine
    from core.attention.store import ResultStore

    def no_loading(mid):
        raise AssertionError("the model should not load")

    eng = AttentionEngine(store=ResultStore(store_dir), loader=no_loading)
    for text in model_kit.kit_sentences(sentences):
        assert eng.peek(REPO, text) is not None


def test_model_kit_reports_a_broken_connection_clearly(fake_hub, hub_cache, monkeypatch, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import model_kit
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    fake_hub.break_file = "model.safetensors"
    fake_hub.break_after = 200_000
    rc = model_kit.main(["--models", REPO, "--no-progress", "--no-precompute"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "connection broke" in (captured.out + captured.err)
    assert not _ready() and not _leftovers(hub_cache)
