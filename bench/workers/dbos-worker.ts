/**
 * One DBOS executor process of the many-workers bench: registers the 10-step workflow (each
 * step returns 1 KiB, as the chain bench's steps do) and the queue, then launches DBOS on the
 * shared system database and dequeues from it. Executor ID and application version come from
 * the environment the parent sets (`DBOS__VMID` distinct per process, `DBOS__APPVERSION` shared),
 * so every process may dequeue every workflow. Prints `ready` once launched; SIGTERM shuts down.
 *
 *   node --import tsx bench/workers/dbos-worker.ts <system-db-url> <queue> <worker-concurrency> <min-polling-ms>
 */
import { DBOS } from "@dbos-inc/dbos-sdk";
import { stepName, stepOutput } from "../peers/workload.js";
import { DBOS_WORKFLOW, TASKS_PER_RUN } from "./shared.js";


const [url, queueName, concurrency, pollMs] = process.argv.slice(2);
if (!url || !queueName || !concurrency || !pollMs) throw new Error("usage: dbos-worker.ts <system-db-url> <queue> <worker-concurrency> <min-polling-ms>");

async function fleet(): Promise<number> {
  let previous = "";
  for (let i = 0; i < TASKS_PER_RUN; i++) {
    const input = previous;
    previous = await DBOS.runStep(async () => stepOutput(i, input), { name: stepName(i) });
  }
  return previous.length;
}

DBOS.registerWorkflow(fleet, { name: DBOS_WORKFLOW });
DBOS.setConfig({ name: "crewstate-bench-workers", systemDatabaseUrl: url, logLevel: "error" });
await DBOS.launch();
await DBOS.registerQueue(queueName, { workerConcurrency: Number(concurrency), minPollingIntervalMs: Number(pollMs), onConflict: "always_update" });
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
await DBOS.shutdown();
process.exit(0);
