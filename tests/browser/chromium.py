"""Debian's Chromium for the browser tests: `launch_browser()` starts /usr/bin/chromium through
Playwright (never a downloaded browser) with a fresh temporary profile; every non-local host is
unreachable; `Offline` routes or records requests to outside hosts, so tests can assert nothing
outside was needed; RUN_COUNTER_JS counts script runs in a page.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("ATTENTION_DASHBOARD_CHROMIUM", "/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    # Every non-local host is unreachable at the resolver too (the Offline route handler records
    # and aborts them first; contexts without routing, which keep the HTTP cache, rely on this).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]

requires_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")


@dataclass
class Offline:
    """Route handler: requests to non-local hosts are aborted and recorded."""

    blocked: list[str] = field(default_factory=list)

    def needed(self) -> list[str]:
        """Blocked requests other than the tab's favicon (which nothing on the page needs to draw)."""
        return [u for u in self.blocked if not is_favicon(u)]

    def record(self, request: Any) -> None:
        """Request listener (contexts without routing, which keep the HTTP cache: outside hosts
        are unreachable at the resolver, CHROMIUM_ARGS): record any request to one."""
        url = request.url
        host = urllib.parse.urlsplit(url).hostname or ""
        if not (url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS or f"[{host}]" in LOCAL_HOSTS):
            self.blocked.append(url)

    def handle(self, route: Any) -> None:
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS or f"[{host}]" in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    async def ahandle(self, route: Any) -> None:
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            await route.continue_()
        else:
            self.blocked.append(url)
            await route.abort("internetdisconnected")


def is_favicon(url: str) -> bool:
    # st.set_page_config(page_icon=":material/...:") makes the tab icon an SVG from fonts.gstatic.com
    return "fonts.gstatic.com/s/i/short-term/release/materialsymbols" in url or url.endswith("favicon.ico")


def launch_browser(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (Playwright gives it a fresh temporary profile)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


async def alaunch_browser(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# Counts script runs (transitions of stApp's data-test-script-state to "running") and records
# any JavaScript dialog-free execution marker a hostile payload could leave (window.__pwned).
RUN_COUNTER_JS = """
(() => {
  window.__runs = 0;
  const seen = new WeakMap();
  const obs = new MutationObserver(muts => {
    for (const m of muts) {
      const el = m.target;
      if (el.getAttribute && el.getAttribute('data-testid') === 'stApp') {
        const s = el.getAttribute('data-test-script-state');
        if (s === 'running' && seen.get(el) !== 'running') window.__runs += 1;
        seen.set(el, s);
      }
    }
  });
  const start = () => obs.observe(document.documentElement, {subtree: true, attributes: true,
                                                            attributeFilter: ['data-test-script-state']});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""
