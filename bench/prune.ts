/**
 * The prune section of `npm run bench` (issue 14): what `crewstate prune` costs on SQLite. A store
 * holding N = 10,000 finished runs (100 with --smoke), each of 3 tasks with 1 KiB outputs and a
 * journal of 2 calls per task, last updated 40 days ago; then, timed:
 * - the dry run (list + plan, nothing written);
 * - `pruneRuns` of every run older than 30 days: one delete commit per run, judged inside it;
 * - `VACUUM` afterwards, and the file's size before and after.
 * Reported: wall time, time per run, the payload bytes the store says it freed, and the file sizes.
 *
 *   node --import tsx bench/prune.ts [--smoke]   prints the section; `npm run bench` appends it to
 *                                                docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { outputHashOf } from "../src/hash.js";
import { pruneRuns } from "../src/runs/prune.js";
import { openStore } from "../src/stores/open.js";
import type { SqliteStore } from "../src/stores/sqlite/store.js";
import { newTaskRecord, type RunDump } from "../src/stores/store.js";
import { elapsedSince } from "./peers/system.js";

const DAY = 86_400_000;
const OUTPUT = "x".repeat(1024);

function dumpOf(runId: string, at: string): RunDump {
  const names = ["extract", "classify", "report"];
  const tasks = names.map((name) => ({
    ...newTaskRecord(name),
    status: "completed" as const,
    inputHash: "0".repeat(64),
    output: OUTPUT,
    outputHash: outputHashOf(OUTPUT, null),
    startedAt: at,
    completedAt: at,
    attempts: 1,
    model: "bench",
  }));
  const calls = names.flatMap((task) => [0, 1].map((position) => ({ task, position, kind: "model" as const, requestHash: "r".repeat(64), response: { text: OUTPUT.slice(0, 512) }, usage: null, at })));
  return {
    run: { runId, crew: "bench", kind: "crew", parent: null, inputs: { notes: "n".repeat(256) }, status: "completed", attempts: 1, error: null, createdAt: at, updatedAt: at, tasks },
    events: [
      { seq: 1, runId, task: null, type: "run_started", at, data: { attempt: 1 } },
      ...names.map((task, i) => ({ seq: i + 2, runId, task, type: "task_completed" as const, at, data: null })),
      { seq: 5, runId, task: null, type: "run_completed", at, data: null },
    ],
    calls,
  };
}

function fileBytes(file: string): number {
  return [file, `${file}-wal`].filter(existsSync).reduce((sum, f) => sum + statSync(f).size, 0);
}

export async function benchPrune(options: { smoke?: boolean } = {}): Promise<string> {
  const n = options.smoke ? 100 : 10_000;
  const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-prune-"));
  const file = path.join(dir, "state.db");
  const store = (await openStore(`sqlite:${file}`)) as SqliteStore;
  try {
    const at = new Date(Date.now() - 40 * DAY).toISOString();
    for (let i = 0; i < n; i++) await store.importRun(dumpOf(`run-${String(i).padStart(5, "0")}`, at));
    const rules = { statuses: ["completed" as const, "failed" as const], olderThanMs: 30 * DAY };
    const sizeBefore = fileBytes(file);

    let start = process.hrtime.bigint();
    const dry = await pruneRuns(store, rules, { dryRun: true });
    const dryMs = elapsedSince(start);

    start = process.hrtime.bigint();
    const report = await pruneRuns(store, rules);
    const pruneMs = elapsedSince(start);
    const sizeAfterPrune = fileBytes(file);

    start = process.hrtime.bigint();
    store.vacuum();
    const vacuumMs = elapsedSince(start);
    const sizeAfterVacuum = fileBytes(file);
    if (report.removed.length !== n || dry.removed.length !== n || (await store.listRuns()).length !== 0) throw new Error("bench: the prune did not remove every run");

    const mb = (bytes: number) => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`);
    const lines = [
      "## Prune (`crewstate prune`)",
      "",
      `A SQLite store (synchronous=normal) holding ${n.toLocaleString("en")} finished runs of 3 tasks (1 KiB outputs, 2 journaled calls each, 5 events), all 40 days old; ` +
        "`pruneRuns` with `--older-than 30d` removes each run in one immediate transaction that first judges it (status, live leases).",
      "",
      "| what | value |",
      "|---|---:|",
      `| dry run (list + plan) | ${dryMs.toFixed(0)} ms |`,
      `| prune of ${n.toLocaleString("en")} runs | ${(pruneMs / 1000).toFixed(2)} s (${((pruneMs * 1000) / n).toFixed(0)} µs per run) |`,
      `| payload bytes freed, as the store reports | ${mb(report.bytes ?? 0)} |`,
      `| file + WAL before / after prune / after VACUUM | ${mb(sizeBefore)} / ${mb(sizeAfterPrune)} / ${mb(sizeAfterVacuum)} |`,
      `| VACUUM | ${vacuumMs.toFixed(0)} ms |`,
      "",
    ];
    return lines.join("\n");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For `bench/run.ts`: measures, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function pruneSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchPrune({ smoke });
  if (!smoke) appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`\n${await benchPrune({ smoke: process.argv.includes("--smoke") })}`);
