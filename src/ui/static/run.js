// A run (`#/runs/<id>`, and `#/runs/<id>/tasks/<task>` with a task's details open): its header,
// totals, timeline, child runs and event history, refetched whenever the store says it changed.
import { api, badge, el, fill, fmtCost, fmtNumber, jsonText, preview, runLink, timeEl, watch } from "./api.js";
import { renderTimeline } from "./timeline.js";
import { renderTaskDetails } from "./task.js";

export function showRun(root, runId) {
  let data = null;
  let selected = null;
  let generation = 0;
  let lastSeq = 0;
  let ticker = null;

  const header = el("div.run-header");
  const totals = el("div.totals");
  const timelineBox = el("div.timeline-box");
  const children = el("section.children", { hidden: true });
  const events = el("section.events");
  const detailsBox = el("div.details-box");
  const message = el("p.message", { hidden: true });
  const main = el("div.run-main", {}, header, totals, el("section.timeline-section", {}, el("h2", {}, "Timeline"), timelineBox), children, events);
  const layout = el("div.run-layout", {}, main, detailsBox);
  root.replaceChildren(el("section.page", {}, el("a.back", { href: "#/" }, "← All runs"), message, layout));

  async function loadRun() {
    const mine = ++generation;
    try {
      const next = await api.run(runId);
      if (mine !== generation) return;
      message.hidden = true;
      data = next;
      renderRun();
      if (selected) await loadTask(false);
    } catch (error) {
      if (mine !== generation) return;
      message.hidden = false;
      message.textContent = error.status === 404 ? `No run ${runId} in this store.` : error.message;
    }
  }

  async function loadTask(force) {
    const name = selected;
    if (!name) return detailsBox.replaceChildren();
    // An open editor or feedback form is not thrown away by a live refresh.
    if (!force && detailsBox.querySelector(".form-open")) return;
    try {
      const detail = await api.task(runId, name);
      if (name !== selected) return;
      const summary = data?.tasks.find((t) => t.name === name) ?? null;
      const openCalls = new Set([...detailsBox.querySelectorAll(".call > details:not([open])")].map((d) => d.closest(".call").dataset.position));
      const openPrompts = new Set([...detailsBox.querySelectorAll(".call details.messages[open]")].map((d) => d.closest(".call").dataset.position));
      const panel = renderTaskDetails(runId, summary, detail, () => loadRun());
      for (const call of panel.querySelectorAll(".call")) {
        if (openCalls.has(call.dataset.position)) call.querySelector("details").open = false;
        if (openPrompts.has(call.dataset.position)) call.querySelector("details.messages")?.setAttribute("open", "");
      }
      const keep = detailsBox.querySelector(".notice:not([hidden])");
      detailsBox.replaceChildren(panel);
      if (keep) panel.querySelector(".notice").replaceWith(keep);
      layout.classList.add("with-details");
    } catch (error) {
      if (name !== selected) return;
      const summary = data?.tasks.find((t) => t.name === name) ?? null;
      detailsBox.replaceChildren(
        error.status === 404 && summary
          ? el(
              "aside.details#task-details",
              { dataset: { task: name } },
              el("div.details-head", {}, el("h2", {}, name), badge(summary.outcome, "outcome"), el("a.close", { href: runLink(runId), "aria-label": "Close the details" }, "×")),
              el("p", {}, summary.reason || ""),
              el("p.muted", {}, "No result is recorded for it: it runs at the run's next kickoff."),
            )
          : el("aside.details#task-details", {}, el("p.message", {}, error.status === 404 ? `No task ${name} in this run.` : error.message)),
      );
      layout.classList.add("with-details");
    }
  }

  function renderRun() {
    const { run } = data;
    const parent = run.parent ? (typeof run.parent === "string" ? { runId: run.parent, task: null } : run.parent) : null;
    document.title = `${run.runId} · crewstate`;
    fill(header, 
      el("div.title-line", {}, el("h1.run-id", {}, run.runId), badge(run.status), run.kind === "flow" ? el("span.tag", {}, "flow") : null),
      el(
        "dl.run-facts",
        {},
        fact(run.kind === "flow" ? "Flow" : "Crew", run.crew),
        fact("Kickoffs", fmtNumber(run.attempts)),
        fact("Started", timeEl(run.createdAt)),
        fact("Updated", timeEl(run.updatedAt)),
        parent ? fact("Parent", [el("a.parent-link", { href: runLink(parent.runId) }, parent.runId), parent.task ? ` · ${parent.task}` : ""]) : null,
      ),
      run.error ? el("pre.error-box", {}, run.error) : null,
      renderInputs(run.inputs),
    );
    const spent = data.totals?.spent ?? {};
    const saved = data.totals?.saved ?? {};
    fill(totals, 
      card("Spent", `${fmtNumber(spent.inputTokens ?? 0)} in · ${fmtNumber(spent.outputTokens ?? 0)} out tokens`, fmtCost(spent.costUsd)),
      card("Saved by resuming", `${fmtNumber(saved.inputTokens ?? 0)} in · ${fmtNumber(saved.outputTokens ?? 0)} out tokens`, fmtCost(saved.costUsd), "saved"),
    );
    renderTimelineNow();
    const kids = data.children ?? [];
    children.hidden = kids.length === 0;
    fill(children, 
      el("h2", {}, `Child runs · ${kids.length}`),
      el("ul.child-list", {}, kids.map((c) => el("li", {}, badge(c.status), " ", el("a", { href: runLink(c.runId) }, c.runId), c.parentTask ? el("span.muted", {}, ` from ${c.parentTask}`) : null))),
    );
    renderEvents(data.events ?? []);
    // A running task's bar grows until it finishes.
    const running = data.tasks.some((t) => t.outcome === "running" || t.status === "running");
    if (running && ticker === null) ticker = setInterval(renderTimelineNow, 1000);
    if (!running && ticker !== null) (clearInterval(ticker), (ticker = null));
  }

  function renderTimelineNow() {
    if (data) timelineBox.replaceChildren(renderTimeline(runId, data.tasks, selected));
  }

  function renderEvents(list) {
    const newest = list.length ? list[list.length - 1].seq : 0;
    const box = el(
      "div.event-scroll",
      {},
      el(
        "table.events-table#events",
        {},
        el("thead", {}, el("tr", {}, ["#", "At", "Event", "Task", "Data"].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          list.map((e) =>
            el(
              "tr",
              { class: lastSeq && e.seq > lastSeq ? "fresh" : "", dataset: { seq: e.seq, type: e.type } },
              el("td.num", {}, e.seq),
              el("td", {}, timeEl(e.at)),
              el("td", {}, el(`span.event-type.ev-${e.type}`, {}, e.type)),
              el("td", {}, e.task ? el("a", { href: `${runLink(runId)}/tasks/${encodeURIComponent(e.task)}` }, e.task) : ""),
              el("td.data", { title: e.data ? jsonText(e.data) : "" }, e.data ? preview(e.data, 140) : ""),
            ),
          ),
        ),
      ),
    );
    const old = events.querySelector(".event-scroll");
    const atBottom = !old || old.scrollTop + old.clientHeight >= old.scrollHeight - 8;
    fill(events, el("h2", {}, `History · ${list.length} event${list.length === 1 ? "" : "s"}`), box);
    if (atBottom) box.scrollTop = box.scrollHeight;
    else box.scrollTop = old.scrollTop;
    lastSeq = newest;
  }

  function select(task) {
    selected = task;
    layout.classList.toggle("with-details", Boolean(task));
    renderTimelineNow();
    if (!task) detailsBox.replaceChildren();
    else loadTask(true);
  }

  const stop = watch(runId, loadRun);
  return {
    runId,
    select,
    first: loadRun(),
    dispose() {
      generation++;
      if (ticker !== null) clearInterval(ticker);
      stop();
    },
  };
}

function fact(label, value) {
  return el("div.fact", {}, el("dt", {}, label), el("dd", {}, value ?? "—"));
}

function card(label, tokens, cost, kind = "") {
  return el("div.card", { class: kind }, el("span.card-label", {}, label), el("span.card-value", {}, tokens, el("span.card-cost", {}, cost)));
}

function renderInputs(inputs) {
  const entries = inputs && typeof inputs === "object" ? Object.entries(inputs) : [];
  if (entries.length === 0) return null;
  return el(
    "details.inputs",
    {},
    el("summary", {}, `Inputs · ${entries.map(([k]) => k).join(", ")}`),
    el("dl", {}, entries.map(([k, v]) => [el("dt", {}, k), el("dd", {}, el("pre", {}, jsonText(v)))])),
  );
}

