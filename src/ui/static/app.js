// crewstate ui: a single page routed by location.hash —
//   #/                           the runs list
//   #/runs/<run-id>              a run
//   #/runs/<run-id>/tasks/<task> a run with a task's details open
import { api, el } from "./api.js";
import { showRuns } from "./runs.js";
import { showRun } from "./run.js";

const view = document.getElementById("view");
let current = null; // { kind: "runs", dispose } | { kind: "run", runId, select, dispose }

function parse(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "");
  try {
    if (parts[0] === "runs" && parts[1]) {
      return { kind: "run", runId: decodeURIComponent(parts[1]), task: parts[2] === "tasks" && parts[3] ? decodeURIComponent(parts.slice(3).join("/")) : null };
    }
  } catch {
    // a malformed escape: the runs list
  }
  return { kind: "runs" };
}

function route() {
  const next = parse(location.hash);
  if (next.kind === "run" && current?.kind === "run" && current.runId === next.runId) {
    current.select(next.task);
    return;
  }
  current?.dispose();
  window.scrollTo(0, 0);
  if (next.kind === "run") {
    const run = showRun(view, next.runId);
    current = { kind: "run", runId: next.runId, select: run.select, dispose: run.dispose };
    run.select(next.task);
  } else {
    current = { kind: "runs", dispose: showRuns(view) };
  }
}

window.addEventListener("hashchange", route);
route();

api
  .info()
  .then((info) => {
    document.getElementById("store").textContent = info.store;
  })
  .catch((error) => {
    if (error.status === 401) {
      view.replaceChildren(el("p.message", {}, "Not signed in: open the address that `crewstate ui` printed (the one with ?token=)."));
    }
  });
