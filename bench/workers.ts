/**
 * The many-workers section of `npm run bench` (issue 5, item 7): task commits per second with
 * W = 1, 2, 4, 8 worker processes on the PostgreSQL store (pg-boss dispatch) and the Redis store
 * (BullMQ dispatch), side by side with DBOS Transact queues on the same PostgreSQL server.
 *
 * Workload: R runs of a 10-task chain on a zero-latency model, 1 KiB per task output (DBOS: a
 * workflow of 10 `DBOS.runStep` steps, each returning 1 KiB). Each worker process works one run at
 * a time (crewstate `startWorker` concurrency 1; DBOS `workerConcurrency: 1` per executor, every
 * executor with its own `DBOS__VMID` and the same `DBOS__APPVERSION` on one system database).
 *
 * Timing: the W processes are started first and must print `ready`; a warm-up batch of W runs
 * goes through untimed (JIT, connections, DBOS's queue discovery); then each repetition
 * enqueues R fresh runs from this process and the clock runs from just before the first enqueue
 * until a poll (every POLL_MS) sees every one of them completed in the store (DBOS: `SUCCESS` in
 * `dbos.workflow_status`). Process start-up is excluded, enqueueing and dispatch latency are in.
 * commits/s = 10 · R / seconds. Each (system, W) gets fresh state: a new schema (and pg-boss
 * schema), a new Redis key prefix, a new DBOS system database.
 *
 *   node --import tsx bench/workers.ts [--smoke] [--workers-w 1,2,4,8] [--workers-runs 20] [--workers-reps 3] [--dbos-poll-ms 500]
 * prints the section; `npm run bench` appends it to docs/benchmarks.md (not with --smoke).
 */
import { DBOSClient } from "@dbos-inc/dbos-sdk";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { openQueue } from "../src/queue/run-queue.js";
import { openStore } from "../src/stores/open.js";
import type { Store } from "../src/stores/store.js";
import { chainCrew } from "./chain.js";
import { PG_URL, REDIS_URL } from "./targets.js";
import { DBOS_APP_VERSION, DBOS_WORKFLOW, TASKS_PER_RUN } from "./workers/shared.js";

export interface WorkersBenchOptions {
  workers?: number[];
  runs?: number;
  reps?: number;
  /** DBOS's queue polling floor, ms. Default 500: pg-boss's polling interval in crewstate's queue. */
  dbosPollMs?: number;
  smoke?: boolean;
}

type SystemId = "postgres" | "redis" | "dbos";
const SYSTEMS: SystemId[] = ["postgres", "redis", "dbos"];
const LABEL: Record<SystemId, string> = { postgres: "crewstate postgres", redis: "crewstate redis", dbos: "DBOS queue" };
/** The issue's target: crewstate on PostgreSQL at least this many times DBOS's throughput. */
/** issue 13: crewstate ≥ 1.5× DBOS's commits/s at every W from 1 to 8. */
const TARGET = 1.5;
const POLL_MS = 20;
const READY_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 120_000;

interface Sample {
  /** Task commits per second. */
  rate: number;
  seconds: number;
  /** Mean ms a run spent from its start (dequeue) to its completion. */
  runMs: number;
  /** Share of the W workers' wall time spent inside runs. */
  busy: number;
}

interface Cell {
  system: SystemId;
  w: number;
  samples: Sample[];
  error?: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");

export function workersOptionsFrom(argv: string[]): WorkersBenchOptions {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? (argv[i + 1] ?? "") : undefined;
  };
  const num = (flag: string) => (value(flag) === undefined ? undefined : Number(value(flag)));
  return { smoke: argv.includes("--smoke"), workers: value("--workers-w")?.split(",").map(Number), runs: num("--workers-runs"), reps: num("--workers-reps"), dbosPollMs: num("--dbos-poll-ms") };
}

