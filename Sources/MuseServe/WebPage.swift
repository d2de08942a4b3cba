/// The one page muse-serve serves: plain HTML and JavaScript, no framework, no
/// network access beyond this server. The form is built from `/api/pipelines`:
/// a text area per text input, a number field per scalar, a file picker per image
/// input and a paint canvas per mask input (painted over the uploaded image, else
/// over the last result). Runs stream their progress from `/api/jobs/ID/events`.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>muse-serve</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f4f4f6; color: #222; }
  header { background: #2d2f3a; color: #fff; padding: 10px 18px; font-size: 18px; }
  header small { color: #aab; font-size: 13px; margin-left: 10px; }
  main { display: grid; grid-template-columns: 380px 1fr 300px; gap: 14px; padding: 14px; }
  section { background: #fff; border-radius: 6px; padding: 12px 14px; box-shadow: 0 1px 2px #0002; min-width: 0; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  label { display: block; margin: 10px 0 3px; font-weight: 600; }
  .doc { color: #667; font-size: 12px; margin: 0 0 4px; }
  textarea, input[type=number], select { width: 100%; box-sizing: border-box; font: inherit; padding: 4px; }
  textarea { height: 3.2em; }
  button { font: inherit; padding: 5px 12px; margin: 8px 6px 0 0; cursor: pointer; }
  button:disabled { cursor: default; }
  #run { background: #3b6fd8; color: #fff; border: 0; border-radius: 4px; }
  .maskbox { position: relative; display: inline-block; border: 1px solid #ccd; background: #222; line-height: 0; }
  .maskbox img, .maskbox canvas { width: 256px; height: 256px; image-rendering: pixelated; }
  .maskbox img { position: absolute; left: 0; top: 0; }
  .maskbox canvas { position: relative; cursor: crosshair; touch-action: none; opacity: 0.55; }
  .preview { max-width: 256px; image-rendering: pixelated; display: block; margin-top: 4px; }
  #progress { width: 100%; }
  #status { margin-top: 6px; min-height: 1.4em; }
  #status.error { color: #b00020; }
  #images img { max-width: 100%; width: 384px; image-rendering: pixelated; margin: 0 8px 8px 0; border: 1px solid #ccd; }
  #report { background: #f7f7fa; font-size: 11px; max-height: 320px; overflow: auto; padding: 6px; }
  .entry { display: flex; gap: 8px; border-top: 1px solid #eee; padding: 6px 0; font-size: 12px; }
  .entry img { width: 64px; height: 64px; object-fit: contain; image-rendering: pixelated; background: #eee; }
  .entry button { margin: 4px 0 0; padding: 2px 8px; font-size: 12px; }
</style>
</head>
<body>
<header>muse-serve <small>text-to-image and image pipelines, run on this machine</small></header>
<main>
<section id="form-section">
  <h2>Pipeline</h2>
  <select id="pipeline"></select>
  <p id="description" class="doc"></p>
  <div id="inputs"></div>
  <label for="seed">Seed</label>
  <p class="doc">the same seed gives the same result</p>
  <input id="seed" type="number" min="0" step="1" value="0">
  <button id="random-seed" type="button">random seed</button>
  <div id="variant-row" hidden>
    <label for="variant">Variant</label>
    <p class="doc">one variant, or every variant side by side (A/B)</p>
    <select id="variant"></select>
  </div>
  <div>
    <button id="run" type="button">Run</button>
    <button id="cancel" type="button" disabled>Cancel</button>
  </div>
  <progress id="progress" max="1" value="0"></progress>
  <div id="status"></div>
</section>
<section id="result-section">
  <h2>Result</h2>
  <div id="images"></div>
  <pre id="report"></pre>
</section>
<section id="history-section">
  <h2>History <button id="refresh-history" type="button">refresh</button></h2>
  <div id="history"></div>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let forms = [];
let current = null;          // the chosen pipeline's form
let uploads = {};            // image input name -> data URL
let masks = {};              // mask input name -> {canvas (shown), paint (black/white), painted}
let lastResult = null;       // URL of the last result image
let job = null, events = null;

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || (response.status + " " + response.statusText));
  return body;
}

async function loadPipelines() {
  forms = await api("/api/pipelines");
  const select = $("pipeline");
  select.innerHTML = "";
  for (const f of forms) {
    const o = document.createElement("option");
    o.value = f.name;
    o.textContent = f.name + (f.error ? " (does not load)" : "");
    select.appendChild(o);
  }
  const wanted = new URLSearchParams(location.search).get("pipeline");
  if (wanted && forms.some(f => f.name === wanted)) select.value = wanted;
  choosePipeline();
}

function choosePipeline() {
  current = forms.find(f => f.name === $("pipeline").value) || null;
  uploads = {}; masks = {};
  const box = $("inputs");
  box.innerHTML = "";
  if (!current) return;
  $("description").textContent = current.error ? current.error : current.description;
  $("seed").value = current.defaultSeed;
  for (const input of current.inputs) {
    const label = document.createElement("label");
    label.textContent = input.name + (input.required ? " *" : "");
    const doc = document.createElement("p");
    doc.className = "doc";
    doc.textContent = input.doc + (input.default !== null ? " (default: " + input.default + ")" : "");
    box.append(label, doc);
    let field;
    if (input.type === "text") {
      field = document.createElement("textarea");
      field.value = input.default || "";
    } else if (input.type === "scalar") {
      field = document.createElement("input");
      field.type = "number"; field.step = "any";
      field.value = input.default || "";
    } else if (input.type === "image") {
      field = document.createElement("input");
      field.type = "file"; field.accept = "image/png";
      const preview = document.createElement("img");
      preview.className = "preview"; preview.hidden = true;
      preview.dataset.preview = input.name;
      field.addEventListener("change", () => readUpload(input.name, field, preview));
      box.append(field, preview);
      field.dataset.input = input.name;
      continue;
    } else if (input.type === "mask") {
      box.appendChild(makeMaskWidget(input.name));
      continue;
    } else {
      field = document.createElement("input");
    }
    field.dataset.input = input.name;
    box.appendChild(field);
  }
  const variants = current.variants || [];
  $("variant-row").hidden = variants.length === 0;
  const vs = $("variant");
  vs.innerHTML = "";
  if (variants.length) {
    const ab = document.createElement("option");
    ab.value = ""; ab.textContent = "all side by side (A/B)";
    vs.appendChild(ab);
    for (const v of variants) {
      const o = document.createElement("option");
      o.value = v; o.textContent = v;
      vs.appendChild(o);
    }
  }
  refreshMaskBackgrounds();
}

function readUpload(name, field, preview) {
  const file = field.files[0];
  if (!file) { delete uploads[name]; preview.hidden = true; refreshMaskBackgrounds(); return; }
  const reader = new FileReader();
  reader.onload = () => {
    uploads[name] = reader.result;
    preview.src = reader.result; preview.hidden = false;
    refreshMaskBackgrounds();
  };
  reader.readAsDataURL(file);
}

// A mask is painted white (regenerate / change) over a dark background; the
// canvas has the background image's own size, shown enlarged.
function makeMaskWidget(name) {
  const wrap = document.createElement("div");
  const box = document.createElement("div");
  box.className = "maskbox";
  const bg = document.createElement("img");
  const canvas = document.createElement("canvas");
  canvas.className = "paint";
  canvas.dataset.input = name;
  canvas.width = 64; canvas.height = 64;
  box.append(bg, canvas);
  const size = document.createElement("input");
  size.type = "range"; size.min = "1"; size.max = "32"; size.value = "6";
  size.title = "brush size (pixels of the image)";
  const clear = document.createElement("button");
  clear.type = "button"; clear.textContent = "clear mask";
  const paint = document.createElement("canvas");
  const state = { canvas, paint, bg, size, painted: false };
  masks[name] = state;
  resetMask(state, 64, 64);
  let last = null;   // the previous point of the stroke being drawn (null: not drawing)
  // Draws from the previous point to this one, so a fast stroke has no gaps.
  const stroke = (event) => {
    const r = canvas.getBoundingClientRect();
    const x = (event.clientX - r.left) * canvas.width / r.width;
    const y = (event.clientY - r.top) * canvas.height / r.height;
    const from = last || [x, y];
    for (const [c, colour] of [[canvas.getContext("2d"), "rgb(255,40,40)"], [paint.getContext("2d"), "#fff"]]) {
      c.strokeStyle = colour; c.lineWidth = Number(size.value); c.lineCap = "round"; c.lineJoin = "round";
      c.beginPath(); c.moveTo(from[0], from[1]); c.lineTo(x + 0.01, y); c.stroke();
    }
    last = [x, y];
    state.painted = true;
  };
  canvas.addEventListener("pointerdown", (e) => { last = null; canvas.setPointerCapture(e.pointerId); stroke(e); });
  canvas.addEventListener("pointermove", (e) => { if (last) stroke(e); });
  canvas.addEventListener("pointerup", () => { last = null; });
  canvas.addEventListener("pointerleave", () => { last = null; });
  clear.addEventListener("click", () => resetMask(state, canvas.width, canvas.height));
  wrap.append(box, document.createElement("br"), size, clear);
  return wrap;
}

function resetMask(state, width, height) {
  state.canvas.width = width; state.canvas.height = height;
  state.paint.width = width; state.paint.height = height;
  state.canvas.getContext("2d").clearRect(0, 0, width, height);
  const p = state.paint.getContext("2d");
  p.fillStyle = "#000"; p.fillRect(0, 0, width, height);
  state.painted = false;
}

// The canvas shows the first uploaded image, else the last result.
function refreshMaskBackgrounds() {
  const source = Object.values(uploads)[0] || lastResult;
  for (const state of Object.values(masks)) {
    if (!source) { state.bg.removeAttribute("src"); continue; }
    if (state.bg.src === source) continue;
    state.bg.onload = () => resetMask(state, state.bg.naturalWidth, state.bg.naturalHeight);
    state.bg.src = source;
  }
}

function collectInputs() {
  const inputs = {};
  for (const field of document.querySelectorAll("#inputs [data-input]")) {
    const name = field.dataset.input;
    if (field.tagName === "CANVAS") {
      const state = masks[name];
      const input = current.inputs.find(i => i.name === name);
      if (state.painted || (input && input.required)) inputs[name] = state.paint.toDataURL("image/png");
    } else if (field.type === "file") {
      if (uploads[name]) inputs[name] = uploads[name];
    } else {
      inputs[name] = field.value;
    }
  }
  return inputs;
}

async function run() {
  if (!current) return;
  const body = { pipeline: current.name, inputs: collectInputs(), seed: $("seed").value };
  if (current.variants.length) {
    if ($("variant").value === "") body.ab = true; else body.variant = $("variant").value;
  }
  await submit("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function submit(path, options) {
  try {
    const status = await api(path, options);
    follow(status);
  } catch (e) {
    setStatus(e.message, true);
  }
}

function follow(status) {
  if (events) events.close();
  job = status.id;
  $("cancel").disabled = false;
  $("progress").value = 0;
  show(status);
  events = new EventSource("/api/jobs/" + job + "/events");
  events.onmessage = (m) => {
    const s = JSON.parse(m.data);
    show(s);
    if (["done", "failed", "cancelled"].includes(s.state)) { events.close(); events = null; finished(s); }
  };
  // The stream dropped (server restarted, network): ask for the status instead until it ends.
  events.onerror = () => {
    if (!events) return;
    events.close(); events = null;
    poll(status.id);
  };
}

async function poll(id) {
  while (job === id) {
    let s;
    try { s = await api("/api/jobs/" + id); } catch (e) { setStatus("lost the run: " + e.message, true); $("cancel").disabled = true; return; }
    show(s);
    if (["done", "failed", "cancelled"].includes(s.state)) { finished(s); return; }
    await new Promise(r => setTimeout(r, 1000));
  }
}

function show(s) {
  let text = s.state;
  if (s.state === "queued") text = "queued (" + (s.position === 0 ? "next" : s.position + " ahead") + ")";
  if (s.state === "running" && s.stage) text = "running: " + s.stage + " " + s.step + "/" + s.total;
  if (s.message) text += ": " + s.message;
  setStatus(text, s.state === "failed");
  $("progress").value = s.total > 0 ? s.step / s.total : (s.state === "done" ? 1 : 0);
}

async function finished(s) {
  $("cancel").disabled = true;
  if (s.state !== "done") return;
  const images = $("images");
  images.innerHTML = "";
  for (const f of s.files) {
    if (f.kind === "image") {
      const img = document.createElement("img");
      img.src = "/files/" + f.name;
      img.alt = f.name;
      img.dataset.file = f.name;
      images.appendChild(img);
      lastResult = img.src;
    } else if (f.kind === "report") {
      try { $("report").textContent = JSON.stringify(await api("/files/" + f.name), null, 2); } catch (e) { }
    } else {
      const a = document.createElement("a");
      a.href = "/files/" + f.name; a.textContent = f.name;
      images.appendChild(a);
    }
  }
  setStatus("done in " + s.seconds.toFixed(2) + " s");
  refreshMaskBackgrounds();
  loadHistory();
}

async function loadHistory() {
  let entries = [];
  try { entries = await api("/api/history"); } catch (e) { return; }
  const list = $("history");
  list.innerHTML = "";
  for (const h of entries) {
    const row = document.createElement("div");
    row.className = "entry";
    const img = document.createElement("img");
    img.src = "/files/" + h.file;
    const text = document.createElement("div");
    const inputs = Object.entries(h.inputs).map(([k, v]) => k + ": " + v).join(", ");
    text.textContent = (h.pipeline || h.pipelineFile) + (h.variant ? " [" + h.variant + "]" : "") + ", seed " + h.seed + (inputs ? ", " + inputs : "");
    if (h.pipeline) {
      const again = document.createElement("button");
      again.type = "button"; again.textContent = "rerun";
      again.addEventListener("click", () => submit("/api/history/" + encodeURIComponent(h.file) + "/rerun", { method: "POST" }));
      text.append(document.createElement("br"), again);
    }
    row.append(img, text);
    list.appendChild(row);
  }
}

$("pipeline").addEventListener("change", choosePipeline);
$("run").addEventListener("click", run);
$("cancel").addEventListener("click", () => { if (job) submit("/api/jobs/" + job + "/cancel", { method: "POST" }); });
$("random-seed").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 1e9); });
$("refresh-history").addEventListener("click", loadHistory);
loadPipelines().catch(e => setStatus(e.message, true));
loadHistory();
</script>
</body>
</html>
"""#
}
