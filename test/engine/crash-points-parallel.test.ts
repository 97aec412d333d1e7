/**
 * Crash-point enumeration over a parallel phase: intake, then assess and decide at once, then
 * notify joining them. A child process is SIGKILLed at every named engine point, at each of its
 * four occurrences, on every store; which sibling reaches a point first is up to the race, so the
 * checks are the invariants rather than a fixed split: every task committed before the crash is
 * whole and golden and is reused, never run again (I3); the resume ends with the golden outputs
 * (I5); a task not committed before the crash is called at most twice (a second time only if its
 * answer was lost with the process).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../src/engine/crash-points.js";
import { MemoryStore } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { freshName } from "../services.js";
import { CHAIN, crashCrew } from "./fixtures/crash-crew.js";
import { callsPerTask, crashBackends, killedAt } from "./fixtures/crash-harness.js";

const { scratch, backends } = await crashBackends();
const inputs = { claim: "CLM-7" };
const golden = (await crashCrew(path.join(scratch, "golden.ledger"), "parallel").kickoff({ runId: "golden", store: new MemoryStore(), inputs })).outputs;

describe.each(backends)("a crash at every engine point of a parallel phase on $name", ({ available, url: urlFor }) => {
  it.skipIf(!available)(
    `${CRASH_POINTS.length - 1} points × ${CHAIN.length} occurrences: committed work is never rerun and the resume is golden`,
    async () => {
      // Tasks side by side do not chain their claims; whether the row's last result carries notify's
      // depends on which sibling commits last, so "chained" is enumerated by the chain's suite.
      for (const point of CRASH_POINTS.filter((p) => p !== "chained")) {
        for (let n = 1; n <= CHAIN.length; n++) {
          const label = `${point}:${n}`;
          const runId = `crash-${point}-${n}`;
          const url = urlFor(runId);
          const ledger = path.join(scratch, `${freshName("ledger")}.txt`);
          expect(await killedAt(url, runId, ledger, label, "parallel"), label).toBe("SIGKILL");

          const store = await openStore(url);
          try {
            const before = (await store.getRun(runId))!;
            const committed = before.tasks.filter((t) => t.status === "completed").map((t) => t.name);
            for (const task of before.tasks) {
              if (task.status === "completed") expect(task.output, label).toBe(golden[task.name]);
              else expect(task, label).toMatchObject({ status: "running", output: null });
            }
            // `committed:n` dies right after the n-th commit; a sibling may have committed meanwhile.
            if (point === "committed") expect(committed.length, label).toBeGreaterThanOrEqual(n);

            const resumed = await crashCrew(ledger, "parallel").kickoff({ runId, store, inputs });
            expect(resumed.outputs, label).toEqual(golden);
            expect(resumed.tasks.map((t) => t.outcome), label).toEqual(CHAIN.map((name) => (committed.includes(name) ? "reused" : "ran")));
            const calls = callsPerTask(ledger);
            for (const name of CHAIN) {
              if (committed.includes(name)) expect(calls[name], `${label} ${name}`).toBe(1);
              else expect(calls[name], `${label} ${name}`).toBeLessThanOrEqual(point === "answered" ? 2 : 1);
            }
          } finally {
            await store.close();
          }
        }
      }
    },
    300_000,
  );
});
