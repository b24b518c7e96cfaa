"use strict";
// The chat page of `ragline serve`: plain browser JavaScript over the server's JSON and
// server-sent-events API (docs/chat.md). No framework and no build step. Text from the
// server is only ever set with textContent, never parsed as HTML.

const ui = {
  collection: document.getElementById("collection"),
  newChat: document.getElementById("new-chat"),
  sessions: document.getElementById("sessions"),
  noSessions: document.getElementById("no-sessions"),
  messages: document.getElementById("messages"),
  chatError: document.getElementById("chat-error"),
  ask: document.getElementById("ask"),
  question: document.getElementById("question"),
  send: document.getElementById("send"),
  stop: document.getElementById("stop"),
  upload: document.getElementById("upload"),
  uploadFile: document.getElementById("upload-file"),
  uploadProgress: document.getElementById("upload-progress"),
  uploadStatus: document.getElementById("upload-status"),
  passage: document.getElementById("passage"),
  passageTitle: document.getElementById("passage-title"),
  passageWhere: document.getElementById("passage-where"),
  passageText: document.getElementById("passage-text"),
};

const state = { session: null, collection: null, controller: null };
const MARKERS = /\[(\d+(?:,\s*\d+)*)\]/g;

class ApiError extends Error {}

// ---- talking to the server ------------------------------------------------------------

function errorMessage(body, response) {
  if (body && body.error && body.error.message) return body.error.message;
  return `${response.status} ${response.statusText}`.trim();
}

async function readJson(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(errorMessage(body, response));
  return body;
}

async function api(path, options = {}) {
  const init = { ...options, headers: { accept: "application/json", ...options.headers } };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.json);
    delete init.json;
  }
  return readJson(await fetch(path, init));
}

// The (event, data) pairs of a server-sent-events response, as they arrive.
async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield [name, JSON.parse(data.join("\n"))];
      end = buffer.indexOf("\n\n");
    }
  }
}

// ---- building the page ---------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("aria-") || key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function showError(message) {
  ui.chatError.textContent = message;
  ui.chatError.hidden = !message;
}

function scrollToEnd() {
  ui.messages.lastElementChild?.scrollIntoView({ block: "end" });
}

function addUser(text) {
  ui.messages.append(el("li", { class: "message user" },
    el("span", { class: "who", text: "You" }), el("p", { class: "text", text })));
  scrollToEnd();
}

function addAssistant(text = "") {
  const body = el("p", { class: "text", text });
  const sources = el("ol", { class: "sources", "aria-label": "Sources" });
  const meta = el("p", { class: "meta" });
  const item = el("li", { class: "message assistant", "aria-busy": "true" },
    el("span", { class: "who", text: "ragline" }), body, sources, meta);
  ui.messages.append(item);
  scrollToEnd();
  return { item, body, sources, meta };
}

function money(usd) {
  if (usd === null || usd === undefined) return "cost unknown";
  if (usd === 0) return "$0";
  return `$${usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(4)}`;
}

function metaLine(answer) {
  const parts = [`route: ${answer.route}`, `cost: ${money(answer.cost.total_usd)}`,
    `cache: ${answer.cache}`];
  if (answer.timings && answer.timings.total !== undefined) {
    parts.push(`${(answer.timings.total / 1000).toFixed(2)} s`);
  }
  return parts.join(" · ");
}

// A source's file name (the server keeps the whole path) and, when known, its section.
function sourceName(source) {
  const file = String(source.source).split(/[\\/]/).pop();
  const section = (source.heading_path || []).at(-1);
  return section && section !== file ? `${file} › ${section}` : file;
}

function citeButton(answer, number, collection) {
  const source = answer.sources[number - 1];
  const button = el("button", { type: "button", class: "cite", text: `[${number}]` });
  if (!source) {
    button.disabled = true;
    return button;
  }
  button.setAttribute("aria-label", `Show source ${number}: ${sourceName(source)}`);
  button.addEventListener("click", () => showPassage(collection, source, number));
  return button;
}

