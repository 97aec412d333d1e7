import type { Run, RunEvent, RunSummary, Store } from "../stores/store.js";

/**
 * A run's `parent` says where it came from: the flow run whose step kicked it off (a child run),
 * or the run it was forked from (a fork). A fork is told apart by its log, which a fork always
 * starts with `run_forked`.
 */
export function isFork(events: readonly RunEvent[]): boolean {
  return events[0]?.type === "run_forked";
}

/** The runs whose parent is `runId`, newest first (as `listRuns` orders them): its forks, and a flow's child runs. */
export async function relativesOf(store: Store, runId: string): Promise<{ forks: RunSummary[]; children: RunSummary[] }> {
  const forks: RunSummary[] = [];
  const children: RunSummary[] = [];
  for (const summary of await store.listRuns()) {
    if (summary.parent?.runId !== runId) continue;
    (isFork(await store.events(summary.runId)) ? forks : children).push(summary);
  }
  return { forks, children };
}

/** Where a run came from, in one line for `show`; undefined for a run that has no parent. */
export function parentLine(run: Run, events: readonly RunEvent[]): string | undefined {
  if (!run.parent) return undefined;
  const { runId, task } = run.parent;
  if (isFork(events)) return `forked from run ${runId}${task ? ` at ${task}` : ""}`;
  return `parent: run ${runId}${task ? ` (${task})` : ""}`;
}
