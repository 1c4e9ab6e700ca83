"""One interaction of the browser benchmark (scripts/bench_browser.py), timed from the user's
input event to "drawn" (DRAWN): the script every page gets (MONITOR_JS: the input clock, the
websocket's answers and the frame-by-frame drawn check), and `measure`, which does one input and
waits for the page to settle; `click_nav` opens a page by its sidebar link.
"""

from __future__ import annotations

import time
from typing import Any

SETTLE_S = 0.4         # "drawn" must hold, with no DOM change, this long before it is accepted
ACTION_TIMEOUT_S = 120.0
RUN_START_TIMEOUT_S = 30.0

DRAWN = (
    "Drawn = checked at every animation frame (requestAnimationFrame) in the page: the time of the "
    "frame AFTER the first frame at which all of (a)-(e) hold with no change since (so that first "
    "frame's style, layout and paint are inside the time), counted only if (a)-(e) then keep "
    f"holding with no change for {SETTLE_S:.1f} s (else the wait goes on). "
    "(a) stApp's data-test-script-state is notRunning and its connection state CONNECTED; "
    "(b) no run indicator: no [data-testid=\"stStatusWidget\"] in the document (Streamlit shows it "
    "0.5 s into a run and fades it out for 0.2 s after), no stSpinner / stSkeleton and no "
    "element still marked data-stale=\"true\" in the main area; "
    "(c) every displayed stVegaLiteChart in the main area has rendered: an svg.marks with non-zero "
    "width and height holding at least one mark group, or a canvas with non-zero size; "
    "(d) every displayed <img> in the main area is loaded (complete, naturalWidth > 0); "
    "(e) every displayed iframe in the main area (and the iframes inside it) has finished loading, "
    "and a BertViz view (the component's #bv-frame, or a document with a bertviz-* root) has drawn "
    "at least one svg <line>. "
    "The run must have happened: the page sent a message on Streamlit's websocket after the input "
    "and got at least one back (or stApp showed a run). "
    "The clock starts at the input event in the page (the click on the nav link or the option, "
    "the Ctrl+Enter keydown) and ends at that frame (both performance.now() in the page). "
    "A change is any mutation under [data-testid=\"stMain\"], a new document, readyState or line "
    "count in its iframes, or a websocket message from the server after the input; a change after "
    "(a)-(e) first hold restarts the wait, so a chart that vega-embed replaces after the run ended "
    "is waited for."
)

