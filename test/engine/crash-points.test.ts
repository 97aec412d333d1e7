/**
 * Crash-point enumeration (RELIABILITY A2): a child process runs a four-task chain and is killed
 * with SIGKILL at every named point of the engine (`src/engine/crash-points.ts`) in every task,
 * on every store; then the run is resumed. Each case must end with the golden outputs (I5), with
 * every task committed before the crash reused and never run again (I3), with no task's model
 * called more than once plus once per crash that cut its call short, and with every stored record
 * whole (I1).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../src/engine/crash-points.js";
import { MemoryStore } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";
import { CHAIN, crashCrew } from "./fixtures/crash-crew.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const child = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-crash-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const pg = await postgresService();
const redis = await redisService();
const inputs = { claim: "CLM-7" };

const backends = [
  { name: "sqlite", available: true, url: (id: string) => `sqlite:${path.join(scratch, `${id}.db`)}` },
  { name: "json", available: true, url: (id: string) => `json:${path.join(scratch, `${id}.json`)}` },
  { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("crash")) },
  { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("crash")}:`) },
];

function killedAt(url: string, runId: string, ledger: string, crashAt: string): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, url, runId, ledger], {
      cwd: root,
      env: { ...process.env, CREWSTATE_CRASH_AT: crashAt, CREWSTATE_LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let said = "";
    proc.stdout!.on("data", (chunk: Buffer) => (said += chunk.toString()));
    proc.stderr!.on("data", (chunk: Buffer) => (said += chunk.toString()));
    proc.on("error", reject);
    proc.on("exit", (code, signal) => (signal === null ? reject(new Error(`the child exited with ${code} instead of crashing: ${said}`)) : resolve(signal)));
  });
}

it("refuses a CREWSTATE_CRASH_AT that names no point, before any call", async () => {
  const ledger = path.join(scratch, "bogus.ledger");
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, "memory:", "bogus", ledger], {
      cwd: root,
      env: { ...process.env, CREWSTATE_CRASH_AT: "midway:2" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    proc.on("exit", (code) => resolve({ code, stderr }));
  });
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain('CREWSTATE_CRASH_AT="midway:2" is not <point>:<n>');
});

function callsPerTask(ledger: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of readFileSync(ledger, "utf8").split("\n").filter(Boolean)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

const golden = (await crashCrew(path.join(scratch, "golden.ledger")).kickoff({ runId: "golden", store: new MemoryStore(), inputs })).outputs;

describe.each(backends)("a crash at every engine point on $name", ({ available, url: urlFor }) => {
  it.skipIf(!available)(
    `${CRASH_POINTS.length} points × ${CHAIN.length} tasks: resume ends with the golden outputs and never reruns committed work`,
    async () => {
      for (const point of CRASH_POINTS) {
        for (let n = 1; n <= CHAIN.length; n++) {
          const label = `${point}:${n}`;
          const runId = `crash-${point}-${n}`;
          const url = urlFor(runId);
          const ledger = path.join(scratch, `${freshName("ledger")}.txt`);
          expect(await killedAt(url, runId, ledger, label), label).toBe("SIGKILL");

          const store = await openStore(url);
          try {
            const run = (await store.getRun(runId))!;
            const committedBefore = CHAIN.slice(0, point === "committed" ? n : n - 1);
            expect(run.tasks.filter((t) => t.status === "completed").map((t) => t.name), label).toEqual(committedBefore);
            for (const task of run.tasks) {
              if (task.status === "completed") expect(task.output, label).toBe(golden[task.name]);
              else expect(task, label).toMatchObject({ name: CHAIN[n - 1], status: "running", output: null });
            }

            const resumed = await crashCrew(ledger).kickoff({ runId, store, inputs });
            expect(resumed.outputs, label).toEqual(golden);
            expect(resumed.tasks.map((t) => t.outcome), label).toEqual(CHAIN.map((name) => (committedBefore.includes(name) ? "reused" : "ran")));
            // Only a crash between an answer and its commit costs a second call, and only in that task.
            const expected = Object.fromEntries(CHAIN.map((name, i) => [name, point === "answered" && i === n - 1 ? 2 : 1]));
            expect(callsPerTask(ledger), label).toEqual(expected);
          } finally {
            await store.close();
          }
        }
      }
    },
    300_000,
  );
});