// The answer's text with each [n] marker as a button that opens source n.
function withCitations(answer, collection) {
  const parts = [];
  let last = 0;
  for (const match of answer.text.matchAll(MARKERS)) {
    parts.push(answer.text.slice(last, match.index));
    const numbers = match[1].split(",").map((n) => Number.parseInt(n, 10));
    numbers.forEach((number, i) => {
      if (i) parts.push(" ");
      parts.push(citeButton(answer, number, collection));
    });
    last = match.index + match[0].length;
  }
  parts.push(answer.text.slice(last));
  return parts;
}

function showAnswer(view, answer, collection) {
  view.body.replaceChildren(...withCitations(answer, collection));
  view.sources.replaceChildren(...answer.sources.map((source, i) => {
    const open = el("button", { type: "button", class: "source",
      text: `[${i + 1}] ${sourceName(source)}`, title: String(source.source) });
    open.addEventListener("click", () => showPassage(collection, source, i + 1));
    return el("li", {}, open);
  }));
  view.meta.textContent = metaLine(answer);
  view.item.setAttribute("aria-busy", "false");
}

// ---- passages ------------------------------------------------------------------------

async function showPassage(collection, source, number) {
  const query = new URLSearchParams({ collection });
  let passage;
  try {
    passage = await api(`/api/passages/${encodeURIComponent(source.chunk_id)}?${query}`);
  } catch (error) {
    showError(`Could not open source ${number}: ${error.message}`);
    return;
  }
  const heading = (passage.metadata.heading_path || []).join(" › ");
  const file = String(passage.metadata.source || passage.doc_id).split(/[\\/]/).pop();
  ui.passageTitle.textContent = `[${number}] ${file}`;
  ui.passageWhere.textContent = [heading, `collection ${passage.collection}`]
    .filter(Boolean).join(" · ");
  const cited = el("mark", { class: "cited", text: passage.text });
  ui.passageText.replaceChildren(
    el("span", { class: "context", text: passage.before }), cited,
    el("span", { class: "context", text: passage.after }));
  ui.passage.showModal();
  cited.scrollIntoView({ block: "center" });
}

// ---- sessions ------------------------------------------------------------------------

async function loadCollections(selected) {
  const listed = await api("/api/collections");
  const names = listed.collections;
  if (selected && !names.includes(selected)) names.push(selected);
  ui.collection.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  ui.collection.value = selected || listed.default;
  state.collection = ui.collection.value;
}

function sessionItem(session) {
  const title = session.title || "New chat";
  const open = el("button", { type: "button", class: "session-open", text: title });
  if (session.id === state.session) open.setAttribute("aria-current", "true");
  open.addEventListener("click", () => openSession(session.id).catch((e) => showError(e.message)));
  const remove = el("button", { type: "button", class: "session-delete", text: "✕",
    "aria-label": `Delete session: ${title}` });
  remove.addEventListener("click", () => deleteSession(session.id).catch((e) => showError(e.message)));
  const turns = Math.floor(session.messages / 2);
  const meta = el("span", { class: "session-meta",
    text: `${session.collection} · ${turns} turn${turns === 1 ? "" : "s"}` });
  return el("li", {}, open, remove, meta);
}

async function loadSessions() {
  const { sessions } = await api("/api/sessions");
  ui.sessions.replaceChildren(...sessions.map(sessionItem));
  ui.noSessions.hidden = sessions.length > 0;
}

function startNewChat() {
  state.session = null;
  ui.messages.replaceChildren();
  showError("");
  history.replaceState(null, "", location.pathname);
  loadSessions().catch((e) => showError(e.message));
  ui.question.focus();
}

async function openSession(id) {
  const session = await api(`/api/sessions/${encodeURIComponent(id)}`);
  state.session = session.id;
  await loadCollections(session.collection);
  ui.messages.replaceChildren();
  showError("");
  for (const message of session.messages) {
    if (message.role === "user") {
      addUser(message.content);
    } else {
      const view = addAssistant(message.content);
      if (message.answer) showAnswer(view, message.answer, session.collection);
      else view.item.setAttribute("aria-busy", "false");
    }
  }
  history.replaceState(null, "", `#${session.id}`);
  await loadSessions();
}

