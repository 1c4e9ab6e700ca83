"""Benchmark: BertViz HTML size and time until the first attention line is drawn, ours vs stock.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_bertviz.py [--tokens 16 64 128] [--views model head]

For each token count the bundled all-MiniLM-L6-v2 (6 layers x 12 heads) gives one set of
attention tensors; every variant below is built from those same tensors:

  ours (app)     core.render.bertviz with its default budget (what the app sends; at 128 tokens
                 the model view is cut to fit, see the notes column)
  ours (full)    core.render.bertviz with the budget off: every layer and head, rounded, once
  stock          bertviz 1.4.1's html_action="return" output as is: it loads require.js, d3 and
                 jQuery from cdnjs, so with the network blocked (as here) it never draws
  stock+local    the same stock HTML with only the CDN script tag / require.config replaced by our
                 local vendor bundle: NO rounding, NO de-duplication, NO escaping. This is how the
                 stock draw time is measured offline.

Time to first line: milliseconds from navigation start (file:// page in headless Debian
chromium, every non-file request aborted) until a MutationObserver first sees an SVG <line>.
BertViz draws all lines of a render in one synchronous task, so this is also when the whole
first render is in the DOM. `lines` is the number of <line> elements then.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage"]
WORDS = ("the quick brown fox jumps over the lazy dog while a bird sings in the old oak tree and "
         "children play near the river bank").split()

_OBSERVER = """
(() => {
  window.__bench = {first: null, lines: 0};
  const check = () => {
    const n = document.getElementsByTagName('line').length;
    if (n > 0 && window.__bench.first === null) {
      window.__bench.first = performance.now();
      window.__bench.lines = n;
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();
"""


def _result(n: int):
    from core.attention.extract import extract
    from core.models.loading import load_model

    loaded = load_model("all-MiniLM-L6-v2")
    text = " ".join(WORDS[i % len(WORDS)] for i in range(4 * n))
    result = extract(loaded, text, max_tokens=n)
    assert result.n_tokens == n, (result.n_tokens, n)
    return result


def _measure(browser, path: Path, timeout_s: float) -> tuple[float | None, int, int]:
    """(ms to first line or None, lines, blocked requests) for one file:// page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "about:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    context.add_init_script(_OBSERVER)
    page = context.new_page()
    try:
        page.goto(path.as_uri(), wait_until="commit", timeout=timeout_s * 1000)
        deadline = time.monotonic() + timeout_s
        first = None
        lines = 0
        while time.monotonic() < deadline:
            state = page.evaluate("() => window.__bench || null")
            if state and state["first"] is not None:
                first, lines = float(state["first"]), int(state["lines"])
                break
            page.wait_for_timeout(50)
        return first, lines, len(blocked)
    finally:
        context.close()


def run(tokens: tuple[int, ...] = (16, 64, 128), views: tuple[str, ...] = ("model", "head"),
        repeat: int = 1, timeout_s: float = 180.0, stock_timeout_s: float = 4.0) -> list[dict]:
    """Build every variant, time it in headless chromium, return one dict per row."""
    from playwright.sync_api import sync_playwright

    from core.render import bertviz as be

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_bertviz_") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            for n in tokens:
                result = _result(n)
                for kind in views:
                    build = be.build_model_view if kind == "model" else be.build_head_view
                    t0 = time.perf_counter()
                    app = build(result)
                    t_app = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    full = build(result, options=be.BertvizOptions(auto_fit=False, budget_bytes=10**10,
                                                                   max_lines=10**10))
                    t_full = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    stock = be.stock_html(kind, result.attention, result.display_tokens)
                    t_stock = time.perf_counter() - t0
                    local = be.localize_stock_html(stock)
                    variants = [
                        ("ours (app)", app.html, t_app,
                         (f"budget cut: layers {list(app.layers)}, {len(app.heads)} heads, tokens "
                          f"{app.token_range[0]}-{app.token_range[1] - 1}") if app.notes else "all layers and heads",
                         timeout_s),
                        ("ours (full)", full.html, t_full, "all layers and heads, budget off", timeout_s),
                        ("stock", stock, t_stock, "CDN scripts: blocked offline", stock_timeout_s),
                        ("stock+local", local, t_stock, "stock HTML, CDN swapped for our local libs only",
                         timeout_s),
                    ]
                    for name, html, t_build, note, limit in variants:
                        path = Path(tmp) / f"{kind}_{n}_{name.replace(' ', '_').replace('(', '').replace(')', '')}.html"
                        path.write_text(html, encoding="utf-8")
                        times, lines, blocked = [], 0, 0
                        for _ in range(repeat if name != "stock" else 1):
                            first, lines, blocked = _measure(browser, path, limit)
                            if first is None:
                                break
                            times.append(first)
                        rows.append({
                            "tokens": n, "view": kind, "variant": name,
                            "html_bytes": len(html.encode("utf-8")),
                            "build_s": round(t_build, 3),
                            "first_line_ms": round(statistics.median(times)) if times else None,
                            "lines": lines, "blocked_requests": blocked, "note": note,
                        })
                        print(_fmt_row(rows[-1]), file=sys.stderr, flush=True)
        finally:
            browser.close()
    return rows


def _fmt_row(r: dict) -> str:
    first = "never drew" if r["first_line_ms"] is None else f"{r['first_line_ms']:,}"
    return (f"| {r['tokens']} | {r['view']} | {r['variant']} | {r['html_bytes'] / 1e6:.2f} | {first} | "
            f"{r['lines']:,} | {r['blocked_requests']} | {r['build_s']:.2f} | {r['note']} |")


def to_markdown(rows: list[dict]) -> str:
    head = ("| tokens | view | variant | HTML MB | first line ms | lines drawn | blocked requests | "
            "build s | note |\n|---|---|---|---|---|---|---|---|---|")
    return "\n".join([head] + [_fmt_row(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[16, 64, 128])
    ap.add_argument("--views", nargs="+", default=["model", "head"], choices=["model", "head"])
    ap.add_argument("--repeat", type=int, default=3, help="page loads per variant (median)")
    ap.add_argument("--timeout", type=float, default=180.0)
    args = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: install Debian's chromium", file=sys.stderr)
        return 2
    rows = run(tuple(args.tokens), tuple(args.views), args.repeat, args.timeout)
    print(to_markdown(rows))
    print("\nstock never draws offline (its require.js/d3/jQuery come from cdnjs, blocked here); "
          "'stock+local' is stock's HTML with only those libraries served locally (no rounding, "
          "no de-duplication, no escaping) so its draw time can be measured.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
