/**
 * Crash points of a flow (RELIABILITY A2): a child process runs a flow whose step kicks off a
 * four-task crew twice round a loop, and is SIGKILLed at every named point of the engine — a
 * claim or answer inside the crew, a commit of a crew task or of a step — then the run is resumed.
 * Each case must end with the golden state, with every committed step and task reused (never run
 * again) and no model called more than once, but the one call a kill cut off between its answer
 * and its commit. SQLite at every step boundary and at a claim and an answer inside the crew; the
 * other persistent stores at the points of the loop's second round.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MemoryStore, runFlow } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { freshName } from "../services.js";
import { crashBackends, killedAt } from "../engine/fixtures/crash-harness.js";
import { CRASH_COUNTS, crashFlow } from "./fixtures/crash-flow.js";

const FLOW_CHILD = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));
const { scratch, backends } = await crashBackends();
const goldenLedger = path.join(scratch, "golden.ledger");
const golden = await runFlow(crashFlow(goldenLedger), { runId: "golden", store: new MemoryStore() });
const goldenCalls = readFileSync(goldenLedger, "utf8").split("\n").filter(Boolean);

// Every step boundary (open, work, check in both rounds, close) and a crew task's commit in each round.
const BOUNDARIES = [1, 2, 6, 7, 8, 12, 13, CRASH_COUNTS.committed].map((n) => `committed:${n}`);
const EDGES = ["claimed:1", `answered:${CRASH_COUNTS.answered}`];
const SECOND_ROUND = ["claimed:6", "answered:7", "committed:12"];

describe.each(backends)("a flow killed at each crash point on $name", ({ name, available, url: urlFor }) => {
  const points = name === "sqlite" ? [...BOUNDARIES, ...EDGES] : SECOND_ROUND;
  it.skipIf(!available)(`${points.length} points: resume ends with the golden state and never reruns committed work`, async () => {
    for (const at of points) {
      const runId = `flow-${at.replace(":", "-")}`;
      const url = urlFor(runId);
      const ledger = path.join(scratch, `${freshName("ledger")}.txt`);
      expect(await killedAt(url, runId, ledger, at, "chain", FLOW_CHILD), at).toBe("SIGKILL");
      const store = await openStore(url);
      try {
        const resumed = await runFlow(crashFlow(ledger), { runId, store });
        expect(resumed.state, at).toEqual(golden.state);
        expect(resumed.result, at).toEqual(golden.result);
        const calls = readFileSync(ledger, "utf8").split("\n").filter(Boolean);
        expect(calls.length, `${at}: ${calls.join(",")}`).toBe(goldenCalls.length + (at.startsWith("answered") ? 1 : 0));
        expect(calls.filter((c) => c === "open" || c === "close"), at).toEqual(["open", "close"]);
        const run = (await store.getRun(runId))!;
        expect(run.status, at).toBe("completed");
        for (const child of ["1", "2"]) expect((await store.getRun(`${runId}.work.${child}`))!.status, at).toBe("completed");
      } finally {
        await store.close();
      }
    }
  }, 300_000);
});
