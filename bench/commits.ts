import type { Store } from "../src/stores/store.js";

/** The Store methods that write: each call is one commit (one transaction, statement, script or append). */
const WRITES = ["beginRun", "saveTask", "reuseTasks", "setRunStatus", "removeTask", "recordCall", "clearCalls", "claimTask", "heartbeat", "releaseTask", "importRun", "deleteRun", "dropJournals"] as const;

/** Counts the commits made through `store` from now on, by method. */
export function countCommits(store: Store): { total(): number; byMethod: Map<string, number> } {
  const byMethod = new Map<string, number>();
  const record = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of WRITES) {
    const method = record[name]!;
    record[name] = function (this: unknown, ...args: unknown[]) {
      byMethod.set(name, (byMethod.get(name) ?? 0) + 1);
      return method.apply(this, args);
    };
  }
  return { byMethod, total: () => [...byMethod.values()].reduce((a, b) => a + b, 0) };
}
