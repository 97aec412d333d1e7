import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { MockLanguageModelV3 } from "ai/test";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { Agent, CrewstateError, Crew, MemoryStore, Task, type Store } from "../../src/index.js";
import { newTaskRecord } from "../../src/stores/store.js";

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
const text = (t: string): LanguageModelV3GenerateResult => ({ content: [{ type: "text", text: t }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] });

function oneTaskCrew(store: Store, answer: () => Promise<string> | string) {
  let calls = 0;
  const model = new MockLanguageModelV3({
    doGenerate: async () => {
      calls++;
      return text(await answer());
    },
  });
  const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
  const crew = new Crew({ name: "leased", tasks: [new Task({ name: "work", description: "d", expectedOutput: "e", agent })], store });
  return { crew, calls: () => calls };
}

/** A kickoff by worker w-1 under a long lease, holding its one task until `finish()`; resolves once it holds it. */
async function holdingKickoff(store: Store, runId: string) {
  let finish!: () => void;
  const holding = new Promise<void>((resolve) => (finish = resolve));
  let holderStarted!: () => void;
  const started = new Promise<void>((resolve) => (holderStarted = resolve));
  const holder = oneTaskCrew(store, async () => {
    holderStarted();
    await holding;
    return "done by the holder";
  });
  const first = holder.crew.kickoff({ runId, worker: "w-1", leaseTtlMs: 600_000 });
  await started;
  return { holder, first, finish };
}

