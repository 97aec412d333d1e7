// Talking to the server, and the small DOM and formatting helpers every view uses.
// Everything that comes from the API goes into the page as text (textContent), never as HTML.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const message = payload && typeof payload.error === "string" ? payload.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return payload;
}

export const api = {
  info: () => request("GET", "/api/info"),
  runs: ({ status, q, offset, limit }) => {
    const params = new URLSearchParams();
    if (status) params.set("status", status);
    if (q) params.set("q", q);
    params.set("offset", String(offset ?? 0));
    params.set("limit", String(limit ?? 50));
    return request("GET", `/api/runs?${params}`);
  },
  run: (runId) => request("GET", `/api/runs/${encodeURIComponent(runId)}`),
  task: (runId, task) => request("GET", `/api/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(task)}`),
  action: (runId, task, action, body = {}) =>
    request("POST", `/api/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(task)}/${action}`, body),
};

/**
 * Follows `/api/stream` (server-sent events) and calls `onChange` for each `change`, at most once
 * per `waitMs` (changes that come in between are folded into one). Returns a function that stops it.
 */
export function watch(runId, onChange, waitMs = 250) {
  const url = runId ? `/api/stream?run=${encodeURIComponent(runId)}` : "/api/stream";
  const source = new EventSource(url);
  const live = document.getElementById("live");
  let timer = null;
  source.addEventListener("open", () => setLive(live, true));
  source.addEventListener("error", () => setLive(live, source.readyState === EventSource.OPEN));
  source.addEventListener("change", () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, waitMs);
  });
  return () => {
    if (timer !== null) clearTimeout(timer);
    source.close();
    setLive(live, false);
  };
}

function setLive(node, on) {
  if (!node) return;
  node.textContent = on ? "live" : "offline";
  node.classList.toggle("on", on);
}

/** `el("a.link", { href }, "text", child)`: an element with classes, attributes or properties, and children (strings become text nodes). */
export function el(spec, attrs = {}, ...children) {
  const node = document.createElement(/^[a-z0-9]*/i.exec(spec)[0] || "div");
  for (const [, sign, name] of spec.matchAll(/([.#])([^.#]+)/g)) {
    if (sign === "#") node.id = name;
    else node.classList.add(name);
  }
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.classList.add(...String(value).split(/\s+/).filter(Boolean));
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key === "value" || (key in node && typeof value !== "string")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Replaces the node's children (arrays flattened; null, undefined and false left out). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function badge(word, kind = "status") {
  return el(`span.badge.${kind}-${String(word).replace(/[^a-z_-]/gi, "")}`, {}, word);
}

export function runLink(runId) {
  return `#/runs/${encodeURIComponent(runId)}`;
}

export function taskLink(runId, task) {
  return `${runLink(runId)}/tasks/${encodeURIComponent(task)}`;
}

const numberFormat = new Intl.NumberFormat("en-US");

export function fmtNumber(n) {
  return typeof n === "number" ? numberFormat.format(n) : "—";
}

export function fmtCost(usd) {
  if (typeof usd !== "number") return "—";
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(usd < 10 ? 3 : 2)}`;
}

export function fmtTokens(input, output) {
  if (typeof input !== "number" && typeof output !== "number") return "—";
  return `${fmtNumber(input ?? 0)} in · ${fmtNumber(output ?? 0)} out`;
}

export function fmtDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes} min ${String(seconds).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A timestamp as local time: the time alone when it is today, else with the date. */
export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const today = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString("en-GB", { hour12: false });
  return today ? time : `${date.toLocaleDateString("en-CA")} ${time}`;
}

export function fmtAgo(iso) {
  if (!iso) return "—";
  const ms = Date.now() - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return String(iso);
  if (ms < 5_000) return "just now";
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return fmtTime(iso);
}

/** A `<time>` element showing `text`, with the exact ISO timestamp on hover. */
export function timeEl(iso, text = fmtTime(iso)) {
  return el("time", { datetime: iso ?? undefined, title: iso ?? undefined }, text);
}

/** A JSON value for a `<pre>`: strings as they are, anything else pretty-printed. */
export function jsonText(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

/** A one-line preview of a JSON value, at most `max` characters. */
export function preview(value, max = 120) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  const line = text.replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Asks before an action, in the page (not window.confirm). Resolves true when confirmed. */
export function confirmAction(title, text, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm");
  dialog.querySelector(".confirm-title").textContent = title;
  dialog.querySelector(".confirm-text").textContent = text;
  const ok = dialog.querySelector(".ok");
  const cancel = dialog.querySelector(".cancel");
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => finish(true);
    const onCancel = () => finish(false);
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    ok.focus();
  });
}

/** Markdown rendered by markdown-it with HTML off (so any HTML in the text comes out escaped). */
let markdown = null;
export function renderMarkdown(text) {
  const box = el("div.markdown");
  if (typeof window.markdownit !== "function") {
    box.append(el("pre.plain", {}, text));
    return box;
  }
  markdown ??= window.markdownit({ html: false, linkify: false });
  box.innerHTML = markdown.render(String(text ?? ""));
  for (const link of box.querySelectorAll("a")) link.setAttribute("rel", "noreferrer");
  return box;
}
