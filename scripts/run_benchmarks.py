"""Run every benchmark and write docs/benchmarks.md (the machine, then a table per section).

    .venv/bin/python scripts/run_benchmarks.py [--only startup,engine,...] [--out docs/benchmarks.md] [--quick]

Sections (keys for --only): startup (scripts/bench_startup.py), engine (bench_engine.py),
analysis (bench_analysis.py), charts (bench_charts.py), bertviz (bench_bertviz.py), pages
(bench_pages.py), compare (bench_compare.py: the Compare page's rerun after a head change with
two models loaded, goal <= 100 ms server side; first and repeat model switch; server RSS with two
models loaded), corpus (bench_corpus.py: run_corpus in sentences/s at batch 16 and 64 against a
bare length-sorted batched loop with the same statistics, goal >= 0.9x at both; peak memory growth
from 1,000 to 10,000 sentences, goal < 50 MB), load (bench_load.py: 20, 45 and 100 users at once on
the Single head page of one `streamlit run`, each its own websocket session: latency p50/p95/max,
errors, server CPU and RSS), browser (bench_browser.py: what a user waits for in headless Chromium, every page x
interaction x size, each figure beside its goal). Each runs in its own fresh Python process (so a
first model load is really a first load, and one benchmark's caches cannot flatter another), one
after the other; a failure is written into the report and the others still run. Each section's
table comes from its script's `markdown(rows)` (or `to_markdown`); the summary at the top lists
every figure that has a goal, with pass/fail. Takes about 25-30 minutes on 2 cores (browser about
10, corpus about 3, load about 5, compare about 1-2).

--quick passes quick=True to every section whose `run()` takes it (compare: 2 repeats at 16
tokens; corpus: 64 sentences, 1 repeat, memory 200 vs 1,000 sentences, no verdicts; load: 5 and
10 users for 15 s), a check that
they work, marked "quick" in the report; the other sections run in full. Do not publish a quick
report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
for p in (str(ROOT), str(SCRIPTS)):
    if p not in sys.path:
        sys.path.insert(0, p)

# (key, title, module, what it measures)
SECTIONS = [
    ("startup", "Start-up", "bench_startup",
     "`streamlit run` to the first chart drawn in headless Chromium: cold (fresh process) and warm (new session)."),
    ("engine", "Engine", "bench_engine",
     "Forward pass vs full extraction on the bundled all-MiniLM-L6-v2; cached repeats; model load."),
    ("analysis", "Analysis", "bench_analysis",
     "Head statistics, rollout, flow, norms and other core.analysis work per text."),
    ("charts", "Charts", "bench_charts", "Building the Altair charts (core.charts)."),
    ("bertviz", "BertViz", "bench_bertviz",
     "BertViz HTML size and time to the first attention line in Chromium, ours vs stock."),
    ("pages", "Pages", "bench_pages",
     "Server-side rerun after changing only the head, per page and n; bytes each page sends at n = 512."),
    ("compare", "Compare", "bench_compare",
     "The Compare page in AppTest with two real models loaded (the bundled all-MiniLM-L6-v2 and a registered "
     "copy): rerun after A's or B's head change (goal <= 100 ms server side), first and repeat switch of B's "
     "model, server RSS with two (then three) models loaded."),
    ("corpus", "Corpus", "bench_corpus",
     "Corpus mode on the bundled model (CPU): run_corpus in sentences/s at batch 16 and 64 against a bare "
     "loop that sorts the sentences by length, then per batch tokenizes, runs one forward pass with attentions "
     "and the same vectorised batch statistics (goal >= 0.9x at both), by wall clock and CPU time, and each "
     "loop's CPU time outside forward passes; peak RSS of 1,000 and 10,000 sentences in fresh processes "
     "(goal: growth < 50 MB)."),
    ("load", "Load", "bench_load",
     "20, 45 and 100 virtual users at once on the Single head page of one `streamlit run` (127.0.0.1), each "
     "its own session over Streamlit's websocket protocol: 1-3 s think time, head and layer changes, a text "
     "change in one action of five, every answer checked to be the session's own heatmap. Latency p50 / p95 / "
     "max, errors, server CPU and RSS, the client's CPU and the machine's load average (a shared machine: read "
     "the figures with it). Goal: p95 <= 1 s with 0 errors at 100 users. Then the same client against "
     "Streamlit's least page with no model (scripts/bench_load_floor_app.py): what the framework itself serves "
     "on the machine."),
    ("browser", "Browser", "bench_browser",
     "What a user waits for in headless Chromium against `streamlit run`: text committed, page opened by its "
     "link, head (layer) changed, on every page at 16, 64, 256 and 512 tokens, until drawn; plus the cold "
     "first start and the first chart in a warm new browser profile."),
]

CHILD = r"""
import json, os, sys, time
sys.path[:0] = [{root!r}, {scripts!r}]
os.chdir({root!r})
import {module} as m
t = time.perf_counter()
if hasattr(m, "run"):
    import inspect
    quick = {quick!r} and "quick" in inspect.signature(m.run).parameters
    rows = m.run(quick=True) if quick else m.run()
else:  # a script with only main(): keep what it prints
    import contextlib, io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.main()
    rows = [{{"_markdown": buf.getvalue()}}]