/** For `bench/run.ts`: measures, prints, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function workersSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const options = workersOptionsFrom(argv);
  const markdown = await benchWorkers(options);
  if (!options.smoke) {
    const docs = path.join(ROOT, "docs");
    mkdirSync(docs, { recursive: true });
    appendFileSync(path.join(docs, "benchmarks.md"), `\n${markdown}`);
    process.stdout.write("many-workers section appended to docs/benchmarks.md\n");
  }
  return markdown;
}

export async function benchWorkers(options: WorkersBenchOptions = {}): Promise<string> {
  const started = Date.now();
  const ws = options.workers ?? (options.smoke ? [1] : [1, 2, 4, 8]);
  const runs = options.runs ?? (options.smoke ? 5 : 20);
  const reps = options.reps ?? (options.smoke ? 1 : 3);
  const pollMs = options.dbosPollMs ?? 500;
  for (const [name, v] of Object.entries({ runs, reps, pollMs, ...Object.fromEntries(ws.map((w, i) => [`w${i}`, w])) })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`bench workers: ${name} must be a whole number ≥ 1, got ${v}`);
  }
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const cells: Cell[] = [];
  try {
    for (const [k, w] of ws.entries()) {
      // Rotated, so no system always runs first or right after the same neighbour.
      for (const system of [...SYSTEMS.slice(k % 3), ...SYSTEMS.slice(0, k % 3)]) {
        const cell: Cell = { system, w, samples: [] };
        try {
          cell.samples = system === "dbos" ? await measureDbos(admin, w, runs, reps, pollMs) : await measureCrewstate(admin, system, w, runs, reps);
        } catch (error) {
          cell.error = (error as Error).message.split("\n")[0];
        }
        cells.push(cell);
        const m = median(cell.samples.map((s) => s.rate));
        process.stdout.write(
          `workers  ${LABEL[system].padEnd(19)} W=${w}: ${cell.error ? `FAILED: ${cell.error}` : `${m.toFixed(1)} commits/s (${cell.samples.map((s) => s.rate.toFixed(1)).join(", ")}); ${median(cell.samples.map((s) => s.runMs)).toFixed(0)} ms per run, workers busy ${(100 * median(cell.samples.map((s) => s.busy))).toFixed(0)} %`}\n`,
        );
      }
    }
  } finally {
    await admin.end();
  }
  return markdown(cells, { ws, runs, reps, pollMs, seconds: (Date.now() - started) / 1000 });
}

// ---------------------------------------------------------------------------------------------
// Child processes

interface Fleet {
  stop(): Promise<void>;
}

/** `firstAlone`: the first process must be ready before the others start (DBOS: it creates the system database's schema, which concurrent launches race on). */
async function startFleet(w: number, script: string, args: string[], env: (i: number) => Record<string, string> = () => ({}), firstAlone = false): Promise<Fleet> {
  const children: ChildProcess[] = [];
  const exits: Promise<void>[] = [];
  const stop = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, 20_000);
    await Promise.all(exits);
    clearTimeout(timer);
  };
  try {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < w; i++) {
      if (firstAlone && i === 1) await ready[0];
      const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "workers", script), ...args], {
        cwd: ROOT,
        env: { ...process.env, CREWSTATE_LOG_LEVEL: "silent", ...env(i) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let stderr = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      exits.push(new Promise((resolve) => child.once("exit", () => resolve())));
      ready.push(
        new Promise((resolve, reject) => {
          let out = "";
          const timer = setTimeout(() => reject(new Error(`worker ${i} not ready after ${READY_TIMEOUT_MS} ms: ${stderr}`)), READY_TIMEOUT_MS);
          child.stdout!.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes("ready\n")) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.once("exit", (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`worker ${i} exited (${code ?? signal}) before it was ready: ${stderr}`));
          });
        }),
      );
    }
    await Promise.all(ready);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** Polls `done` every POLL_MS until it is true; the time it first was, in ms since the epoch. */
async function until(done: () => Promise<boolean>, what: string): Promise<number> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    if (await done()) return Date.now();
    if (Date.now() > deadline) throw new Error(`${what} not done after ${RUN_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---------------------------------------------------------------------------------------------
// crewstate

async function measureCrewstate(admin: pg.Client, system: "postgres" | "redis", w: number, runs: number, reps: number): Promise<Sample[]> {
  const tag = `bench_workers_w${w}_${process.pid}`;
  const url = system === "postgres" ? `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${tag}` : `${REDIS_URL}${REDIS_URL.includes("?") ? "&" : "?"}prefix=${encodeURIComponent(`${tag}:`)}`;
  const reset = async () => {
    if (system === "postgres") {
      await admin.query(`DROP SCHEMA IF EXISTS "${tag}" CASCADE`);
      await admin.query(`DROP SCHEMA IF EXISTS "${tag}_queue" CASCADE`);
    } else {
      const { Redis } = await import("ioredis");
      const redis = new Redis(REDIS_URL);
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${tag}:*`, "COUNT", 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    }
  };
  await reset();
  const crew = chainCrew(TASKS_PER_RUN);
  const store = await openStore(url);
  const queue = await openQueue(url, crew.name);
  let fleet: Fleet | undefined;
  try {
    fleet = await startFleet(w, "crewstate-worker.ts", [url]);
    const batch = async (prefix: string, count: number): Promise<Sample> => {
      const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      const start = Date.now();
      for (const runId of ids) await queue.enqueue({ runId, inputs: {} });
      const end = await until(async () => completed(store, ids), `${LABEL[system]} W=${w} batch ${prefix}`);
      const mine = (await store.listRuns()).filter((r) => ids.includes(r.runId));
      const bad = mine.filter((r) => r.completedCount !== TASKS_PER_RUN || r.attempts !== 1);
      if (bad.length > 0) throw new Error(`${bad.length} run(s) of batch ${prefix} completed with a task count or attempts off (${bad[0]!.runId}: ${bad[0]!.completedCount} tasks, ${bad[0]!.attempts} attempts)`);
      const inRuns = mine.reduce((sum, r) => sum + (Date.parse(r.updatedAt) - Date.parse(r.createdAt)), 0);
      const seconds = (end - start) / 1000;
      return { rate: (TASKS_PER_RUN * count) / seconds, seconds, runMs: inRuns / count, busy: inRuns / (w * (end - start)) };
    };
    await batch("warm", w);
    const samples: Sample[] = [];
    for (let rep = 0; rep < reps; rep++) samples.push(await batch(`rep${rep}`, runs));
    return samples;
  } finally {
    await fleet?.stop();
    await queue.close();
    await store.close();
    await reset();
  }
}

