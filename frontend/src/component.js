// Streamlit component hosting one BertViz view (head view or model view) and reporting clicks.
//
// Python sends args {html, view_id, kind, layers, heads}; `html` is the complete page built by
// core/render/bertviz.py (payload escaped), whose libraries are linked as ./vendor.js: this
// component's folder (frontend/build) serves that file, so the browser caches it once instead of
// parsing 0.4 MB of inlined code with every view. The page is shown in a nested srcdoc iframe
// (same origin and base URL as this component frame), so BertViz's own code runs
// unchanged; this script only listens to the DOM BertViz draws and reports what the user picked:
//
//   {view: "model"|"head", layer: int, head: int|null, source: "thumbnail"|"layer-select"|
//    "head-square", nonce: int}
//
// layer/head are model indices (already mapped through the embedded subset `layers`/`heads`).
//
// `layer` (optional) is the app's selected layer: a head view opens on it (window.__bertvizLayer,
// read by core/render/bertviz.py's decoder), and a rerun that changes it moves the live view's
// layer box there without reloading the view; that move is not reported back.
import { Streamlit } from "streamlit-component-lib/dist/streamlit.js";

const frame = document.getElementById("bv-frame");
const statusEl = document.getElementById("bv-status");
let current = null; // {viewId, kind, layers, heads, layer}
let nonce = 0;
let applying = false; // true while this script moves the head view's layer box itself
let lastHeight = -1;
let watchTimer = null;

function setStatus(text) {
  statusEl.textContent = text;
  statusEl.style.display = text ? "block" : "none";
}

function report(layer, head, source) {
  if (!current || layer === null || layer === undefined || Number.isNaN(layer)) return;
  nonce += 1;
  const value = { view: current.kind, layer: layer, head: head, source: source, nonce: Date.now() * 1000 + (nonce % 1000) };
  window.__bvLastValue = value;
  Streamlit.setComponentValue(value);
}

function mapIndex(list, i) {
  return Array.isArray(list) && i >= 0 && i < list.length ? list[i] : i;
}

function onModelClick(target) {
  // model_view.js: each thumbnail is a <g> holding rect#attn_background_<li>_<hi>, the lines,
  // and a transparent click-region <rect> appended last (the click target).
  const group = target && target.parentNode;
  if (!group || !group.querySelector) return;
  const bg = group.querySelector("rect.attn_background");
  if (!bg || !bg.id) return;
  const m = /^attn_background_(\d+)_(\d+)$/.exec(bg.id);
  if (!m) return;
  report(mapIndex(current.layers, +m[1]), mapIndex(current.heads, +m[2]), "thumbnail");
}

function headViewLayer(doc) {
  const sel = doc.querySelector("select#layer");
  return sel && sel.value !== "" ? +sel.value : null;
}

function chosenLayer(args) {
  return Number.isInteger(args.layer) ? args.layer : null;
}

// Show the app's selected layer in a live head view (BertViz redraws on its box's change event).
// Returns false while the box is not drawn yet (the watch timer tries again).
function applyLayer() {
  if (!current || current.kind !== "head" || current.layer === null) return true;
  let doc;
  try { doc = frame.contentDocument; } catch (e) { return true; }
  const box = doc && doc.querySelector("select#layer");
  if (!box) return false;
  const want = String(current.layer);
  if (box.value === want || !Array.prototype.some.call(box.options, (o) => o.value === want)) return true;
  box.value = want;
  applying = true;
  try { box.dispatchEvent(new Event("change", { bubbles: true })); } finally { applying = false; }
  return true;
}

function onHeadClick(doc, target) {
  // head_view.js: the head squares are <rect>s in the one <g> without an id directly under <svg>.
  if (!target || target.tagName.toLowerCase() !== "rect") return;
  const group = target.parentNode;
  if (!group || group.id || !group.parentNode || group.parentNode.tagName.toLowerCase() !== "svg") return;
  const i = Array.prototype.indexOf.call(group.children, target);
  report(headViewLayer(doc), mapIndex(current.heads, i), "head-square");
}

function measure() {
  let doc;
  try { doc = frame.contentDocument; } catch (e) { return; }
  if (!doc || !doc.documentElement) return;
  const drawn = doc.querySelector("svg line");
  if (drawn) setStatus("");
  // The content's own height (documentElement.scrollHeight never drops below the frame's
  // current height, so a view that got smaller, e.g. scaled to the column width, would not shrink).
  const h = doc.body ? Math.ceil(doc.body.getBoundingClientRect().height) : 0;
  if (h && h !== lastHeight) {
    lastHeight = h;
    frame.style.height = h + "px";
  }
  Streamlit.setFrameHeight(document.body.scrollHeight);
}

function wire() {
  let doc;
  try { doc = frame.contentDocument; } catch (e) { doc = null; }
  if (!doc) { setStatus("The attention view could not be opened in this browser."); return; }
  doc.addEventListener("click", (e) => {
    if (!current) return;
    if (current.kind === "model") onModelClick(e.target);
    else onHeadClick(doc, e.target);
  });
  doc.addEventListener("change", (e) => {
    if (!current || current.kind !== "head") return;
    if (e.target && e.target.id === "layer" && !applying) report(+e.target.value, null, "layer-select");
  });
  try {
    const RO = frame.contentWindow.ResizeObserver;
    if (RO) new RO(measure).observe(doc.documentElement);
  } catch (e) { /* measured by the timer below */ }
  let ticks = 0;
  clearInterval(watchTimer);
  watchTimer = setInterval(() => {
    ticks += 1;
    measure();
    applyLayer();
    if (ticks === 40 && !doc.querySelector("svg line")) {
      setStatus("The attention view has not drawn yet (large input?). Try a smaller subset or the plain view.");
    }
    if (ticks >= 40) clearInterval(watchTimer);
  }, 250);
  measure();
}

frame.addEventListener("load", wire);

Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, (event) => {
  window.__bvRendered = true;
  const args = event.detail.args || {};
  const viewId = String(args.view_id || "");
  if (current && current.viewId === viewId) { // a rerun: keep the live view, at the chosen layer
    current.layer = chosenLayer(args);
    applyLayer();
    measure();
    return;
  }
  current = {
    viewId: viewId,
    kind: args.kind === "head" ? "head" : "model",
    layers: args.layers || null,
    heads: args.heads || null,
    layer: chosenLayer(args),
  };
  lastHeight = -1;
  setStatus("Drawing the attention view…");
  frame.style.height = (+args.height || 400) + "px";
  const html = String(args.html || "");
  // set before the view's own scripts run (first <head> only: the page's; every token is escaped)
  frame.srcdoc = current.layer === null ? html
    : html.replace("<head>", "<head><script>window.__bertvizLayer = " + current.layer + ";</script>");
  Streamlit.setFrameHeight(document.body.scrollHeight);
});

Streamlit.setComponentReady();
Streamlit.setFrameHeight(document.body.scrollHeight);