json.dump({{"rows": rows, "seconds": time.perf_counter() - t}}, open({out!r}, "w"), default=str)
"""


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
        info["CPU"] = models[0] if models else platform.processor() or platform.machine()
    except OSError:
        info["CPU"] = platform.processor() or platform.machine()
    info["cores"] = str(os.cpu_count())
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        info["RAM"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    info["OS"] = f"{platform.system()} {platform.release()}"
    info["Python"] = platform.python_version()
    for dist in ("torch", "transformers", "streamlit", "altair", "playwright"):
        try:
            from importlib.metadata import version

            info[dist] = version(dist)
        except Exception:  # noqa: BLE001
            info[dist] = "not installed"
    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=20)
        info["Chromium"] = chromium.stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        info["Chromium"] = "not installed"
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    info["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info["load average (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    return info


def run_section(module: str, timeout: float, quick: bool = False) -> tuple[list[dict] | None, float, str | None]:
    """Run `module.run()` (or `run(quick=True)`) in a fresh Python; returns (rows, seconds, error)."""
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        out = Path(tmp) / "rows.json"
        code = CHILD.format(root=str(ROOT), scripts=str(SCRIPTS), module=module, out=str(out), quick=quick)
        env = dict(os.environ, HF_HUB_OFFLINE="1", ATTENTION_DASHBOARD_OFFLINE="1",
                   HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0, f"timed out after {timeout:.0f} s"
        took = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-8:]
            return None, took, f"exit {proc.returncode}: " + " / ".join(tail)[-900:]
        data = json.loads(out.read_text())
        return data["rows"], took, None


def _render(module: str, rows: list[dict]) -> str:
    if rows and "_markdown" in rows[0]:
        text = str(rows[0]["_markdown"]).strip()
        return text if text.startswith("|") else f"```text\n{text}\n```"
    try:
        mod = importlib.import_module(module)
        for name in ("markdown", "to_markdown"):
            fn = getattr(mod, name, None)
            if callable(fn):
                return str(fn(rows))
    except Exception:  # noqa: BLE001 - fall back to the generic table
        pass
    return generic_table(rows)


def _fmt_value(row: dict) -> str:
    v = row.get("value")
    if isinstance(v, (int, float)):
        return "n/a" if v != v else f"{v:,.3g} {row.get('unit', '')}".strip()
    return str(v)


def generic_table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if {"metric", "value"} <= set(keys):
        lines = ["| metric | n | value | goal | result |", "|---|---:|---:|---|---|"]
        for r in rows:
            verdict = "" if r.get("passed") is None else ("pass" if r["passed"] else "**FAIL**")
            n = r.get("n_tokens")
            lines.append(f"| {r['metric']}{' · ' + str(r['page']) if r.get('page') else ''} | {'' if n is None else n} "
                         f"| {_fmt_value(r)} | {r.get('goal') or '-'} | {verdict or '-'} |")
        return "\n".join(lines)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def summary(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| section | figure | value | goal | result |", "|---|---|---:|---|---|"]
    for key, title, _, _ in SECTIONS:
        res = results.get(key)
        if res is None:
            continue
        if res["error"]:
            lines.append(f"| {title} | (benchmark failed) | - | - | **ERROR**: {res['error'][:160]} |")
            continue
        for r in res["rows"] or []:
            if r.get("passed") is None:
                continue
            n = r.get("n_tokens")
            what = r.get("metric", "")
            if r.get("page"):
                what += f" · {r['page']}"
            if n is not None:
                what += f" · n={n}"
            verdict = "pass" if r["passed"] else "**FAIL**"
            goal = str(r.get("goal") or "-").split(" (largest")[0]
            lines.append(f"| {title} | {what} | {_fmt_value(r)} | {goal} | {verdict} |")
    return "\n".join(lines)


def write_report(results: dict[str, dict[str, Any]], info: dict[str, str], out: Path, total_s: float,
                 quick: bool = False) -> None:
    parts = ["# Benchmarks", "",
             "Written by `.venv/bin/python scripts/run_benchmarks.py` (every benchmark, each in a fresh "
             "process, one after the other). Goals come from the project's issues; each figure has its goal "
             "beside it.", ""]
    if quick:
        parts += ["**Quick run (`--quick`): the compare, corpus and load sections ran with fewer sentences, "
                  "repeats or users; their figures are rough.**", ""]
    parts += ["## Machine", "", "| | |", "|---|---|"]
    parts += [f"| {k} | {v} |" for k, v in info.items()]
    parts += [f"| total run time | {total_s / 60:.1f} min |", "", "## Every figure with a goal", "",
              summary(results), ""]
    for key, title, module, what in SECTIONS:
        res = results.get(key)
        if res is None:
            continue
        parts += [f"## {title}", "", f"{what} (`scripts/{module}.py`, {res['seconds']:.0f} s)", ""]
        if res["error"]:
            parts += [f"**This benchmark failed:** `{res['error']}`", ""]
            continue
        parts += [res["table"], ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated section keys: " + ",".join(k for k, *_ in SECTIONS))
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds per benchmark")
    p.add_argument("--quick", action="store_true",
                   help="sections that have a quick mode (compare, corpus, load) run it: a check, not a report")
    args = p.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for key, title, module, _ in SECTIONS:
        if only and key not in only:
            continue
        print(f"== {title} ({module}) ...", file=sys.stderr, flush=True)
        if not (SCRIPTS / f"{module}.py").exists():
            results[key] = {"rows": None, "seconds": 0.0, "error": f"scripts/{module}.py is missing", "table": ""}
            continue
        rows, took, error = run_section(module, args.timeout, args.quick)
        table = ""
        if rows is not None:
            try:
                table = _render(module, rows)
            except Exception:  # noqa: BLE001
                table = generic_table(rows)
                error = None
                traceback.print_exc()
        results[key] = {"rows": rows, "seconds": took, "error": error, "table": table}
        print(f"   {took:.0f} s" + (f"  ERROR: {error}" if error else ""), file=sys.stderr, flush=True)
    write_report(results, info, Path(args.out), time.perf_counter() - t0, args.quick)
    buf = io.StringIO()
    with redirect_stdout(buf):
        print(summary(results))
    print(buf.getvalue())
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(not r["error"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
