/**
 * Crash-point enumeration (RELIABILITY A2): a child process runs a four-task chain and is killed
 * with SIGKILL at every named point of the engine (`src/engine/crash-points.ts`) in every task,
 * on every store; then the run is resumed. Each case must end with the golden outputs (I5), with
 * every task committed before the crash reused and never run again (I3), with no task's model
 * called more than once plus once per crash that cut its call short, and with every stored record
 * whole (I1).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../src/engine/crash-points.js";
import { MemoryStore } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { freshName } from "../services.js";
import { CHAIN, crashCrew } from "./fixtures/crash-crew.js";
import { callsPerTask, CRASH_CHILD, crashBackends, killedAt } from "./fixtures/crash-harness.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { scratch, backends } = await crashBackends();
const inputs = { claim: "CLM-7" };

it("refuses a CREWSTATE_CRASH_AT that names no point, before any call", async () => {
  const ledger = path.join(scratch, "bogus.ledger");
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", CRASH_CHILD, "memory:", "bogus", ledger], {
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

const golden = (await crashCrew(path.join(scratch, "golden.ledger")).kickoff({ runId: "golden", store: new MemoryStore(), inputs })).outputs;

describe.each(backends)("a crash at every engine point on $name", ({ available, url: urlFor }) => {
  it.skipIf(!available)(
    `${CRASH_POINTS.length} points × the tasks they fall in: resume ends with the golden outputs and never reruns committed work`,
    async () => {
      for (const point of CRASH_POINTS) {
        // A chained claim rides in the commit of every task but the last.
        for (let n = 1; n <= (point === "chained" ? CHAIN.length - 1 : CHAIN.length); n++) {
          const label = `${point}:${n}`;
          const runId = `crash-${point}-${n}`;
          const url = urlFor(runId);
          const ledger = path.join(scratch, `${freshName("ledger")}.txt`);
          expect(await killedAt(url, runId, ledger, label), label).toBe("SIGKILL");

          const store = await openStore(url);
          try {
            const run = (await store.getRun(runId))!;
            const committedBefore = CHAIN.slice(0, point === "committed" || point === "chained" ? n : n - 1);
            expect(run.tasks.filter((t) => t.status === "completed").map((t) => t.name), label).toEqual(committedBefore);
            // After a result's commit (but the last), the next task's claim and started record are committed with it.
            const claimed = point === "chained" || (point === "committed" && n < CHAIN.length) ? CHAIN[n] : CHAIN[n - 1];
            for (const task of run.tasks) {
              if (task.status === "completed") expect(task.output, label).toBe(golden[task.name]);
              else expect(task, label).toMatchObject({ name: claimed, status: "running", output: null });
            }
            if (point === "chained") expect(run.tasks.map((t) => t.name), label).toContain(claimed);

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
