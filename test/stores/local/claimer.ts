/**
 * A claiming process for the lease tests of the stores kept in a local file (SQLite, JSON):
 *   node --import tsx claimer.ts '<json config>'
 * with config { kind, file, runId, worker, ttlMs, tasks, untilGrantedMs? }. Opens the store, prints
 * "ready", waits for a line on stdin, then claims each task in order — once, or with
 * `untilGrantedMs` again every 20 ms until granted (at most that long) — and prints one line
 * `result <json>` listing every attempt with the wall-clock time before and after it. Any error
 * ends it with exit code 1.
 */
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { JsonFileStore } from "../../../src/stores/json/store.js";
import { SqliteStore } from "../../../src/stores/sqlite/store.js";
import type { Lease } from "../../../src/stores/store.js";

interface Config {
  kind: "sqlite" | "json";
  file: string;
  runId: string;
  worker: string;
  ttlMs: number;
  tasks: string[];
  untilGrantedMs?: number;
}

const config = JSON.parse(process.argv[2] ?? "") as Config;
const store = config.kind === "sqlite" ? await SqliteStore.open(config.file) : await JsonFileStore.open(config.file, { lockTimeoutMs: 20_000 });
process.stdout.write("ready\n");
await once(process.stdin, "data");
const attempts: Array<{ task: string; before: number; after: number; lease: Lease | null }> = [];
for (const task of config.tasks) {
  const deadline = Date.now() + (config.untilGrantedMs ?? 0);
  for (;;) {
    const before = Date.now();
    const lease = await store.claimTask(config.runId, task, config.worker, config.ttlMs);
    attempts.push({ task, before, after: Date.now(), lease: lease ?? null });
    if (lease || Date.now() >= deadline) break;
    await sleep(20);
  }
}
await store.close();
process.stdout.write(`result ${JSON.stringify({ attempts })}\n`);
process.stdin.destroy();
