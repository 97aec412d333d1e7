import type { RunEvent, RunSummary, Store } from "../stores/store.js";

/**
 * A run's `parent` says where it came from: the flow run whose step kicked it off, or the run it
 * was forked from. A fork is told apart by its log, which a fork always starts with `run_forked`.
 */
export function isFork(events: readonly RunEvent[]): boolean {
  return events[0]?.type === "run_forked";
}

/** The forks of a run, newest first (as `listRuns` orders them). */
export async function forksOf(store: Store, runId: string): Promise<RunSummary[]> {
  const forks: RunSummary[] = [];
  for (const summary of await store.listRuns()) {
    if (summary.parent?.runId === runId && isFork(await store.events(summary.runId))) forks.push(summary);
  }
  return forks;
}
