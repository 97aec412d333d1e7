/**
 * Many workers, one store (issue: workers). Real worker processes (`crewstate worker`) on the real
 * PostgreSQL (pg-boss) and Redis (BullMQ), an execution ledger outside the store, and SIGKILLs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { enqueueRun } from "../../src/engine/worker.js";
import { openStore } from "../../src/stores/open.js";
import type { Store } from "../../src/stores/store.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";
import { loadModule } from "../../src/cli/load-module.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const crewModule = fileURLToPath(new URL("./fixtures/fleet-crew.js", import.meta.url));
const crew = await loadModule(crewModule);
const pg = await postgresService();
const redis = await redisService();

const backends = [
  { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("fleet")) },
  { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("fleet")}:`) },
];

interface Fleet {
  workers: ChildProcess[];
  kills: number;
  stop(): Promise<void>;
}

const started: Fleet[] = [];
afterEach(async () => {
  for (const fleet of started.splice(0)) await fleet.stop();
});

function spawnWorker(url: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["bin/crewstate.js", "worker", crewModule, "--store", url, "--lease-ttl", "1500"], {
    cwd: root,
    env: { ...process.env, ...env, CREWSTATE_LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

/** `count` workers, each replaced when it dies, so the fleet keeps its size. */
function startFleet(url: string, count: number, env: Record<string, string>): Fleet {
  let stopping = false;
  const fleet: Fleet = {
    workers: [],
    kills: 0,
    async stop() {
      stopping = true;
      for (const worker of fleet.workers) worker.kill("SIGKILL");
      await Promise.all(fleet.workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? undefined : new Promise((r) => w.once("exit", r)))));
    },
  };
  const keep = (slot: number) => {
    const worker = spawnWorker(url, env);
    fleet.workers[slot] = worker;
    worker.once("exit", () => {
      if (!stopping) keep(slot);
    });
  };
  for (let slot = 0; slot < count; slot++) keep(slot);
  started.push(fleet);
  return fleet;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function terminal(store: Store, runIds: string[]): Promise<Map<string, string> | undefined> {
  const statuses = new Map<string, string>();
  for (const runId of runIds) {
    const run = await store.getRun(runId);
    if (!run || run.status === "running") return undefined;
    statuses.set(runId, run.status);
  }
  return statuses;
}

/** task_completed events per "run task": a committed result appears exactly once. */
async function commitsPerTask(store: Store, runIds: string[]): Promise<Map<string, number>> {
  const commits = new Map<string, number>();
  for (const runId of runIds) {
    for (const event of await store.events(runId)) {
      if (event.type === "task_completed") commits.set(`${runId} ${event.task}`, (commits.get(`${runId} ${event.task}`) ?? 0) + 1);
    }
  }
  return commits;
}

function ledgerCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(file)) return counts;
  for (const line of readFileSync(file, "utf8").split("\n").filter(Boolean)) {
    const [run, task] = line.split(" ");
    counts.set(`${run} ${task}`, (counts.get(`${run} ${task}`) ?? 0) + 1);
  }
  return counts;
}

describe.each(backends)("workers on $name", ({ available, url: freshUrl }) => {
  it.skipIf(!available)(
    "8 workers, 50 runs × 10 tasks, 10 random SIGKILLs: every task committed exactly once and every run completes",
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-fleet-"));
      const ledger = path.join(dir, "ledger.log");
      const url = freshUrl();
      const store = await openStore(url);
      try {
        const runIds = Array.from({ length: 50 }, (_, i) => `fleet-${i}`);
        for (const runId of runIds) await enqueueRun(crew, { runId, inputs: { run: runId, poison: "no" } }, url, { jobTimeoutMs: 3_000 });
        const fleet = startFleet(url, 8, { FLEET_LEDGER: ledger });
        // Kill a random worker every so often while work remains, 10 times in all.
        while (fleet.kills < 10 && !(await terminal(store, runIds))) {
          await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
          const victim = fleet.workers[Math.floor(Math.random() * fleet.workers.length)]!;
          if (victim.exitCode === null && victim.signalCode === null) {
            victim.kill("SIGKILL");
            fleet.kills++;
          }
        }
        const statuses = await waitFor("every run to end", () => terminal(store, runIds), 120_000);
        expect([...statuses.values()].every((s) => s === "completed")).toBe(true);

        const commits = await commitsPerTask(store, runIds);
        expect(commits.size).toBe(500);
        expect([...commits.values()].every((n) => n === 1)).toBe(true);
        for (const runId of runIds) {
          const run = (await store.getRun(runId))!;
          expect(run.tasks.map((t) => t.status)).toEqual(Array(10).fill("completed"));
        }
        // Each kill can cost at most the one task its worker had in flight.
        const executions = ledgerCounts(ledger);
        const total = [...executions.values()].reduce((a, b) => a + b, 0);
        expect(executions.size).toBe(500);
        expect(total).toBeLessThanOrEqual(500 + fleet.kills);
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it.skipIf(!available)(
    "a poison task that kills its worker on every attempt is dead-lettered; the other runs complete",
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-poison-"));
      const ledger = path.join(dir, "ledger.log");
      const url = freshUrl();
      const store = await openStore(url);
      try {
        const runIds = ["poison-0", "ok-1", "ok-2", "ok-3"];
        for (const runId of runIds) await enqueueRun(crew, { runId, inputs: { run: runId, poison: runId.startsWith("poison") ? "yes" : "no" } }, url, { jobTimeoutMs: 3_000 });
        startFleet(url, 2, { FLEET_LEDGER: ledger });
        const statuses = await waitFor("every run to end", () => terminal(store, runIds), 150_000);
        expect(Object.fromEntries(statuses)).toEqual({ "poison-0": "failed", "ok-1": "completed", "ok-2": "completed", "ok-3": "completed" });
        const poisoned = (await store.getRun("poison-0"))!;
        const step = poisoned.tasks.find((t) => t.name === "step_03")!;
        expect(step.status).toBe("failed");
        expect(step.error).toMatch(/dead-lettered/);
        expect(ledgerCounts(ledger).get("poison-0 step_03")).toBe(5);
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