describe("task leases in a kickoff", () => {
  it("claims each task it runs, and commits under the claim's token", async () => {
    const store = new MemoryStore();
    const { crew } = oneTaskCrew(store, () => "done");
    await crew.kickoff({ runId: "l", worker: "w-1" });
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ status: "completed", worker: "w-1", fencingToken: 1, leaseExpiresAt: null });
  });

  it("waits for another worker's lease to run out, then takes the task", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    await store.claimTask("l", "work", "elsewhere:1:abc", 300);
    const { crew } = oneTaskCrew(store, () => "done");
    const started = Date.now();
    const result = await crew.kickoff({ runId: "l", worker: "w-2" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(result.output).toBe("done");
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ worker: "w-2", fencingToken: 2 });
  });

  it("reuses a task its holder completed between this worker's read and its claim, never reruns it", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    const { crew: first } = oneTaskCrew(store, () => "done by the holder");
    await first.kickoff({ runId: "l", worker: "w-1" });
    // The holder's record as it was while it still ran: claimed, its lease run out (it is slow, not dead).
    const done = (await store.getRun("l"))!.tasks[0]!;
    await store.clearCalls("l", "work");
    const lease = (await store.claimTask("l", "work", "slow:1:abc", 1, { seenToken: done.fencingToken }))!;
    await store.saveTask("l", { ...done, status: "running", output: null, outputHash: null, completedAt: null, worker: lease.worker, fencingToken: lease.token, leaseExpiresAt: lease.expiresAt }, { type: "task_started" }, { fencingToken: lease.token });
    await new Promise((r) => setTimeout(r, 5));
    // The holder commits its result just before this worker's claim reaches the store.
    const claimTask = store.claimTask.bind(store);
    let injected = false;
    store.claimTask = async (...args) => {
      if (!injected) {
        injected = true;
        await store.saveTask("l", { ...done, worker: lease.worker, fencingToken: lease.token, leaseExpiresAt: null }, { type: "task_completed" }, { fencingToken: lease.token });
      }
      return claimTask(...args);
    };
    const { crew, calls } = oneTaskCrew(store, () => "rerun");
    const result = await crew.kickoff({ runId: "l", worker: "w-2" });
    expect(injected).toBe(true);
    expect(calls()).toBe(0);
    expect(result.output).toBe("done by the holder");
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ status: "completed", output: "done by the holder" });
    expect((await store.events("l")).slice(-2).map((e) => [e.type, e.data?.tasks ?? null])).toEqual([["tasks_reused", ["work"]], ["run_completed", null]]);
  });

  it("wakes as soon as the holder commits: the waiter reuses its result long before the lease would run out", async () => {
    const store = new MemoryStore();
    const { holder, first, finish } = await holdingKickoff(store, "w");
    const waiter = oneTaskCrew(store, () => "done by the waiter");
    const second = waiter.crew.kickoff({ runId: "w", worker: "w-2", leaseTtlMs: 600_000 });
    setTimeout(finish, 100);
    const [a, b] = await Promise.all([first, second]);
    expect([a.output, b.output]).toEqual(["done by the holder", "done by the holder"]);
    expect(b.tasks[0]!.outcome).toBe("reused");
    expect([holder.calls(), waiter.calls()]).toEqual([1, 0]);
  });

  it("does not run again a task whose holder committed after the run was read but before the task's turn came", async () => {
    const store = new MemoryStore();
    const { first, finish } = await holdingKickoff(store, "s");
    // The latecomer reads the run while the task is running, and decides only after the holder committed.
    const late: Store = Object.create(store);
    late.beginRun = async (init) => {
      const snapshot = await store.beginRun(init);
      finish();
      await first;
      return snapshot;
    };
    const latecomer = oneTaskCrew(late, () => "done by the latecomer");
    const result = await latecomer.crew.kickoff({ runId: "s", worker: "w-2", leaseTtlMs: 600_000 });
    expect(result.output).toBe("done by the holder");
    expect(latecomer.calls()).toBe(0);
    expect((await store.events("s")).filter((e) => e.type === "task_completed")).toHaveLength(1);
  });

  it("wakes as soon as the holder releases its lease, and takes the task", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    const lease = (await store.claimTask("l", "work", "elsewhere:1:abc", 600_000))!;
    const { crew, calls } = oneTaskCrew(store, () => "done");
    setTimeout(() => void store.releaseTask(lease), 100);
    const result = await crew.kickoff({ runId: "l", worker: "w-2", leaseTtlMs: 600_000 });
    expect(result.output).toBe("done");
    expect(calls()).toBe(1);
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ status: "completed", worker: "w-2", fencingToken: 2 });
  });

  it("fails with LEASE_HELD when the holder keeps renewing its lease", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    let lease = (await store.claimTask("l", "work", "elsewhere:1:abc", 300))!;
    const renewing = setInterval(() => void store.heartbeat(lease, 300).then((l) => (lease = l)), 50);
    try {
      const { crew, calls } = oneTaskCrew(store, () => "done");
      await expect(crew.kickoff({ runId: "l", worker: "w-2" })).rejects.toMatchObject({ code: "LEASE_HELD", context: { task: "work" } });
      expect(calls()).toBe(0);
    } finally {
      clearInterval(renewing);
    }
  });

  it("takes over at once from a worker on this host whose process is gone", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    await store.claimTask("l", "work", `${os.hostname()}:2147483646:abc`, 60_000);
    const { crew } = oneTaskCrew(store, () => "done");
    const started = Date.now();
    await crew.kickoff({ runId: "l", worker: "w-3" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ status: "completed", worker: "w-3", fencingToken: 2 });
  });

  it("discards its work when another worker takes the task over mid-way: the commit is fenced out", async () => {
    const store = new MemoryStore();
    const { crew } = oneTaskCrew(store, async () => {
      await store.claimTask("l", "work", "thief", 60_000, { takeOverFrom: "w-4" });
      return "late answer";
    });
    await expect(crew.kickoff({ runId: "l", worker: "w-4" })).rejects.toMatchObject({ code: "FENCED_OUT", context: { task: "work" } });
    expect((await store.getRun("l"))!.tasks[0]).toMatchObject({ status: "running", worker: "thief", fencingToken: 2, output: null });
  });

  it("releases a lease no commit could end, so a retry in the same process claims the task at once", async () => {
    const store = new MemoryStore();
    let down = false;
    const flaky: Store = Object.create(store);
    flaky.saveTask = async (...args) => {
      if (down) throw new CrewstateError("STORE_UNAVAILABLE", "the store is down");
      if (args[1].status === "completed") down = true;
      return down ? flaky.saveTask(...args) : store.saveTask(...args);
    };
    const { crew, calls } = oneTaskCrew(flaky, () => "done");
    await expect(crew.kickoff({ runId: "f", worker: "w-1" })).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect((await store.getRun("f"))!.tasks[0]).toMatchObject({ status: "running", worker: "w-1", leaseExpiresAt: null });

    down = false;
    const started = Date.now();
    const again = await crew.kickoff({ runId: "f", worker: "w-2", store });
    expect(again.output).toBe("done");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(calls()).toBe(2);
  });

  it("dead-letters a task whose worker died on every one of its attempts", async () => {
    const store = new MemoryStore();
    await store.beginRun({ runId: "l", crew: "leased", inputs: {} });
    await store.saveTask("l", { ...newTaskRecord("work"), status: "running", attempts: 5 }, { type: "task_started" });
    const { crew, calls } = oneTaskCrew(store, () => "done");
    await expect(crew.kickoff({ runId: "l", worker: "w-5", maxAttempts: 5 })).rejects.toThrow(/started 5 times and never finished/);
    expect(calls()).toBe(0);
    const run = await store.getRun("l");
    expect([run?.status, run?.tasks[0]?.status]).toEqual(["failed", "failed"]);
    const failed = (await store.events("l")).find((e) => e.type === "task_failed");
    expect(failed?.data).toMatchObject({ deadLetter: true });
  });
});