async function deleteSession(id) {
  await api(`/api/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
  if (id === state.session) startNewChat();
  else await loadSessions();
}

// ---- asking --------------------------------------------------------------------------

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.collection.disabled = busy;
}

async function streamInto(view, response) {
  let text = "";
  for await (const [name, data] of serverEvents(response)) {
    if (name === "delta") {
      text += data.text;
      view.body.textContent = text;
      scrollToEnd();
    } else if (name === "answer") {
      showAnswer(view, data, state.collection);
      return;
    } else if (name === "error") {
      throw new ApiError(data.error.message);
    }
  }
  throw new ApiError("the answer stopped before it was complete");
}

async function ask(question) {
  showError("");
  if (!state.session) {
    const created = await api("/api/sessions", { json: { collection: state.collection } });
    state.session = created.id;
    history.replaceState(null, "", `#${created.id}`);
  }
  addUser(question);
  const view = addAssistant();
  view.body.classList.add("pending");
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  try {
    const response = await fetch(`/api/sessions/${encodeURIComponent(state.session)}/messages`, {
      method: "POST", signal: controller.signal,
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ message: question }),
    });
    if (!response.ok) await readJson(response);
    await streamInto(view, response);
  } catch (error) {
    view.meta.textContent = error.name === "AbortError" ? "stopped" : `error: ${error.message}`;
    view.item.setAttribute("aria-busy", "false");
    if (error.name !== "AbortError") showError(error.message);
  } finally {
    view.body.classList.remove("pending");
    state.controller = null;
    setBusy(false);
    await loadSessions().catch(() => undefined);
  }
}

// ---- uploads -------------------------------------------------------------------------

function sendFile(file, collection, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/ingest?${new URLSearchParams({ collection })}`);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.upload.addEventListener("load", () => onProgress(null));
    request.addEventListener("load", () => {
      if (request.status < 400) resolve(request.response);
      else reject(new ApiError(errorMessage(request.response, {
        status: request.status, statusText: request.statusText })));
    });
    request.addEventListener("error", () => reject(new ApiError("the server could not be reached")));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

function showUploadProgress(fraction) {
  ui.uploadProgress.hidden = false;
  if (fraction === null) {
    ui.uploadProgress.removeAttribute("value");  // indeterminate while the server ingests
    ui.uploadStatus.textContent = "Ingesting…";
  } else {
    ui.uploadProgress.value = Math.round(fraction * 100);
    ui.uploadStatus.textContent = `Uploading… ${Math.round(fraction * 100)} %`;
  }
}

function ingestSummary(report) {
  if (report.skipped.length) return `Skipped ${report.skipped[0].path}: ${report.skipped[0].reason}`;
  const changed = report.new_documents + report.changed_documents;
  if (!changed) return `${report.path.split("/").pop()} is already indexed, unchanged.`;
  return `Ingested ${report.path.split("/").pop()} into ${report.collection}: ` +
    `${report.chunks_added} passage${report.chunks_added === 1 ? "" : "s"}.`;
}

async function upload(file) {
  const submit = ui.upload.querySelector("button[type=submit]");
  submit.disabled = true;
  showUploadProgress(0);
  try {
    const report = await sendFile(file, state.collection, showUploadProgress);
    ui.uploadProgress.value = 100;
    ui.uploadStatus.textContent = ingestSummary(report);
    ui.upload.reset();
    await loadCollections(state.collection);
  } catch (error) {
    ui.uploadProgress.hidden = true;
    ui.uploadStatus.textContent = `Upload failed: ${error.message}`;
  } finally {
    submit.disabled = false;
  }
}

// ---- wiring --------------------------------------------------------------------------

ui.ask.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = ui.question.value.trim();
  if (!question || state.controller) return;
  ui.question.value = "";
  ask(question).catch((error) => showError(error.message));
});

ui.question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.ask.requestSubmit();
  }
});

ui.stop.addEventListener("click", () => state.controller?.abort());
ui.newChat.addEventListener("click", startNewChat);

ui.collection.addEventListener("change", () => {
  state.collection = ui.collection.value;
  if (state.session) startNewChat();  // a session asks one collection
});

ui.upload.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = ui.uploadFile.files[0];
  if (file) upload(file);
});

async function start() {
  try {
    await loadCollections(null);
    const wanted = location.hash.slice(1);
    if (wanted) await openSession(wanted).catch(() => startNewChat());
    else await loadSessions();
  } catch (error) {
    showError(`The server did not answer: ${error.message}`);
  }
}

start();
