// derive's page: a thin client of the JSON API (docs/web.md). Every string from the server or
// the user goes into the page as text (textContent); maths goes only through KaTeX, with
// trust=false (no \href, \url, \html...), so no text is ever read as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const KATEX = { throwOnError: false, trust: false, strict: "ignore", maxSize: 20, maxExpand: 200 };

function math(node, latex, display) {
  node.classList.add("math");
  if (window.katex) {
    window.katex.render(String(latex), node, { ...KATEX, displayMode: !!display });
  } else {
    node.textContent = String(latex);  // KaTeX failed to load: the LaTeX as text
  }
  return node;
}

function mathEl(latex, display) { return math(el(display ? "div" : "span"), latex, display); }

// -- the request -------------------------------------------------------------------------------
function network() {
  if ($("mode-spec").checked) return { spec: $("spec").value };
  const out = {};
  const text = (id) => $(id).value.trim();
  if (text("layers")) out.layers = text("layers");
  if (text("activations")) out.activations = text("activations");
  if (text("loss")) out.loss = text("loss");
  out.convention = text("convention");
  if (text("l2")) out.l2 = /^[0-9.eE+-]+$/.test(text("l2")) ? Number(text("l2")) : text("l2");
  if (text("keep_prob")) out.keep_prob = text("keep_prob");
  return out;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  return response;
}

async function postJSON(path, body) {
  const response = await post(path, body);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: "the server's answer is not JSON" }; }
  return { status: response.status, data };
}

function showError(message) { $("error").textContent = message || ""; }

// -- the live preview: how the formula is read --------------------------------------------------
let previewSeq = 0;
let previewTimer = null;

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 250);
}

async function preview() {
  const formula = $("formula").value;
  const seq = ++previewSeq;
  const box = $("preview-math");
  const info = $("preview-info");
  if (!formula.trim()) { box.replaceChildren(); info.replaceChildren(); $("preview").dataset.state = "empty"; return; }
  const { status, data } = await postJSON("/api/read", { ...network(), equation: formula });
  if (seq !== previewSeq) return;  // a newer keystroke's answer is on its way
  info.replaceChildren();
  const label = $("preview").querySelector(".label");
  if (status !== 200 || !data.read) {
    label.textContent = data.shape_error ? "read, but the shapes do not fit:" : "cannot be read yet:";
    box.replaceChildren();
    info.append(el("div", "problem", data.error || `error ${status}`));
    $("preview").dataset.state = "unread";
    return;
  }
  label.textContent = "read as";
  math(box, data.latex, true);
  const facts = [`syntax: ${data.syntax}`, `names: ${data.dialect}`];
  info.append(el("div", "facts", facts.join(" · ")));
  for (const r of data.readings || []) info.append(el("div", "reading", r));
  for (const n of data.notes || []) info.append(el("div", "note", n));
  $("preview").dataset.state = "read";
}

// -- the verdict ---------------------------------------------------------------------------------
const LABELS = {
  correct: "correct", shape_error: "incorrect: shape error", not_equivalent: "incorrect: not equivalent",
  parse_error: "cannot check", internal_error: "internal error in derive (a bug: please report it)",
};

function num(x) {
  if (typeof x !== "number" || !isFinite(x)) return "\\text{nan}";
  return Number(x.toPrecision(4)).toString().replace("e", "\\mathrm{e}");
}

function matrixLatex(value) {
  if (!Array.isArray(value) || !value.every((row) => Array.isArray(row))) return null;
  return "\\begin{bmatrix}" + value.map((row) => row.map(num).join(" & ")).join(" \\\\ ") + "\\end{bmatrix}";
}

function matrixEl(value) {
  const latex = matrixLatex(value);
  return latex === null ? el("code", null, JSON.stringify(value)) : mathEl(latex, false);
}

async function check() {
  showError("");
  const formula = $("formula").value;
  const { status, data } = await postJSON("/api/check", { ...network(), equation: formula });
  const box = $("verdict");
  box.replaceChildren();
  $("verdict-section").hidden = false;
  if (status !== 200) {
    box.dataset.verdict = "error";
    box.append(el("div", "verdict-label", data.timeout ? "timed out" : `error ${status}`), el("div", "message", data.error));
    return;
  }
  box.dataset.verdict = data.verdict;
  const head = el("div", "verdict-label", LABELS[data.verdict] || data.verdict);
  if (data.target) head.append(el("span", "target", ` — ${data.target}`));
  box.append(head);
  if (data.message) box.append(el("div", "message", data.message));
  for (const c of data.conditions || []) box.append(el("div", "condition", `condition: ${c}`));
  if ((data.mistakes || []).length) {
    const list = el("ul", "mistakes");
    for (const m of data.mistakes) {
      const item = el("li");
      item.append(el("code", "code", m.code), el("span", null, ": " + m.message));
      list.append(item);
    }
    box.append(list);
  }
  if (data.verdict !== "correct" && data.expected_latex) {
    const row = el("div", "expected");
    row.append(el("div", "label", "correct formula"), mathEl(data.expected_latex, true));
    box.append(row);
  }
  if (data.verdict !== "correct" && data.fix && data.fix !== data.expected) {
    box.append(el("div", "fix", `your formula, corrected: ${data.fix}`));
  }
  if (data.counterexample) box.append(counterexample(data.counterexample));
  for (const n of data.notes || []) box.append(el("div", "note", `note: ${n}`));
}

