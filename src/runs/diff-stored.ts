import { requireRun } from "../engine/operator.js";
import type { Store } from "../stores/store.js";
import { diffRuns, type RunDiff } from "./diff.js";

/** How two runs of a store differ (see `diffRuns`); RUN_NOT_FOUND naming the run and the store when one is missing. */
export async function diffStoredRuns(store: Store, runA: string, runB: string): Promise<RunDiff> {
  const [a, b] = [await requireRun(store, runA), await requireRun(store, runB)];
  return diffRuns({ run: a, events: await store.events(runA) }, { run: b, events: await store.events(runB) });
}
