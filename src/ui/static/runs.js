// The runs list (`#/`): newest first, filtered by status, searched by run ID, paged, live.
import { api, badge, el, fmtAgo, fmtCost, fmtNumber, fmtTime, runLink, timeEl, watch } from "./api.js";

const PAGE = 50;
const STATUSES = ["running", "paused", "completed", "failed"];

// Kept across visits, so coming back from a run shows the same page of the same filter.
const query = { status: "", q: "", offset: 0 };

export function showRuns(root) {
  let generation = 0;
  const status = el(
    "select#status-filter",
    { "aria-label": "Status", onchange: () => ((query.status = status.value), (query.offset = 0), load()) },
    el("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => el("option", { value: s }, s)),
  );
  status.value = query.status;
  let searchTimer = null;
  const search = el("input#search", {
    type: "search",
    placeholder: "Search run ID…",
    "aria-label": "Search run ID",
    value: query.q,
    oninput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => ((query.q = search.value.trim()), (query.offset = 0), load()), 250);
    },
  });
  const count = el("span.count");
  const prev = el("button.pager", { type: "button", onclick: () => ((query.offset = Math.max(0, query.offset - PAGE)), load()) }, "← Prev");
  const next = el("button.pager", { type: "button", onclick: () => ((query.offset += PAGE), load()) }, "Next →");
  const body = el("tbody");
  const message = el("p.message", { hidden: true });
  const table = el(
    "table.runs#runs-table",
    {},
    el(
      "thead",
      {},
      el("tr", {}, ["Status", "Run", "Progress", "Kickoffs", "Tokens", "Cost", "Lease", "Updated"].map((h) => el("th", {}, h))),
    ),
    body,
  );
  root.replaceChildren(
    el("section.page", {}, el("div.toolbar", {}, el("h1", {}, "Runs"), status, search, el("span.spacer"), count, prev, next), message, el("div.table-wrap", {}, table)),
  );

  async function load() {
    const mine = ++generation;
    try {
      const page = await api.runs({ ...query, limit: PAGE });
      if (mine !== generation) return;
      message.hidden = true;
      render(page);
    } catch (error) {
      if (mine !== generation) return;
      message.hidden = false;
      message.textContent = error.message;
    }
  }

  function render(page) {
    const { runs, total, offset } = page;
    count.textContent = total === 0 ? "no runs" : `${offset + 1}–${offset + runs.length} of ${fmtNumber(total)}`;
    prev.disabled = offset === 0;
    next.disabled = offset + runs.length >= total;
    body.replaceChildren(...ordered(runs).map(({ run, depth }) => row(run, depth)));
    if (runs.length === 0) {
      const filtered = query.status || query.q;
      body.append(el("tr", {}, el("td.empty", { colSpan: 8 }, filtered ? "No runs match." : "No runs in this store yet.")));
    }
  }

  load();
  const stop = watch(null, load);
  return () => {
    generation++;
    clearTimeout(searchTimer);
    stop();
  };
}

function parentId(run) {
  if (!run.parent) return null;
  return typeof run.parent === "string" ? run.parent : run.parent.runId ?? null;
}

/** The page's runs, newest first, each child run right under its parent when both are on the page, in the order they ran. */
function ordered(runs) {
  const onPage = new Set(runs.map((r) => r.runId));
  const children = new Map();
  const roots = [];
  for (const run of runs) {
    const parent = parentId(run);
    if (parent && onPage.has(parent) && parent !== run.runId) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(run);
    } else roots.push(run);
  }
  const out = [];
  const seen = new Set();
  const visit = (run, depth) => {
    if (seen.has(run.runId)) return;
    seen.add(run.runId);
    out.push({ run, depth });
    for (const child of [...(children.get(run.runId) ?? [])].reverse()) visit(child, depth + 1);
  };
  for (const run of roots) visit(run, parentId(run) ? 1 : 0);
  for (const run of runs) visit(run, 1); // a cycle, if one ever came: still shown
  return out;
}

function row(run, depth) {
  const parent = parentId(run);
  const done = run.done ?? 0;
  const total = run.total ?? 0;
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const holders = run.holders ?? [];
  return el(
    "tr",
    { dataset: { run: run.runId }, class: depth > 0 ? "child" : "" },
    el("td", {}, badge(run.status)),
    el(
      "td.run-cell",
      { style: { paddingLeft: `${0.75 + depth * 1.5}rem` } },
      depth > 0 ? el("span.child-mark", { title: parent ? `child of ${parent}` : "child run" }, "↳ ") : null,
      el("a.run-id", { href: runLink(run.runId) }, run.runId),
      el("div.sub", {}, run.crew ?? "", run.kind === "flow" ? el("span.tag", {}, "flow") : null, run.error ? el("span.error-mark", { title: run.error }, " · failed: " + oneLine(run.error)) : null),
    ),
    el(
      "td.progress",
      {},
      el("span.fraction", {}, `${done}/${total}`),
      el("span.bar", { role: "progressbar", "aria-valuenow": done, "aria-valuemax": total }, el(`span.fill.status-${run.status}`, { style: { width: `${share * 100}%` } })),
    ),
    el("td.num", {}, fmtNumber(run.attempts)),
    el("td.num", {}, run.tokens ? `${fmtNumber(run.tokens.input)} / ${fmtNumber(run.tokens.output)}` : "—"),
    el("td.num", {}, fmtCost(run.costUsd)),
    el(
      "td.lease",
      {},
      holders.length === 0
        ? el("span.muted", {}, "—")
        : holders.map((h) => el("div", { title: `${h.worker} holds ${h.task} until ${h.until}` }, el("span.task-name", {}, h.task), " · ", el("span.worker", {}, h.worker), " until ", timeEl(h.until))),
    ),
    el("td", {}, timeEl(run.updatedAt, fmtAgo(run.updatedAt)), el("div.sub", {}, "started ", fmtTime(run.createdAt))),
  );
}

function oneLine(text) {
  const line = String(text).split("\n")[0];
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}
