/** Runs to prune: of two crews, every status, of several ages (relative to when the test file loads). */
import type { RunDump, RunStatus, Store, TaskRecord } from "../../src/stores/store.js";
import { call, completedTask } from "../../src/testing/specs/support.js";

export const NOW = Date.now();
export const DAY = 86_400_000;

/** A run of `crew` ended with `status`, last updated `daysAgo` days ago, with two tasks and their journals. */
export function dump(runId: string, crew: string, status: RunStatus, daysAgo: number): RunDump {
  const at = new Date(NOW - daysAgo * DAY).toISOString();
  const tasks: TaskRecord[] = [completedTask("a"), completedTask("b", status === "failed" ? { status: "failed", output: null, structured: null, outputHash: null, error: "boom" } : {})];
  return {
    run: { runId, crew, kind: "crew", parent: null, inputs: { notes: `notes of ${runId}` }, status, attempts: 1, error: status === "failed" ? "boom" : null, createdAt: at, updatedAt: at, tasks },
    events: [{ seq: 1, runId, task: null, type: "run_started", at, data: { attempt: 1 } }],
    calls: [call("a", 0), call("a", 1), call("b", 0)],
  };
}

export const SEED: [string, string, RunStatus, number][] = [
  ["a-old-done", "alpha", "completed", 40],
  ["a-old-failed", "alpha", "failed", 35],
  ["a-old-running", "alpha", "running", 50],
  ["a-old-paused", "alpha", "paused", 50],
  ["a-new-done", "alpha", "completed", 1],
  ["b-old-done", "beta", "completed", 60],
  ["b-mid-done", "beta", "completed", 20],
];

export async function seeded(store: Store): Promise<Map<string, RunDump>> {
  const before = new Map<string, RunDump>();
  for (const [id, crew, status, days] of SEED) {
    await store.importRun(dump(id, crew, status, days));
    before.set(id, (await store.exportRun(id))!);
  }
  return before;
}

