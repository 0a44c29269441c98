// The page of `ea-mt serve`: translate pasted text with POST /translate, then draw the
// attention maps of a clicked sentence, layer by layer, from POST /inspect.
// Plain browser JavaScript, no libraries, nothing fetched but this server's API.
"use strict";

const $ = (id) => document.getElementById(id);
const CHAIN_TITLES = {
  encoder_self: "encoder self-attention",
  decoder_self: "decoder self-attention",
  cross: "cross attention",
};
// matplotlib's viridis at nine evenly spaced points, interpolated linearly between them.
const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [253, 231, 37],
];
const BLANK = [236, 239, 242];
const state = { models: null, model: null, beam: 5, inspection: null, chain: null, head: "mean" };

function setState(name) {
  document.body.dataset.state = name; // the browser test waits on this
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// --- the API ---------------------------------------------------------------------------

async function api(path, body) {
  const headers = {};
  const key = sessionStorage.getItem("ea-mt-api-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const options = { headers };
  if (body !== undefined) {
    options.method = "POST";
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (response.status === 401) {
    $("key-label").hidden = false;
    throw new Error("this server needs an API key: enter it above and try again");
  }
  if (!response.ok) {
    throw new Error((data && data.error) || `${path}: HTTP ${response.status}`);
  }
  return data;
}

async function loadModels() {
  const data = await api("/models");
  state.models = data;
  const select = $("model");
  select.replaceChildren();
  for (const model of data.models) {
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = `${model.name} (${model.arch}, ${model.src}→${model.tgt})`;
    option.selected = model.default;
    select.append(option);
  }
  $("beam").value = data.defaults.beam;
  $("beam").max = data.limits.max_beam;
}

// --- translations ----------------------------------------------------------------------

async function translate() {
  showError("");
  const texts = $("source").value.split(/\r\n|\r|\n/).filter((line) => line.trim() !== "");
  if (texts.length === 0) {
    showError("type or paste a sentence first");
    return;
  }
  const button = $("translate");
  button.disabled = true;
  setState("translating");
  $("status").textContent = "translating…";
  try {
    if (!state.models) await loadModels();
    state.model = $("model").value || null;
    state.beam = Number($("beam").value);
    const data = await api("/translate", { texts, model: state.model, beam: state.beam });
    renderTranslations(texts, data);
    $("status").textContent = "";
    setState("translated");
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
    setState("error");
  } finally {
    button.disabled = false;
  }
}

function renderTranslations(texts, data) {
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  data.translations.forEach((translation, index) => {
    const row = document.createElement("tr");
    row.dataset.index = index;
    const cells = [String(index + 1), texts[index], translation.text,
      translation.score === null ? "" : translation.score.toFixed(3)];
    const classes = ["number", "source", "translation", "score"];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.className = classes[i];
      cell.textContent = text;
      row.append(cell);
    });
    row.addEventListener("click", () => inspect(texts[index], row));
    body.append(row);
  });
  const warnings = $("warnings");
  warnings.replaceChildren(...data.warnings.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  const t = data.timing;
  $("timing").textContent = `${data.model}, beam ${data.beam}: ${t.total_ms.toFixed(0)} ms ` +
    `(${t.queued_ms.toFixed(0)} ms queued, ${t.model_ms.toFixed(0)} ms in ${t.batches} ` +
    `batch${t.batches === 1 ? "" : "es"})`;
  $("results-section").hidden = false;
}

// --- attention -------------------------------------------------------------------------

async function inspect(text, row) {
  showError("");
  for (const other of row.parentElement.children) other.classList.remove("selected");
  row.classList.add("selected");
  setState("inspecting");
  $("status").textContent = "capturing attention…";
  try {
    const data = await api("/inspect", { text, model: state.model, beam: state.beam });
    state.inspection = decodeInspection(data);
    const chains = Object.keys(state.inspection.model.chains);
    if (!chains.includes(state.chain)) state.chain = chains[0];
    renderAttention();
    $("status").textContent = "";
    setState("inspected");
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
    setState("error");
  }
}

function decodeInspection(data) {
  const model = data.models[0];
  for (const layers of Object.values(model.chains)) {
    for (const layer of layers) {
      for (const [name, array] of Object.entries(layer.arrays)) {
        layer.arrays[name] = decodeArray(array);
      }
    }
  }
  return { ...data, model };
}

// {"shape": [H, Tq, Tk], "data": base64 of little-endian float32} -> {shape, values}
function decodeArray(array) {
  const binary = atob(array.data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const values = new Float32Array(bytes.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  return { shape: array.shape, values };
}

function axes(tokens, chain) {
  if (chain === "encoder_self") return [tokens.source, tokens.source];
  if (chain === "decoder_self") return [tokens.target_input, tokens.target_input];
  return [tokens.target_output, tokens.source];
}

function renderAttention() {
  const inspection = state.inspection;
  $("att-source").textContent = inspection.source;
  $("att-target").textContent = inspection.target;
  $("att-origin").textContent = inspection.target_origin;
  renderChainTabs();
  renderHeadSelect();
  renderLayers();
  $("attention-section").hidden = false;
}

function renderChainTabs() {
  const tabs = $("chains");
  tabs.replaceChildren();
  for (const chain of Object.keys(state.inspection.model.chains)) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.dataset.chain = chain;
    tab.textContent = CHAIN_TITLES[chain] || chain;
    tab.setAttribute("aria-selected", String(chain === state.chain));
    tab.addEventListener("click", () => {
      state.chain = chain;
      renderAttention();
    });
    tabs.append(tab);
  }
}

function renderHeadSelect() {
  const layers = state.inspection.model.chains[state.chain];
  const heads = layers[0].arrays.weights.shape[0];
  const select = $("head");
  if (state.head !== "mean" && Number(state.head) >= heads) state.head = "mean";
  select.replaceChildren();
  for (const value of ["mean", ...Array.from({ length: heads }, (_, h) => String(h))]) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value === "mean" ? "mean over heads" : `head ${value}`;
    option.selected = value === state.head;
    select.append(option);
  }
}

// The panels of one layer, as ea-mt inspect draws them: M, A and softmax for an evolving
// chain (its first layer has no M yet: its plain logits L instead), softmax alone otherwise.
function panels(layer, evolving) {
  const arrays = layer.arrays;
  if (!evolving) return [["softmax", arrays.weights]];
  if (arrays.mixed) return [["M", arrays.mixed], ["A", arrays.evolved], ["softmax", arrays.weights]];
  return [["M", null], ["L (plain)", arrays.logits], ["softmax", arrays.weights]];
}

function renderLayers() {
  const { model, tokens } = state.inspection;
  const layers = model.chains[state.chain];
  const evolving = layers.some((layer) => layer.arrays.logits !== undefined);
  const [queries, keys] = axes(tokens, state.chain);
  const container = $("maps");
  container.replaceChildren();
  container.dataset.chain = state.chain;
  container.dataset.layers = layers.length;
  for (const layer of layers) {
    const row = document.createElement("div");
    row.className = "layer";
    row.dataset.layer = layer.layer;
    row.append(layerInfo(layer));
    for (const [title, array] of panels(layer, evolving)) {
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.textContent = title;
      const canvas = document.createElement("canvas");
      canvas.className = "panel";
      canvas.dataset.map = title;
      canvas.dataset.layer = layer.layer;
      const matrix = array ? headView(array, state.head) : null;
      drawPanel(canvas, matrix, queries, keys, state.chain,
        array ? "" : "first layer: plain attention");
      figure.append(caption, canvas);
      row.append(figure);
    }
    container.append(row);
  }
}

function pick(stat, head) {
  if (!stat) return null;
  return head === "mean" ? stat.mean : stat.heads[Number(head)];
}

function layerInfo(layer) {
  const info = document.createElement("div");
  info.className = "layer-info";
  const title = document.createElement("h3");
  title.textContent = `layer ${layer.layer}`;
  const list = document.createElement("dl");
  const rows = [["entropy", layer.entropy], ["JSD prev", layer.jsd_from_previous],
    ["conv share", layer.conv_share]];
  for (const [name, stat] of rows) {
    const value = pick(stat, state.head);
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.dataset.stat = name;
    detail.textContent = value === null ? "—" : value.toFixed(3);
    list.append(term, detail);
  }
  info.append(title, list);
  return info;
}

// One head's (queries × keys) map, or the mean over heads, as rows of numbers.
function headView(array, head) {
  const [heads, rows, cols] = array.shape;
  const size = rows * cols;
  const out = new Float64Array(size);
  const chosen = head === "mean" ? [...Array(heads).keys()] : [Number(head)];
  for (const h of chosen) {
    for (let i = 0; i < size; i++) out[i] += array.values[h * size + i] / chosen.length;
  }
  return { rows, cols, values: out };
}

function blocked(chain, query, key) {
  return chain === "decoder_self" && key > query;
}

function color(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}

function drawPanel(canvas, matrix, queries, keys, chain, note) {
  const rows = queries.length;
  const cols = keys.length;
  const cell = Math.max(7, Math.min(24, Math.floor(360 / Math.max(rows, cols))));
  const font = `${Math.min(12, Math.max(8, cell - 3))}px system-ui, sans-serif`;
  const measure = canvas.getContext("2d");
  measure.font = font;
  const widest = (labels) => Math.min(120, Math.max(...labels.map((l) => measure.measureText(l).width)));
  const left = Math.ceil(widest(queries)) + 6;
  const top = Math.ceil(widest(keys)) + 6;
  const width = left + cols * cell + 2;
  const height = top + rows * cell + 2;
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(width * scale);
  canvas.height = Math.ceil(height * scale);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(scale, scale);
  ctx.font = font;
  ctx.fillStyle = "#1d232a";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  queries.forEach((label, q) => ctx.fillText(label, left - 4, top + (q + 0.5) * cell, 120));
  ctx.save();
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "left";
  keys.forEach((label, k) => ctx.fillText(label, -(top - 4), left + (k + 0.5) * cell, 120));
  ctx.restore();
  ctx.fillStyle = `rgb(${BLANK.join(",")})`;
  ctx.fillRect(left, top, cols * cell, rows * cell);
  canvas.dataset.plot = [left, top, cols * cell, rows * cell].join(" "); // the map's box, in px
  if (!matrix) {
    ctx.fillStyle = "#5d6975";
    ctx.textAlign = "center";
    ctx.fillText(note, left + (cols * cell) / 2, top + (rows * cell) / 2, cols * cell);
    return;
  }
  let low = Infinity;
  let high = -Infinity;
  const shown = (q, k) => !blocked(chain, q, k) && Number.isFinite(matrix.values[q * cols + k]);
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      if (!shown(q, k)) continue;
      low = Math.min(low, matrix.values[q * cols + k]);
      high = Math.max(high, matrix.values[q * cols + k]);
    }
  }
  const span = high > low ? high - low : 1;
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      if (!shown(q, k)) continue;
      const [r, g, b] = color((matrix.values[q * cols + k] - low) / span);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(left + k * cell, top + q * cell, cell, cell);
    }
  }
  canvas.title = `range ${low.toFixed(3)} to ${high.toFixed(3)}`;
}

// --- wiring ----------------------------------------------------------------------------

$("input-form").addEventListener("submit", (event) => {
  event.preventDefault();
  translate();
});
$("source").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("input-form").requestSubmit();
});
$("head").addEventListener("change", (event) => {
  state.head = event.target.value;
  renderLayers();
});
$("api-key").addEventListener("change", (event) => {
  sessionStorage.setItem("ea-mt-api-key", event.target.value);
  state.models = null;
});
setState("idle");
loadModels().catch((error) => showError(error.message));
