import { FLOW_RECORD } from "../flow/step-record.js";
import type { Run, RunSummary, Store } from "../stores/store.js";
import { lastPlanned } from "./planned.js";

export interface RunProgress {
  /** The run as stored now; undefined if it went meanwhile. */
  run: Run | undefined;
  /** A crew's tasks done (completed or skipped) of those its last kickoff planned; a flow's step executions completed of those recorded. */
  done: number;
  total: number;
  /** The claims not yet run out: who holds what, until when. */
  holders: { task: string; worker: string; until: string }[];
}

/** How far a run is and who holds it, as `crewstate runs` and the dashboard's runs page show it. */
export async function progressOf(store: Store, summary: RunSummary, now = new Date().toISOString()): Promise<RunProgress> {
  const run = await store.getRun(summary.runId);
  const tasks = run?.tasks ?? [];
  const holders = tasks.filter((t) => t.worker && t.leaseExpiresAt && t.leaseExpiresAt > now).map((t) => ({ task: t.name, worker: t.worker!, until: t.leaseExpiresAt! }));
  if (summary.kind === "flow") {
    const steps = tasks.filter((t) => t.name !== FLOW_RECORD);
    return { run, done: steps.filter((t) => t.status === "completed").length, total: steps.length, holders };
  }
  // Done of the crew's tasks as its last kickoff planned them, not of the tasks stored so far.
  const planned = lastPlanned(await store.events(summary.runId))?.tasks;
  if (!planned) return { run, done: summary.completedCount, total: summary.taskCount, holders };
  const crew = new Set(planned);
  return { run, done: tasks.filter((t) => crew.has(t.name) && (t.status === "completed" || t.status === "skipped")).length, total: planned.length, holders };
}
