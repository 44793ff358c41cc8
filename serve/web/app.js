// Fovea web page: pick a served model, upload an image, show the top-5
// classes and the Grad-CAM overlay. Talks only to the server it came from.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "fovea.token";
let previewURL = "";

// headers returns the Authorization header when a token is set.
function headers() {
  const t = $("token").value.trim();
  return t ? { Authorization: "Bearer " + t } : {};
}

// api fetches path from this server and returns its JSON, or throws an
// Error carrying the server's {"error": "..."} message.
async function api(path, init = {}) {
  const resp = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    let msg = (body && body.error) || resp.statusText || "request failed";
    if (resp.status === 401) msg += " — enter the server's bearer token above.";
    const err = new Error(`${resp.status}: ${msg}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = !msg;
  if (msg) document.body.dataset.state = "error";
}

function setStatus(msg) { $("status").textContent = msg; }

// loadModels fills the model list: from GET /v2 if it names the models,
// else from the page's own /ui/models.
async function loadModels() {
  showError("");
  try {
    const info = await api("/v2");
    $("server").textContent = `${info.name} ${info.version} — ${location.host}`;
    let names = info.models;
    if (!Array.isArray(names)) names = (await api("/ui/models")).models || [];
    const sel = $("model");
    const keep = new URLSearchParams(location.search).get("model") || sel.value;
    sel.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(keep)) sel.value = keep;
    if (!names.length) throw new Error("the server has no models");
    await loadMeta();
    return true;
  } catch (e) {
    $("server").textContent = location.host;
    showError(e.message);
    return false;
  }
}

// loadMeta describes the selected model from GET /v2/models/{name}.
async function loadMeta() {
  const name = $("model").value;
  if (!name) return;
  try {
    const m = await api("/v2/models/" + encodeURIComponent(name));
    const shape = m.inputs[0].shape.slice(1).join("×");
    const p = m.parameters || {};
    const k = m.outputs[0].shape[1];
    $("model-info").textContent = [p.architecture, `input ${shape}`, `${k} classes`].filter(Boolean).join(" · ");
  } catch (e) {
    $("model-info").textContent = "";
    showError(e.message);
  }
}

// predict uploads file to /v1/predict/{model} and shows the answer:
// the file input, a drop and the ?demo= test hook all come here.
async function predict(file) {
  const name = $("model").value;
  if (!name) { showError("No model to send the image to."); return; }
  showError("");
  document.body.dataset.state = "busy";
  if (previewURL) URL.revokeObjectURL(previewURL);
  previewURL = URL.createObjectURL(file);
  $("preview").src = previewURL;
  $("preview").alt = `The uploaded image, ${file.name || "unnamed"}`;
  $("result").hidden = false;
  $("top").replaceChildren();
  $("cam-figure").hidden = true;
  setStatus(`Classifying ${file.name || "the image"} with ${name}…`);
  const form = new FormData();
  form.append("image", file, file.name || "image");
  try {
    const r = await api(`/v1/predict/${encodeURIComponent(name)}?top=5&explain=true`, { method: "POST", body: form });
    showResult(r);
    setStatus(`${r.model}: ${r.top[0].label} in ${r.elapsed_ms.toFixed(1)} ms${r.inverted ? " (colours inverted)" : ""}.`);
    document.body.dataset.state = "done";
  } catch (e) {
    setStatus("");
    showError(e.message);
  }
}

function showResult(r) {
  const items = r.top.map((t) => {
    const li = document.createElement("li");
    const pct = (100 * t.probability);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = t.label;
    label.title = `class ${t.index}`;
    const track = document.createElement("span");
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = Math.max(0, Math.min(100, pct)).toFixed(1) + "%";
    track.append(fill);
    const num = document.createElement("span");
    num.className = "pct";
    num.textContent = pct.toFixed(1) + "%";
    li.append(label, track, num);
    return li;
  });
  $("top").replaceChildren(...items);
  if (r.explanation && r.explanation.png) {
    $("cam").src = "data:image/png;base64," + r.explanation.png;
    $("cam-caption").textContent = `Grad-CAM of “${r.top[0].label}” (layer ${r.explanation.layer})`;
    $("cam-figure").hidden = false;
  } else if (r.explain_error) {
    $("cam-caption").textContent = "";
    setStatus("No Grad-CAM: " + r.explain_error);
  }
}

// runDemo fetches a same-origin image named by ?demo=/path and sends it
// through predict, as a drop would: a hook for tests and demos.
async function runDemo(path) {
  if (!path.startsWith("/") || path.startsWith("//")) {
    showError("?demo= takes a path on this server, such as /digit.png");
    return;
  }
  try {
    const resp = await fetch(path);
    if (!resp.ok) throw new Error(`${resp.status}: could not fetch ${path}`);
    const blob = await resp.blob();
    await predict(new File([blob], path.split("/").pop() || "demo", { type: blob.type }));
  } catch (e) {
    showError(e.message);
  }
}

function init() {
  const token = $("token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  token.addEventListener("change", () => {
    const t = token.value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    loadModels();
  });
  $("controls").addEventListener("submit", (e) => e.preventDefault());
  $("model").addEventListener("change", loadMeta);
  $("file").addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (f) predict(f);
    e.target.value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) predict(f); else showError("Drop an image file.");
  });
  loadModels().then((ok) => {
    const demo = new URLSearchParams(location.search).get("demo");
    if (ok && demo) runDemo(demo);
  });
}

init();