MONITOR_JS = r"""
(() => {
  if (window.__bb) return;
  // `active`: the frame loop runs from an input (or page load) until the bench has its answer, and
  // sleeps in between, so it costs no CPU while nothing is measured.
  const bb = window.__bb = {input: 0, lastMut: 0, st: 0, candAt: 0, drawnAt: null, runEnd: null,
                             reason: 'not started', sig: '', active: true, looping: false};
  bb.wake = () => { bb.active = true; if (!bb.looping) { bb.looping = true; requestAnimationFrame(tick); } };
  const mark = () => {
    bb.input = bb.lastMut = performance.now(); bb.sentAt = null; bb.answers = 0; bb.wake();
  };
  addEventListener('keydown', mark, true);
  addEventListener('click', mark, true);
  // The server's answer to the input: a message on Streamlit's websocket after the first message the
  // page sent after the input (a fast run can be over before React ever shows "running").
  bb.sentAt = null; bb.answers = 0;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      // Each answer counts as a change: "drawn" is judged only after the run's last message.
      this.addEventListener('message', () => {
        if (bb.sentAt !== null) { bb.answers += 1; bb.lastMut = performance.now(); }
      });
    }
    send(data) {
      if (bb.input && bb.sentAt === null) bb.sentAt = performance.now();
      return super.send(data);
    }
  };
  const docIds = new WeakMap(); let nextDoc = 1;
  const docId = d => { if (!docIds.has(d)) docIds.set(d, nextDoc++); return docIds.get(d); };
  const shown = el => el.getClientRects().length > 0;
  const isBertviz = (f, d) => f.id === 'bv-frame' || !!d.querySelector('[id^="bertviz-"]');
  function frame(f, out) {
    if (!shown(f)) return '';
    let d = null;
    try { d = f.contentDocument; } catch (e) { return ''; }
    if (!d) return '';  // cross-origin: nothing to read
    const lines = d.getElementsByTagName('line').length;
    out.push(docId(d) + ':' + d.readyState + ':' + lines);
    if (d.readyState !== 'complete') return 'iframe loading';
    for (const g of d.querySelectorAll('iframe')) { const r = frame(g, out); if (r) return r; }
    if (isBertviz(f, d) && !d.querySelector('svg line')) return 'bertviz not drawn';
    return '';
  }
  function cond(main, sig) {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) return 'no app';
    if (app.getAttribute('data-test-script-state') !== 'notRunning') return 'script running';
    const conn = app.getAttribute('data-test-connection-state');
    if (conn && conn !== 'CONNECTED') return 'not connected';
    if (document.querySelector('[data-testid="stStatusWidget"]')) return 'status widget';
    if (!main) return 'no main';
    if (main.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"]')) return 'spinner';
    if (main.querySelector('[data-stale="true"]')) return 'stale elements';
    for (const c of main.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
      if (!shown(c)) continue;
      const svg = c.querySelector('svg.marks');
      if (svg && +svg.getAttribute('width') > 0 && +svg.getAttribute('height') > 0
          && svg.querySelector('[class*="mark-"]')) continue;
      const cv = c.querySelector('canvas');
      if (cv && cv.width > 0 && cv.height > 0) continue;
      return 'chart not drawn';
    }
    for (const img of main.querySelectorAll('img')) {
      if (shown(img) && !(img.complete && img.naturalWidth > 0)) return 'image loading';
    }
    for (const f of main.querySelectorAll('iframe')) { const r = frame(f, sig); if (r) return r; }
    return '';
  }
  const obs = new MutationObserver(() => { bb.lastMut = performance.now(); });
  let observed = null;
  const stateObs = new MutationObserver(muts => {
    for (const m of muts) {
      if (m.target.getAttribute('data-test-script-state') === 'notRunning') bb.runEnd = performance.now();
    }
  });
  let stateTarget = null;
  function tick() {
    if (!bb.active) { bb.looping = false; return; }
    const now = performance.now();
    const main = document.querySelector('[data-testid="stMain"]');
    if (main !== observed) {
      obs.disconnect();
      if (main) obs.observe(main, {subtree: true, childList: true, attributes: true, characterData: true});
      observed = main; bb.lastMut = now;
    }
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app !== stateTarget) {
      stateObs.disconnect();
      stateObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
      stateTarget = app;
    }
    const sig = [];
    let reason = 'error';
    try { reason = cond(main, sig); } catch (e) { reason = 'error: ' + e; }
    const s = sig.join('|');
    if (s !== bb.sig) { bb.sig = s; bb.lastMut = now; }
    bb.reason = reason;
    if (reason) { bb.st = 0; bb.drawnAt = null; }
    else if (bb.st === 0 || bb.lastMut > bb.candAt) { bb.st = 1; bb.candAt = now; bb.drawnAt = null; }
    else if (bb.st === 1) { bb.st = 2; bb.drawnAt = now; }
    requestAnimationFrame(tick);
  }
  bb.wake();
})();
"""

# A freshly loaded page: a script run has been and the sidebar's text box is there, and DRAWN holds.
READY_JS = """() => !!window.__bb && (window.__runs || 0) >= 1 && window.__bb.st === 2
  && !!document.querySelector('[data-testid="stSidebar"] textarea[aria-label="Text"]')"""

