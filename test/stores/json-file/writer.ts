/**
 * A child process for the JSON file store's crash and concurrency tests:
 *
 *   node --import tsx writer.ts <file> <runId> <prefix> <count> <compactAfterBytes>
 *
 * saves tasks `<prefix>0` … `<prefix><count-1>` (1 KiB outputs) into an existing run, printing
 * `ack <task>` after each acknowledged commit, then closes the store and prints `done`. The
 * parent SIGKILLs it at random moments and checks that every acknowledged task survived.
 */
import { JsonFileStore } from "../../../src/stores/json/store.js";
import { newTaskRecord } from "../../../src/stores/store.js";

const [file, runId, prefix, count, compactAfterBytes] = process.argv.slice(2);
if (!file || !runId || prefix === undefined || !count || !compactAfterBytes) {
  throw new Error("usage: writer.ts <file> <runId> <prefix> <count> <compactAfterBytes>");
}

const store = await JsonFileStore.open(file, { compactAfterBytes: Number(compactAfterBytes), lockTimeoutMs: 20_000 });
const output = "o".repeat(1024);
for (let i = 0; i < Number(count); i++) {
  const name = `${prefix}${i}`;
  const now = new Date().toISOString();
  await store.saveTask(
    runId,
    { ...newTaskRecord(name), status: "completed", output: `${name}:${output}`, inputHash: "h", startedAt: now, completedAt: now, attempts: 1 },
    { type: "task_completed" },
  );
  // Pipes are synchronous on POSIX: once written, the parent will read it even if we die next.
  process.stdout.write(`ack ${name}\n`);
}
await store.close();
process.stdout.write("done\n");
