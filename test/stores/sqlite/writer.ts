/**
 * A writer process for the SQLite multi-process test:
 *   node --import tsx writer.ts <db-file> <worker> <commits>
 * Opens the store, begins the shared run, prints "ready", waits for a line on stdin, then commits
 * <commits> tasks as fast as it can and prints "done". Any error ends it with exit code 1.
 */
import { once } from "node:events";
import { SqliteStore } from "../../../src/stores/sqlite/store.js";

const [file, worker, commits] = process.argv.slice(2);
if (!file || !worker || !commits) throw new Error("usage: writer.ts <db-file> <worker> <commits>");

const store = await SqliteStore.open(file);
await store.beginRun({ runId: "shared", crew: "multi-process", inputs: {} });
process.stdout.write("ready\n");
await once(process.stdin, "data");
for (let i = 0; i < Number(commits); i++) {
  await store.saveTask(
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
  );
}
await store.close();
process.stdout.write("done\n");
process.stdin.destroy();
