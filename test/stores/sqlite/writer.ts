/**
 * A writer process for the SQLite multi-process tests:
 *   node --import tsx writer.ts <db-file> <worker> <commits> [<next-task>]
 * Opens the store, begins the shared run, prints "ready", waits for a line on stdin, then commits
 * <commits> tasks as fast as it can and prints "done". With <next-task>, every commit also claims
 * that task (`CommitOptions.next`, seen token 0), and it prints "granted <json>" first: the leases
 * it was granted. Any error ends it with exit code 1.
 */
import { once } from "node:events";
import { SqliteStore } from "../../../src/stores/sqlite/store.js";
import { newTaskRecord, type Lease } from "../../../src/stores/store.js";

const [file, worker, commits, nextTask] = process.argv.slice(2);
if (!file || !worker || !commits) throw new Error("usage: writer.ts <db-file> <worker> <commits> [<next-task>]");
const next = nextTask && {
  task: nextTask,
  worker: `w${worker}`,
  ttlMs: 60_000,
  seenToken: 0,
  start: { task: { ...newTaskRecord(nextTask), status: "running" as const, attempts: 1 }, event: { type: "task_started" as const, data: { worker: Number(worker) } } },
};
const granted: Lease[] = [];

const store = await SqliteStore.open(file);
await store.beginRun({ runId: "shared", crew: "multi-process", inputs: {} });
process.stdout.write("ready\n");
await once(process.stdin, "data");
for (let i = 0; i < Number(commits); i++) {
  const lease = await store.saveTask(
    "shared",
    {
      name: `w${worker}-${String(i).padStart(4, "0")}`,
      status: "completed",
      inputHash: null,
      output: `output ${i} of worker ${worker}`,
      structured: { worker: Number(worker), i },
      outputHash: null,
      startedAt: null,
      completedAt: new Date().toISOString(),
      attempts: 1,
      error: null,
      usage: null,
      model: "demo",
      worker: `w${worker}`,
      fencingToken: 0,
      leaseExpiresAt: null,
    },
    { type: "task_completed", data: { worker: Number(worker), i } },
    next ? { next } : {},
  );
  if (lease) granted.push(lease);
}
await store.close();
if (next) process.stdout.write(`granted ${JSON.stringify(granted)}\n`);
process.stdout.write("done\n");
process.stdin.destroy();
