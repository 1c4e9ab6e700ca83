"""The app under test: a real `streamlit run streamlit_app.py` on a free local port
(`StreamlitServer`, `streamlit_server`), and the pages it serves, from the one page table
(ui/page_table.py), with their addresses.

`StreamlitServer` starts `.venv/bin/streamlit run streamlit_app.py` (headless, 127.0.0.1, a free
port, no usage stats) in its own process group with the offline environment (HF_HUB_OFFLINE=1,
ATTENTION_DASHBOARD_OFFLINE=1), waits for /_stcore/health and kills the whole group on exit. Its
log is kept in a temporary file (`server.log_text()`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ui import page_table
from ui.page_table import PageRow

ROOT = Path(__file__).resolve().parents[2]
STREAMLIT = ROOT / ".venv" / "bin" / "streamlit"

# Every page comes from the one page table (ui/page_table.py): adding a page there adds it to
# every browser test. Tests name a page by its file stem ("single_head"), as before.
ROWS: tuple[PageRow, ...] = page_table.PAGES
ROW: dict[str, PageRow] = {row.name: row for row in ROWS}
PAGES: list[str] = [row.name for row in ROWS]
# The address a page is opened at: its row's address; the default page's canonical one is "/".
PAGE_PATHS: dict[str, str] = {row.name: ("" if row.default else row.address) for row in ROWS}
DEFAULT_PAGE: str = page_table.DEFAULT.name
# Pages that draw no Vega-Lite chart by design (tables / iframes / text only): PageRow.charts.
NO_VEGA: set[str] = {row.name for row in ROWS if not row.charts}


def min_charts(name: str) -> int:
    """How many drawn charts a first visit to page `name` waits for (1 where its row draws charts)."""
    return 1 if ROW[name].charts else 0


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1",
        "ATTENTION_DASHBOARD_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        # Every non-local host unreachable: HTTP clients that honour proxies (requests, httpx,
        # urllib, huggingface_hub) get a refused connection at once instead of trying the Internet.
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        # The app as shipped: the seed (assets/seed) on, whatever the test process set for itself.
        "ATTENTION_DASHBOARD_SEED": "on",
    })
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (VmRSS from /proc)."""
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) / 1024 if m else float("nan")


class StreamlitServer:
    """One `streamlit run streamlit_app.py` on 127.0.0.1:<free port>, in its own process group."""

    def __init__(self, *, extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 watcher: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            str(STREAMLIT), "run", "streamlit_app.py",
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
        ]
        if not watcher:
            # Tests do not need hot reload; the recursive watcher on a busy checkout only adds noise
            # (and CPU) on 2 cores. bench_startup measures the project's own config (watcher on).
            args += ["--server.fileWatcherType", "none"]
        self.args = args + list(extra_args or [])
        self.env = server_env(env)
        # Each server gets its own empty result store (core/result_store.py) unless the caller
        # passes ATTENTION_DASHBOARD_CACHE_DIR, e.g. to restart a server on an earlier one's store.
        self._own_cache: str | None = None
        if not (env or {}).get("ATTENTION_DASHBOARD_CACHE_DIR"):
            self._own_cache = tempfile.mkdtemp(prefix="attention_results_")
            self.env["ATTENTION_DASHBOARD_CACHE_DIR"] = self._own_cache
        self.log_file = tempfile.NamedTemporaryFile(prefix="streamlit_", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.healthy_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> StreamlitServer:
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy(timeout)
        self.healthy_at = time.perf_counter()
        return self

    def wait_healthy(self, timeout: float = 60.0, interval: float = 0.02) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if self.healthy():
                return
            time.sleep(interval)
        raise TimeoutError(f"streamlit did not answer /_stcore/health in {timeout} s:\n{self.log_text()[-3000:]}")

    def healthy(self, timeout: float = 10.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=timeout) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self) -> None:
        try:
            if self.proc is not None:
                if self.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGTERM)
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(self.proc.pid, signal.SIGKILL)
                        self.proc.wait(timeout=10)
                self.log_file.close()
        finally:
            if self._own_cache:  # also when the server never started
                shutil.rmtree(self._own_cache, ignore_errors=True)
                self._own_cache = None

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation -----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        self.log_file.flush()
        try:
            return Path(self.log_file.name).read_text(errors="replace")
        except OSError:
            return ""

    def tracebacks(self) -> list[str]:
        """Tracebacks in the server log that were NOT caught by the app (uncaught script errors)."""
        return [m for m in re.split(r"\n(?=\S)", self.log_text()) if "Traceback" in m]

    def page_url(self, page: str = "", **params: Any) -> str:
        """URL of a page by name (a file stem from the page table, see PAGE_PATHS) or a raw path,
        with query parameters."""
        page = PAGE_PATHS.get(page, page)
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        return f"{self.url}/{page}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def streamlit_server(**kwargs: Any) -> Iterator[StreamlitServer]:
    srv = StreamlitServer(**kwargs)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