async function completed(store: Store, ids: string[]): Promise<boolean> {
  const wanted = new Set(ids);
  let done = 0;
  for (const run of await store.listRuns()) if (wanted.has(run.runId) && run.status === "completed") done++;
  return done === ids.length;
}

// ---------------------------------------------------------------------------------------------
// DBOS

async function measureDbos(admin: pg.Client, w: number, runs: number, reps: number, pollMs: number): Promise<Sample[]> {
  const database = `crewstate_bench_dbosw_${process.pid}_${w}`;
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${database}"`);
  const parsed = new URL(PG_URL);
  parsed.pathname = `/${database}`;
  const url = parsed.toString();
  const queueName = "bench_fleet_queue";
  let fleet: Fleet | undefined;
  let client: DBOSClient | undefined;
  const inspector = new pg.Client({ connectionString: url });
  try {
    fleet = await startFleet(w, "dbos-worker.ts", [url, queueName, "1", String(pollMs)], (i) => ({ DBOS__VMID: `bench-worker-${i}`, DBOS__APPVERSION: DBOS_APP_VERSION }), true);
    await inspector.connect();
    client = await DBOSClient.create({ systemDatabaseUrl: url });
    const batch = async (prefix: string, count: number): Promise<Sample> => {
      const start = Date.now();
      for (let i = 0; i < count; i++) await client!.enqueue({ queueName, workflowName: DBOS_WORKFLOW, workflowID: `${prefix}-${i}`, appVersion: DBOS_APP_VERSION });
      const end = await until(async () => {
        const { rows } = await inspector.query<{ n: string }>("SELECT count(*) AS n FROM dbos.workflow_status WHERE status = 'SUCCESS' AND workflow_uuid LIKE $1", [`${prefix}-%`]);
        return Number(rows[0]!.n) === count;
      }, `DBOS W=${w} batch ${prefix}`);
      const { rows: steps } = await inspector.query<{ n: string }>("SELECT count(*) AS n FROM dbos.operation_outputs WHERE workflow_uuid LIKE $1", [`${prefix}-%`]);
      if (Number(steps[0]!.n) !== TASKS_PER_RUN * count) throw new Error(`DBOS batch ${prefix}: ${steps[0]!.n} step outputs, expected ${TASKS_PER_RUN * count}`);
      const { rows: times } = await inspector.query<{ ms: string | null }>(
        "SELECT sum(updated_at - started_at_epoch_ms) AS ms FROM dbos.workflow_status WHERE workflow_uuid LIKE $1",
        [`${prefix}-%`],
      );
      const inRuns = Number(times[0]!.ms ?? 0);
      const seconds = (end - start) / 1000;
      return { rate: (TASKS_PER_RUN * count) / seconds, seconds, runMs: inRuns / count, busy: inRuns / (w * (end - start)) };
    };
    await batch("warm", w);
    const samples: Sample[] = [];
    for (let rep = 0; rep < reps; rep++) samples.push(await batch(`rep${rep}`, runs));
    return samples;
  } finally {
    await fleet?.stop();
    await client?.destroy();
    await inspector.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function markdown(cells: Cell[], o: { ws: number[]; runs: number; reps: number; pollMs: number; seconds: number }): string {
  const cell = (system: SystemId, w: number) => cells.find((c) => c.system === system && c.w === w);
  const rate = (system: SystemId, w: number) => {
    const c = cell(system, w);
    return !c || c.error ? Number.NaN : median(c.samples.map((s) => s.rate));
  };
  const show = (system: SystemId, w: number) => {
    const c = cell(system, w);
    if (!c) return "—";
    if (c.error) return `failed: ${c.error.replace(/\|/g, "\\|")}`;
    const rates = c.samples.map((s) => s.rate);
    return `${median(rates).toFixed(1)} (${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)})`;
  };
  const detail = (system: SystemId, w: number) => {
    const c = cell(system, w);
    if (!c || c.error) return "—";
    return `${median(c.samples.map((s) => s.runMs)).toFixed(0)} ms / ${(100 * median(c.samples.map((s) => s.busy))).toFixed(0)} %`;
  };
  const ratios = o.ws.map((w) => rate("postgres", w) / rate("dbos", w));
  const met = ratios.filter((r) => r >= TARGET).length;
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "## Many workers: task commits per second",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, Node ${process.version}, with the PostgreSQL and Redis servers on the same machine ` +
      `(every worker process, the servers and the bench share those ${os.cpus().length} cores). Workload: R = ${o.runs} runs of a 10-task chain, zero-latency model, 1 KiB per task ` +
      `output, worked by W processes that each work one run at a time: crewstate \`startWorker\` with concurrency 1 (pg-boss dispatch on PostgreSQL, BullMQ on Redis; ` +
      "every task claimed under a lease with a fencing token and committed), and DBOS Transact queues on the same PostgreSQL server: a workflow of 10 `DBOS.runStep` steps " +
      `each returning 1 KiB, \`workerConcurrency: 1\` per process, W DBOS processes on one system database (distinct \`DBOS__VMID\`, one \`DBOS__APPVERSION\`), queue ` +
      `polling floor \`minPollingIntervalMs: ${o.pollMs}\` (DBOS's default is 1000; ${o.pollMs === 500 ? "500 matches the 0.5 s polling interval crewstate's pg-boss workers use" : "set with --dbos-poll-ms"}). ` +
      "Workers are started and ready, and a warm-up batch of W runs has gone through, before the clock starts; the clock runs from just before the first of the R enqueues " +
      `until a poll (every ${POLL_MS} ms) sees all R runs completed in the store (DBOS: \`SUCCESS\`). Commits/s = 10 · R / seconds; median (min–max) of ${o.reps} ` +
      `repetition${o.reps === 1 ? "" : "s"}. *Per run / busy*: the median mean time from a run's start to its completion, and the share of the W workers' wall time spent inside runs ` +
      "(crewstate: the run's `updatedAt − createdAt`; DBOS: `updated_at − started_at_epoch_ms`); the rest is dispatch — waiting for the queue to hand out the next run.",
    "",
    "| W | crewstate postgres commits/s | crewstate redis commits/s | DBOS commits/s | crewstate postgres / DBOS | per run / busy: postgres · redis · DBOS |",
    "|---:|---:|---:|---:|---:|---|",
    ...o.ws.map(
      (w, i) =>
        `| ${w} | ${show("postgres", w)} | ${show("redis", w)} | ${show("dbos", w)} | ${Number.isFinite(ratios[i]!) ? `${ratios[i]!.toFixed(2)}×` : "—"} | ${detail("postgres", w)} · ${detail("redis", w)} · ${detail("dbos", w)} |`,
    ),
    "",
    `**Target (≥ ${TARGET}× DBOS's throughput, crewstate on PostgreSQL): ${met === o.ws.length ? "met" : met === 0 ? "missed" : "partly met"}** — ${met} of ${o.ws.length} worker counts reach it. ` +
      `crewstate on Redis / DBOS: ${o.ws.map((w) => `${Number.isFinite(rate("redis", w) / rate("dbos", w)) ? (rate("redis", w) / rate("dbos", w)).toFixed(1) : "—"}× at W = ${w}`).join(", ")}.`,
    "",
    "What bounds the numbers: a pg-boss 10 worker waits `pollingInterval − job duration` after every fetch (node_modules/pg-boss/src/worker.js; at least 0.5 s), " +
      "which alone would cap a worker that works one run at a time at ~2 runs/s (~20 commits/s); crewstate's workers call `notifyWorker` as each run ends, so a " +
      "worker with more queued runs fetches the next at once and stays busy (the *busy* column). DBOS's queue dispatcher polls on a floor (here 0.5 s, matched; 1 s by " +
      "default), so one run per process leaves its workers idle most of the time until there are enough processes to cover the polling gap. Once the worker " +
      "processes saturate the machine's 2 cores (every process, both servers and the bench share them), what is left is CPU per run, and a crewstate run costs more of it " +
      "than a DBOS workflow (the per-run column: each crewstate task builds a prompt, calls the model through the journal, claims a lease and commits the task with " +
      "its event, where a DBOS step checkpoints one output), which is why the ratio falls as W grows. On Redis, BullMQ hands out the next job as soon as one is done.",
    "",
    `Section measured in ${o.seconds.toFixed(0)} s.`,
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const markdownText = await benchWorkers(workersOptionsFrom(process.argv.slice(2)));
  process.stdout.write(`\n${markdownText}`);
}
