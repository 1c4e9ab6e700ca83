"""BertViz views in a real headless Chromium against a real `streamlit run`, offline.

Starts `streamlit run tests/browser/bertviz_app.py` on a free port (HF_HUB_OFFLINE=1), drives
Debian's /usr/bin/chromium with Playwright, and blocks (and records) every request to a host
other than localhost: the views must draw with no CDN. Marked `browser`; skipped only when
/usr/bin/chromium or the playwright package is missing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "browser" / "bertviz_app.py"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} (Debian's chromium) is not installed"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(ROOT),
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(ROOT / ".pytest_cache" / f"bertviz_streamlit_{port}.log", "wb") if (ROOT / ".pytest_cache").is_dir() \
        else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit code {proc.poll()})")
            time.sleep(0.2)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if log is not subprocess.DEVNULL:
            log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, tmp_path):
    """A fresh page whose every non-local request is aborted and recorded in page.blocked."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.blocked = blocked  # type: ignore[attr-defined]
    pg.errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()
    assert blocked == [], f"requests to non-local hosts were attempted: {blocked}"


def _url(base: str, **params: str) -> str:
    return base + "/?" + "&".join(f"{k}={quote(v)}" for k, v in params.items())


def _expected_lines(page, timeout: float = 120.0) -> int:
    # The module's first page is a cold start (torch import, model load): on a busy 2-core machine
    # that alone has taken more than 30 s.
    cap = page.get_by_text("expected lines:").first
    cap.wait_for(timeout=timeout * 1000)
    return int(cap.inner_text().rsplit(":", 1)[1].strip())


def _view_frame(page, timeout: float = 30.0):
    """The frame in which BertViz drew (nested inside the component, or the plain iframe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in page.frames:
            if f is page.main_frame:
                continue
            try:
                if f.locator("svg line").count() > 0:
                    return f
            except Exception:  # noqa: BLE001 - frame detached while re-rendering
                continue
        # page.wait_for_timeout, not time.sleep: the sync API runs the route handlers (and
        # so lets requests through) only while we are inside a Playwright call.
        page.wait_for_timeout(200)
    raise AssertionError("no attention line was drawn in any frame")


def _settled_line_count(frame, expected: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        n = frame.locator("svg line").count()
        if n >= expected:
            return n
        frame.page.wait_for_timeout(200)
    return n


def _painted_everywhere(page) -> None:
    """Return once every frame has painted twice more (a frame that is gone is skipped)."""
    for f in page.frames:
        try:
            f.evaluate("() => new Promise(r => { requestAnimationFrame(() => requestAnimationFrame(() => r(true))); "
                   "setTimeout(() => r(false), 2000); })")
        except Exception:  # noqa: BLE001 - frame detached while re-rendering
            continue


def _pwned(page) -> list:
    values = []
    for f in page.frames:
        try:
            values.append(f.evaluate("() => [window.__pwned === undefined ? null : window.__pwned, "
                                     "!!document.getElementById('pwn')]"))
        except Exception:  # noqa: BLE001
            values.append(["detached", False])
    return values


def test_head_view_draws_attention_lines(server, page):
    page.goto(_url(server, view="head", text="The cat sat on the mat."))
    expected = _expected_lines(page)  # one layer: heads x n x n
    frame = _view_frame(page)
    assert _settled_line_count(frame, expected) == expected > 0
    assert frame.locator("select#layer option").count() == 6
    assert frame.evaluate("() => window.__bertvizVendor.d3") == "5.7.0"


def test_model_view_draws_every_thumbnail(server, page):
    page.goto(_url(server, view="model", text="The cat sat on the mat."))
    expected = _expected_lines(page)  # 6 layers x 12 heads x n x n
    frame = _view_frame(page)
    assert _settled_line_count(frame, expected) == expected
    assert frame.locator("rect.attn_background").count() == 6 * 12


def test_sentence_pair_mode_has_the_filter(server, page):
    page.goto(_url(server, view="head", text="Where is the cat?", pair="On the mat."))
    frame = _view_frame(page)
    names = frame.locator("select#filter option").all_inner_texts()
    assert names[0] == "All" and len(names) == 5
    frame.select_option("select#filter", "3")  # Sentence A -> Sentence B: fewer lines, still drawn
    assert frame.locator("svg line").count() > 0


def test_thumbnail_click_becomes_the_selection_on_another_page(server, page):
    page.goto(_url(server, view="model", text="Attention heads look at different tokens."))
    frame = _view_frame(page)
    page.get_by_text("Selected: layer -, head -").wait_for(timeout=20_000)
    # The click region is the last <rect> of the thumbnail's <g> (layer 2, head 5).
    frame.locator("g:has(> rect#attn_background_2_5) > rect:last-child").click()
    page.get_by_text("Selected: layer 2, head 5").wait_for(timeout=20_000)
    frame = _view_frame(page)
    frame.locator("g:has(> rect#attn_background_4_11) > rect:last-child").click()
    page.get_by_text("Selected: layer 4, head 11").wait_for(timeout=20_000)
    page.get_by_role("link", name="Selection").click()
    page.get_by_role("heading", name="Selection").wait_for(timeout=20_000)
    page.get_by_text("Selected: layer 4, head 11").wait_for(timeout=20_000)


def test_head_view_layer_choice_is_reported(server, page):
    page.goto(_url(server, view="head", text="Layers are chosen in the dropdown."))
    frame = _view_frame(page)
    frame.select_option("select#layer", "3")
    page.get_by_text("Selected: layer 3, head -").wait_for(timeout=20_000)


@pytest.mark.parametrize("plain", ["0", "1"], ids=["component", "plain"])
def test_hostile_tokens_and_labels_do_not_execute(server, page, plain):
    hostile_text = "</script><script>window.__pwned=1</script> <img src=x onerror=window.__pwned=2>"
    page.goto(_url(server, view="model", text=hostile_text, hostile="1", plain=plain, max_tokens="24"))
    frame = _view_frame(page)
    assert frame.locator("svg line").count() > 0  # it drew, with the hostile labels as text
    frame.locator("g:has(> rect#attn_background_0_0) > rect:last-child").click()  # detail shows labels
    texts = frame.locator("text.token").evaluate_all("els => els.map(e => e.textContent)")
    assert "</script><script>window.__pwned=1</script>" in texts
    names = frame.locator("select#filter option").all_inner_texts() if frame.locator("select#filter").count() else []
    assert not names or names[1].startswith("</script><b id=pwn>A")
    _painted_everywhere(page)  # whatever the click drew (and any script in it) has had its turn
    assert all(v == [None, False] for v in _pwned(page)), _pwned(page)
    assert page.errors == [], page.errors


def test_hostile_pair_names_in_head_view(server, page):
    page.goto(_url(server, view="head", text="first <b>x</b>", pair="second ]]> y", hostile="1"))
    frame = _view_frame(page)
    names = frame.locator("select#filter option").all_inner_texts()
    assert names[1] == "</script><b id=pwn>A -> </script><b id=pwn>A"
    assert all(v == [None, False] for v in _pwned(page)), _pwned(page)