function counterexample(cex) {
  const div = el("div", "counterexample");
  const sizes = Object.entries(cex.sizes || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  const entry = cex.entry || [];
  div.append(el("div", "label", `counterexample (${sizes}; seed ${cex.seed})`));
  div.append(el("div", null, `entry (${entry.join(", ")}) should be ${cex.expected_entry}, the formula gives ${cex.got_entry}`));
  const table = el("div", "matrices");
  const add = (name, value) => {
    const cell = el("div", "matrix");
    cell.append(el("div", "name", name), matrixEl(value));
    table.append(cell);
  };
  for (const [name, value] of Object.entries(cex.inputs || {})) add(name, value);
  if (cex.expected !== undefined && cex.expected !== null) { add("expected", cex.expected); add("your formula", cex.got); }
  div.append(table);
  if (cex.note) div.append(el("div", "note", cex.note));
  return div;
}

// -- the derivation, a step at a time -----------------------------------------------------------
async function deriveAll() {
  showError("");
  const { status, data } = await postJSON("/api/backward", network());
  const out = $("derivation");
  out.replaceChildren();
  if (status !== 200) { $("proof").textContent = ""; showError(data.error || `error ${status}`); return; }
  const proof = data.proof;
  $("proof").textContent = proof ? (proof.passed ? "every formula proven (element-wise and finite differences)" : "the proof FAILED") : "not proven";
  $("proof").dataset.passed = proof && proof.passed ? "yes" : "no";
  const conv = el("details", "conventions");
  conv.append(el("summary", null, "conventions"));
  for (const c of data.conventions || []) conv.append(el("div", null, c));
  out.append(conv);
  const layers = [...new Set(data.steps.map((s) => s.layer))];
  for (const layer of layers) out.append(layerBlock(layer, data));
}

function layerBlock(layer, data) {
  const block = el("div", "layer");
  block.dataset.layer = layer;
  block.append(el("h3", null, layer === 0 ? "the input" : `layer ${layer}`));
  const formulas = el("div", "formulas");
  for (const f of data.formulas.filter((f) => f.layer === layer)) formulas.append(mathEl(f.latex, true));
  block.append(formulas);
  const steps = data.steps.filter((s) => s.layer === layer);
  const list = el("ol", "steps");
  for (const s of steps) {
    const item = el("li", "step");
    item.hidden = true;
    const head = el("div", "step-head");
    head.append(el("span", "title", s.title), el("code", "rule", s.rule));
    item.append(head, mathEl(s.result_latex, true));
    const why = el("div", "why");
    why.append(el("span", "label", "element-wise: "), mathEl(s.index_latex, false));
    item.append(why);
    if ((s.cites || []).length) item.append(el("div", "cites", `uses ${s.cites.join(", ")}`));
    if (s.note) item.append(el("div", "note", s.note));
    list.append(item);
  }
  block.append(list);
  const controls = el("div", "row");
  const next = el("button", "next-step", `next step (0/${steps.length})`);
  next.type = "button";
  const all = el("button", "all-steps", "all steps");
  all.type = "button";
  let shown = 0;
  const reveal = (n) => {
    shown = Math.min(n, steps.length);
    list.querySelectorAll("li.step").forEach((li, i) => { li.hidden = i >= shown; });
    next.textContent = `next step (${shown}/${steps.length})`;
    next.disabled = all.disabled = shown >= steps.length;
  };
  next.addEventListener("click", () => reveal(shown + 1));
  all.addEventListener("click", () => reveal(steps.length));
  controls.append(next, all);
  block.append(controls);
  return block;
}

// -- downloads ------------------------------------------------------------------------------------
async function download(path, body, fallback) {
  showError("");
  $("download-status").textContent = "making it…";
  const response = await post(path, body);
  if (!response.ok) {
    let message = `error ${response.status}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    $("download-status").textContent = "";
    showError(message);
    return null;
  }
  const blob = await response.blob();
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const name = match ? match[1] : fallback;
  const url = URL.createObjectURL(blob);
  const a = el("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  $("download-status").textContent = `downloaded ${name} (${blob.size.toLocaleString()} bytes)`;
  return url;
}

function handout(format) {
  const title = $("title").value.trim();
  return download("/api/handout", { ...network(), format, ...(title ? { title } : {}) }, `handout.${format}`);
}

async function plot() {
  const url = await download("/api/stability", {}, "stability.png");
  if (url) { $("plot").src = url; $("plot").hidden = false; }
}

// -- wiring -------------------------------------------------------------------------------------
function netMode() {
  $("net-form").hidden = $("mode-spec").checked;
  $("net-spec").hidden = !$("mode-spec").checked;
  schedulePreview();
}

window.addEventListener("DOMContentLoaded", async () => {
  $("formula").addEventListener("input", schedulePreview);
  $("formula").addEventListener("keydown", (e) => { if (e.key === "Enter") check(); });
  for (const id of ["layers", "activations", "loss", "convention", "l2", "keep_prob", "spec"]) {
    $(id).addEventListener("input", schedulePreview);
  }
  $("mode-form").addEventListener("change", netMode);
  $("mode-spec").addEventListener("change", netMode);
  $("check").addEventListener("click", check);
  $("derive").addEventListener("click", deriveAll);
  $("dl-tex").addEventListener("click", () => handout("tex"));
  $("dl-md").addEventListener("click", () => handout("md"));
  $("dl-pdf").addEventListener("click", () => handout("pdf"));
  $("dl-plot").addEventListener("click", plot);
  try {
    const caps = await (await fetch("/api/capabilities")).json();
    $("dl-pdf").hidden = !caps.pdf;
    $("dl-plot").hidden = !caps.plot;
  } catch (e) { /* the buttons stay as they are */ }
  document.body.dataset.ready = "yes";
});
