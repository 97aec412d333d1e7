/**
 * I/O faults under a whole crew run on the JSON file store (RELIABILITY A4): the Nth file-system
 * call of a four-task run fails — ENOSPC on a write, EIO on an fsync, EACCES on an open, EIO on
 * anything else — once (transient) or from then on (persistent), for every N the run makes. Each
 * time the kickoff must end with a typed error or the golden outputs; every task it reported done
 * must be in the file; and once the fault clears, a resume must reach the golden outputs without
 * running a committed task again.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CrewstateError, MemoryStore } from "../../src/index.js";
import { JsonFileStore } from "../../src/stores/json/store.js";
import { nodeIo, type FileIo } from "../../src/stores/json/file-io.js";
import { CHAIN, crashCrew } from "../engine/fixtures/crash-crew.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-iofault-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
const inputs = { claim: "CLM-7" };
const golden = (await crashCrew(path.join(scratch, "golden.ledger")).kickoff({ runId: "golden", store: new MemoryStore(), inputs })).outputs;

const ERRNO: Partial<Record<keyof FileIo, string>> = { writeSync: "ENOSPC", fsyncSync: "EIO", openSync: "EACCES" };

/** Node's file system, except that call `at` (and with `persistent`, every later one) fails. */
function faultyIo(at: number, persistent: boolean): { io: FileIo; calls: () => number } {
  let calls = 0;
  const io = {} as Record<string, unknown>;
  for (const name of Object.keys(nodeIo) as Array<keyof FileIo>) {
    if (typeof nodeIo[name] !== "function") continue;
    io[name] = (...args: unknown[]) => {
      calls += 1;
      if (calls === at || (persistent && calls > at)) {
        const code = ERRNO[name] ?? "EIO";
        throw Object.assign(new Error(`${code}: injected fault, ${name}`), { code });
      }
      return (nodeIo[name] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { io: io as unknown as FileIo, calls: () => calls };
}

function callsPerTask(ledger: string): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!fs.existsSync(ledger)) return counts;
  for (const name of fs.readFileSync(ledger, "utf8").split("\n").filter(Boolean)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

async function faultAt(at: number, persistent: boolean): Promise<void> {
  const label = `${persistent ? "persistent" : "transient"} fault at call ${at}`;
  const dir = fs.mkdtempSync(path.join(scratch, "run-"));
  const file = path.join(dir, "state.json");
  const ledger = path.join(dir, "ledger");
  const reported: string[] = [];
  const { io } = faultyIo(at, persistent);
  try {
    const store = await JsonFileStore.open(file, { io });
    try {
      const result = await crashCrew(ledger).kickoff({
        runId: "r",
        store,
        inputs,
        // A lease its failing run could not release runs out quickly for the resume.
        leaseTtlMs: 300,
        onProgress: (event) => event.state === "done" && reported.push(event.task),
      });
      expect(result.outputs, label).toEqual(golden);
    } finally {
      await store.close().catch(() => undefined);
    }
  } catch (error) {
    expect(error, `${label}: ${String(error)}`).toBeInstanceOf(CrewstateError);
  }

  // The fault clears, a while later: a lock file the failing run could not write or remove is old by then.
  const lock = `${file}.lock`;
  if (fs.existsSync(lock)) fs.utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const store = await JsonFileStore.open(file);
  try {
    const run = await store.getRun("r");
    const completed = (run?.tasks ?? []).filter((t) => t.status === "completed").map((t) => t.name);
    for (const task of reported) expect(completed, `${label}: "${task}" was reported done`).toContain(task);
    const before = callsPerTask(ledger);
    const resumed = await crashCrew(ledger).kickoff({ runId: "r", store, inputs });
    expect(resumed.outputs, label).toEqual(golden);
    const after = callsPerTask(ledger);
    for (const task of completed) expect(after[task], `${label}: "${task}" was committed, then run again`).toBe(before[task]);
    // A fault can cost a task's call once (its answer was never committed), never more.
    for (const task of CHAIN) expect(after[task] ?? 0, `${label}: calls of "${task}"`).toBeLessThanOrEqual(2);
  } finally {
    await store.close();
  }
}

describe("the JSON file store under I/O faults in a crew run", () => {
  it("ends with a typed error or the golden outputs at every failing call, keeps what it reported, and resumes", async () => {
    // How many calls a clean run makes.
    const clean = faultyIo(Number.MAX_SAFE_INTEGER, false);
    const dir = fs.mkdtempSync(path.join(scratch, "clean-"));
    const store = await JsonFileStore.open(path.join(dir, "state.json"), { io: clean.io });
    await crashCrew(path.join(dir, "ledger")).kickoff({ runId: "r", store, inputs });
    await store.close();
    const total = clean.calls();
    expect(total).toBeGreaterThan(50);
    for (let at = 1; at <= total; at++) {
      await faultAt(at, false);
      await faultAt(at, true);
    }
  }, 300_000);
});
