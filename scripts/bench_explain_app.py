"""Benchmark the "Does it matter?" pages on the bundled model (2 cores, 32 tokens): a masked-word
rerun of the Interventions page, server-side and in the browser.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_explain_app.py [--repeats N] [--no-browser] [--json]

- server: the whole page script (router, sidebar, page) rerun with AppTest after one more word
  is picked to mask: a new InterventionOf request each time (the masked forward pass, the
  before/after attention and the charts), median over the words; goal <= 150 ms;
- browser: the same pick in headless Chromium against `streamlit run` (Debian's chromium): from
  the click on the option to "drawn" (scripts/browser_drawn.py's DRAWN: the run over, every chart
  drawn and settled), median; goal <= 0.5 s.

Importable: `run() -> list[dict]` with the schema of the other bench scripts; `markdown(rows)`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench_common import text_with_tokens  # noqa: E402 - sets the offline env first

ROOT = Path(__file__).resolve().parent.parent
N_TOKENS = 32
PAGE = "pages/interventions.py"
GOALS = {"server_ms": 150.0, "browser_s": 0.5}


def _row(metric: str, value: float, unit: str, goal: str = "", passed: bool | None = None) -> dict:
    return {"benchmark": "explain_app", "metric": metric, "n_tokens": N_TOKENS, "value": round(float(value), 4),
            "unit": unit, "goal": goal, "passed": passed}


def _text_and_words() -> tuple[str, list[int], list[str]]:
    from core.explain.inputs import prepare
    from core.models.loading import load_model
    from core.models.registry import BUNDLED_MODEL_ID

    loaded = load_model(BUNDLED_MODEL_ID, device="cpu")
    text = text_with_tokens(loaded.tokenizer, N_TOKENS)
    s = prepare(loaded, text)
    words = [int(w) for w in s.content_words()]
    return text, words, [s.words[w] for w in words]


def server(repeats: int) -> list[dict]:
    """AppTest reruns of the Interventions page, each masking one more word."""
    sys.path.insert(0, str(ROOT))
    from tests.app.apptest_util import exceptions_of, make_app

    text, words, _ = _text_and_words()
    at = make_app(PAGE, text=text)  # loads the model, warms every cache the page shares
    picked: list[int] = []
    times = []
    for w in words[: repeats + 1]:
        picked.append(w)
        at.session_state["maskw"] = list(picked)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        if exceptions_of(at):
            raise RuntimeError(exceptions_of(at))
    ms = statistics.median(times[1:]) * 1000  # the first pick also builds what later picks share
    return [_row("Interventions: mask one more word, whole script rerun (AppTest)", ms, "ms",
                 f"<= {GOALS['server_ms']:g} ms", ms <= GOALS["server_ms"])]


def browser(repeats: int) -> list[dict]:
    """The same pick in Chromium: click the option, wait until drawn. Beside it, on the same server
    and load, a head change on Single head (an interaction the browser benchmark also times), so a
    busy machine's stretch can be read off; CPU seconds (server + browser) as bench_browser counts them."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_startup import _cpu_seconds
    from browser_drawn import MONITOR_JS, READY_JS, measure
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import RUN_COUNTER_JS, cached_context, choose, launch_browser, streamlit_server

    text, _, labels = _text_and_words()
    unique = [w for w in dict.fromkeys(labels) if labels.count(w) == 1 and w.isalpha()]
    picks: list[tuple[float, float]] = []
    heads: list[tuple[float, float]] = []
    with sync_playwright() as pw, streamlit_server() as srv:
        chromium = launch_browser(pw)
        cdp = chromium.new_browser_cdp_session()

        def cpu() -> float:
            procs = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
            return _cpu_seconds(srv.pid) + sum(float(p.get("cpuTime", 0.0)) for p in procs)

        context, _ = cached_context(chromium)
        context.add_init_script(RUN_COUNTER_JS)
        context.add_init_script(MONITOR_JS)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(srv.page_url("interventions", text=text), wait_until="commit")
        page.wait_for_function(READY_JS, timeout=180_000, polling=50)
        for word in unique[: repeats + 1]:
            def pick(w: str = word) -> None:
                box = page.locator('input[role="combobox"][aria-label*="Words to mask"]').first
                box.click()
                box.fill(w)
                page.get_by_role("option", name=w, exact=True).first.click()
            got = measure(page, pick, cpu=cpu)
            picks.append((got["drawn"], got["cpu"]))
            print(f"  mask {word}: drawn {got['drawn']:.3f} s, run over {got['run_end']:.3f} s, "
                  f"CPU {got['cpu']:.2f} s", file=sys.stderr)
            page.keyboard.press("Escape")
        page.close()
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(srv.page_url("single_head", text=text), wait_until="commit")
        page.wait_for_function(READY_JS, timeout=180_000, polling=50)
        for head in range(1, repeats + 2):
            got = measure(page, lambda h=head: choose(page, "Head", str(h)), cpu=cpu)
            heads.append((got["drawn"], got["cpu"]))
            print(f"  Single head, head {head}: drawn {got['drawn']:.3f} s, CPU {got['cpu']:.2f} s", file=sys.stderr)
        chromium.close()
    s = statistics.median(t for t, _ in picks[1:])
    return [_row("Interventions: mask one more word, click to chart drawn (Chromium)", s, "s",
                 f"<= {GOALS['browser_s']:g} s", s <= GOALS["browser_s"]),
            _row("  ... CPU seconds of that step (server + browser)", statistics.median(c for _, c in picks[1:]), "s"),
            _row("  ... beside it, same server and load: Single head, head changed", statistics.median(
                t for t, _ in heads[1:]), "s"),
            _row("  ... its CPU seconds", statistics.median(c for _, c in heads[1:]), "s")]


def run(repeats: int = 7, with_browser: bool = True) -> list[dict]:
    rows = server(repeats)
    if with_browser:
        rows += browser(repeats)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| measurement | tokens | value | goal | met |", "|---|---|---|---|---|"]
    for r in rows:
        met = "" if r["passed"] is None else ("yes" if r["passed"] else "**no**")
        lines.append(f"| {r['metric']} | {r['n_tokens']} | {r['value']:g} {r['unit']} | {r['goal']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = run(args.repeats, not args.no_browser)
    print(json.dumps(rows, indent=2) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