STATE_JS = """() => ({runs: window.__runs || 0, answers: window.__bb.answers, st: window.__bb.st,
  drawnAt: window.__bb.drawnAt, lastMut: window.__bb.lastMut, now: performance.now(), input: window.__bb.input,
  runEnd: window.__bb.runEnd, reason: window.__bb.reason,
  exc: !!document.querySelector('[data-testid="stException"]')})"""


class Failed(RuntimeError):
    pass


NA = "n/a: "  # a result that is not a failure: the interaction does not exist on that page


def measure(page: Any, action: Any, *, settle: float = SETTLE_S, timeout: float = ACTION_TIMEOUT_S,
            cpu: Any = None) -> dict:
    """Do `action()` and wait until DRAWN; returns {"drawn": s, "run_end": s, "cpu": s}: seconds from
    the input event, and (given `cpu`, a callable) the CPU seconds it counts over the whole step."""
    from tests.browser.harness import runs

    before = runs(page)
    cpu0 = cpu() if cpu else float("nan")
    page.evaluate("() => { Object.assign(window.__bb, {input: 0, runEnd: null, sentAt: null, answers: 0}); "
                  "window.__bb.wake(); }")
    t0 = time.perf_counter()
    try:
        action()
    except Exception as err:  # noqa: BLE001 - a locator that never showed up, a closed listbox
        raise Failed(f"the input itself failed: {str(err).splitlines()[0][:160]}") from err
    page.mouse.move(700, 3)  # off the charts: no hover highlight or toolbar changes the DOM
    t1 = time.perf_counter()  # the input is in: a run must start within RUN_START_TIMEOUT_S of this
    started = False
    seen_at, cpu_then = None, cpu0  # the candidate "drawn" frame we last saw, and the CPU count then
    while True:
        s = page.evaluate(STATE_JS)
        waited = time.perf_counter() - t0
        if s["exc"]:
            raise Failed("an exception is shown on the page")
        if s["runs"] > before or s["answers"] > 0:
            started = True
        elif time.perf_counter() - t1 > RUN_START_TIMEOUT_S:
            raise Failed(f"no script run started within {RUN_START_TIMEOUT_S:.0f} s")
        if started and s["st"] == 2 and s["drawnAt"] is not None and s["drawnAt"] != seen_at:
            seen_at = s["drawnAt"]  # CPU counted to here: the settle time below is not the step's
            cpu_then = cpu() if cpu else float("nan")
        if (started and s["st"] == 2 and s["drawnAt"] is not None and s["lastMut"] <= s["drawnAt"]
                and s["now"] - s["drawnAt"] >= settle * 1000 and s["input"]):
            run_end = (s["runEnd"] - s["input"]) / 1000 if s["runEnd"] else float("nan")
            page.evaluate("() => { window.__bb.active = false; }")  # the frame loop sleeps till the next input
            return {"drawn": (s["drawnAt"] - s["input"]) / 1000, "run_end": run_end, "cpu": cpu_then - cpu0}
        if waited > timeout:
            raise Failed(f"not drawn after {timeout:.0f} s (last reason: {s['reason'] or 'DOM still changing'})")
        time.sleep(0.1)  # the times are the page's own; polling less often only costs less CPU


def click_nav(page: Any, title: str) -> None:
    """Click the sidebar link to the page whose title is `title`."""
    # Streamlit's own menu (stSidebarNav) or st.page_link links in the sidebar: the label is the
    # link text's last line (the icon's ligature comes first).
    links = page.locator('[data-testid="stSidebar"] a')
    find = """([title]) => Array.from(document.querySelectorAll('[data-testid="stSidebar"] a'))
        .findIndex(a => (a.innerText.trim().split('\\n').pop() || '').trim() === title)"""
    i = page.evaluate(find, [title])
    if i < 0:  # a collapsed navigation: "View more"
        more = page.locator('[data-testid="stSidebarNavViewButton"]')
        if more.count():
            more.first.click()
            i = page.evaluate(find, [title])
    if i < 0:
        raise Failed(f"no nav link labelled {title!r}")
    links.nth(i).click()
