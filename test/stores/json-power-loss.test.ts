/**
 * Simulated power loss for the JSON file store (RELIABILITY A3). A workload of commits runs on a
 * disk that loses power at a seeded file-system call; a reboot finds only what was fsynced, with
 * every unsynced sector applied, dropped or garbled (`json-file/power-loss.ts`). The store must
 * then open to exactly the state of its last acknowledged commit, or of the one in flight — never
 * less, never a torn record. The negative control turns folder fsyncs off and must catch a lost
 * acknowledged commit, so the harness can fail.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonFileStore } from "../../src/stores/json/store.js";
import { MemoryStore } from "../../src/stores/memory/store.js";
import { newTaskRecord, type Store } from "../../src/stores/store.js";
import { PowerLossDisk, PowerLossError, seeded } from "./json-file/power-loss.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-power-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const SEEDS = 1000;
const TASKS = 4;

/**
 * The commits of a small run, one step each, as the engine makes them: a begin with its plan, a
 * claim that starts the first task, a journaled call, each result with its last call and the next
 * task's claim (the last with the run's end); then a second kickoff that reuses every result.
 */
function steps(store: Store): Array<() => Promise<unknown>> {
  const done = { status: "completed" as const, error: null, event: { type: "run_completed" as const } };
  const list: Array<() => Promise<unknown>> = [
    () => store.beginRun({ runId: "r", crew: "power", inputs: { claim: "CLM-1" }, planned: { tasks: Array.from({ length: TASKS }, (_, i) => `task_${i}`) } }),
  ];
  const running = (i: number) => ({ ...newTaskRecord(`task_${i}`), status: "running" as const, attempts: 1 });
  const completed = (i: number) => ({ ...running(i), status: "completed" as const, output: `output of task_${i} `.repeat(60), worker: "worker-1", fencingToken: 1 });
  list.push(() => store.claimTask("r", "task_0", "worker-1", 60_000, { start: { task: running(0), event: { type: "task_started" } } }));
  for (let i = 0; i < TASKS; i++) {
    const name = `task_${i}`;
    const call = (position: number) => ({
      task: name,
      position,
      kind: "model" as const,
      requestHash: `req-${i}-${position}`,
      response: { text: `answer ${position} of ${name} `.repeat(40) },
      usage: { inputTokens: 10, outputTokens: 5, costUsd: null },
      at: "2026-01-01T00:00:00.000Z",
    });
    const last = i === TASKS - 1;
    list.push(() => store.recordCall("r", call(0)));
    list.push(() =>
      store.saveTask("r", completed(i), { type: "task_completed" }, {
        fencingToken: 1,
        calls: [call(1)],
        ...(last ? { endRun: done } : { next: { task: `task_${i + 1}`, worker: "worker-1", ttlMs: 60_000, seenToken: 0, start: { task: running(i + 1), event: { type: "task_started" } } } }),
      }),
    );
  }
  list.push(() => store.beginRun({ runId: "r", crew: "power", inputs: { claim: "CLM-1" } }));
  const reused = Array.from({ length: TASKS }, (_, i) => ({ record: completed(i), fencingToken: 1 }));
  list.push(() => store.reuseTasks("r", reused, { type: "tasks_reused", data: { tasks: reused.map((t) => t.record.name) } }, { endRun: done }));
  return list;
}

/** What a commit leaves that a reader can see, without times (they differ between stores). */
async function seen(store: Store): Promise<unknown> {
  const run = await store.getRun("r");
  if (!run) return null;
  const calls = [];
  for (const task of run.tasks) calls.push(...(await store.calls("r", task.name)).map((c) => [c.task, c.position, c.requestHash, c.response]));
  return {
    status: run.status,
    tasks: run.tasks.map((t) => [t.name, t.status, t.output, t.fencingToken, t.attempts, t.worker]),
    events: (await store.events("r")).map((e) => [e.seq, e.type, e.task]),
    calls,
  };
}

/** What a reader sees after each number of commits, 0 to all, from the memory store. */
const expected: unknown[] = [];
{
  const memory = new MemoryStore();
  expected.push(await seen(memory));
  for (const step of steps(memory)) {
    await step();
    expected.push(await seen(memory));
  }
}

/** One power loss: the number of commits acknowledged before it, and what the store opens to after. */
async function powerLoss(seed: number, ignoreFolderFsync = false): Promise<{ acked: number; after: unknown; cutAt: number; calls: number }> {
  const random = seeded(seed);
  const dir = fs.mkdtempSync(path.join(scratch, `s${seed}-`));
  const rebooted = `${dir}-rebooted`;
  // Compact often, so that losses land in compactions (temp file, rename, folder fsync) too.
  const options = { compactAfterBytes: 1 + Math.floor(random() * 6000) };
  const cutAt = 1 + Math.floor(random() * 400);
  const disk = new PowerLossDisk(dir, { cutAt, ignoreFolderFsync });
  let acked = 0;
  try {
    const store = await JsonFileStore.open(path.join(dir, "state.json"), { ...options, io: disk.io });
    for (const step of steps(store)) {
      await step();
      acked += 1;
    }
    await store.close();
  } catch (error) {
    if (!disk.isOff) throw error;
    expect(error, `seed ${seed}`).toSatisfy((e: unknown) => e instanceof PowerLossError || (e as Error).cause instanceof PowerLossError);
  }
  disk.afterPowerLoss(rebooted, random);
  const store = await JsonFileStore.open(path.join(rebooted, "state.json"));
  try {
    return { acked, after: await seen(store), cutAt, calls: disk.calls };
  } finally {
    await store.close();
  }
}

describe("the JSON file store after a power loss", () => {
  it(`opens to its last acknowledged commit, or the one in flight, after ${SEEDS} seeded power losses`, async () => {
    let lostInFlight = 0;
    let keptInFlight = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { acked, after } = await powerLoss(seed);
      const inFlight = acked + 1 < expected.length ? expected[acked + 1] : undefined;
      if (JSON.stringify(after) === JSON.stringify(expected[acked])) lostInFlight += 1;
      else {
        expect(after, `seed ${seed}: ${acked} commit(s) acknowledged`).toEqual(inFlight);
        keptInFlight += 1;
      }
    }
    // Both outcomes of an interrupted commit happen, or the seeds do not reach into commits.
    expect(lostInFlight).toBeGreaterThan(0);
    expect(keptInFlight).toBeGreaterThan(0);
  }, 120_000);

  it("negative control: with folder fsyncs ignored, some acknowledged commit is lost", async () => {
    let lost = 0;
    for (let seed = 1; seed <= 200 && lost === 0; seed++) {
      const { acked, after } = await powerLoss(seed, true);
      const acceptable = [expected[acked], expected[acked + 1]].map((e) => JSON.stringify(e));
      if (!acceptable.includes(JSON.stringify(after))) lost += 1;
    }
    expect(lost).toBeGreaterThan(0);
  }, 120_000);
});
