import { describe, expect } from "vitest";
import { newTaskRecord, type NextClaim, type TaskRecord } from "../../stores/store.js";
import { beginSampleRun, call, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The started record and event a worker writes when it claims `task` in the commit before it. */
function nextClaim(task: string, worker = "worker-a", overrides: Partial<NextClaim> = {}): NextClaim {
  const started: TaskRecord = { ...newTaskRecord(task), status: "running", inputHash: "h-next", startedAt: "2026-01-02T03:04:05.000Z", attempts: 1, model: "demo" };
  return { task, worker, ttlMs: 30_000, seenToken: 0, start: { task: started, event: { type: "task_started", data: { attempt: 1 } } }, ...overrides };
}

/** One commit per task on a chain: a result with the next task's claim, and the run's status, in one commit. */
export function commitChainSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("commit chain (result + next claim + run status)", () => {
    it("a result commits with the next task's claim: the lease is returned, the started record holds it, events in order", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = Date.now();
      const lease = await ctx.store.saveTask("r", completedTask("a", { fencingToken: 1 }), { type: "task_completed" }, { fencingToken: 0, next: nextClaim("b") });
      expect(lease).toMatchObject({ runId: "r", task: "b", worker: "worker-a", token: 1 });
      expect(Date.parse(lease!.expiresAt)).toBeGreaterThanOrEqual(before + 25_000);
      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks.map((t) => [t.name, t.status])).toEqual([
        ["a", "completed"],
        ["b", "running"],
      ]);
      expect(run.tasks[1]).toEqual({ ...nextClaim("b").start.task, worker: "worker-a", fencingToken: 1, leaseExpiresAt: lease!.expiresAt });
      expect((await ctx.store.events("r")).map((e) => [e.seq, e.type, e.task])).toEqual([
        [1, "run_started", null],
        [2, "task_completed", "a"],
        [3, "task_started", "b"],
      ]);
    });

    it("the next claim grows the token of a task that was claimed before, and is judged by its seen token", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("b", { status: "failed", output: null, outputHash: null, fencingToken: 3 }), { type: "task_failed" });
      const stale = await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-a", { seenToken: 2 }) });
      expect(stale).toBeUndefined();
      expect((await ctx.store.getRun("r"))!.tasks.find((t) => t.name === "b")).toMatchObject({ status: "failed", fencingToken: 3 });
      const granted = await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-a", { seenToken: 3 }) });
      expect(granted).toMatchObject({ task: "b", token: 4 });
    });

    it("a refused next claim leaves the result committed and the held task as it was", async () => {
      await beginSampleRun(ctx.store, "r");
      const held = await ctx.store.claimTask("r", "b", "worker-b", 30_000);
      const heldRecord = (await ctx.store.getRun("r"))!.tasks[0];
      const lease = await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-a", { seenToken: held!.token }) });
      expect(lease).toBeUndefined();
      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks.find((t) => t.name === "b")).toEqual(heldRecord);
      expect(run.tasks.find((t) => t.name === "a")).toMatchObject({ status: "completed" });
      expect((await ctx.store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    });

    it("the next claim takes a task whose lease has run out", async () => {
      await beginSampleRun(ctx.store, "r");
      const old = await ctx.store.claimTask("r", "b", "worker-b", 50);
      await sleep(150);
      const lease = await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-a", { seenToken: old!.token }) });
      expect(lease).toMatchObject({ task: "b", worker: "worker-a", token: old!.token + 1 });
    });

    it("a fenced-out commit writes nothing: no result, no claim, no status", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.claimTask("r", "a", "worker-a", 30_000);
      await ctx.store.claimTask("r", "a", "worker-b", 30_000, { takeOverFrom: "worker-a" });
      const before = await observe(ctx.store, "r");
      await expectCode(
        () =>
          ctx.store.saveTask("r", completedTask("a", { fencingToken: 1 }), { type: "task_completed" }, {
            fencingToken: 1,
            next: nextClaim("b"),
            endRun: { status: "completed", error: null, event: { type: "run_completed" } },
          }),
        "FENCED_OUT",
      );
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("the last result ends the run: its status and event ride in the same commit, after the task's event", async () => {
      await beginSampleRun(ctx.store, "r");
      const lease = await ctx.store.claimTask("r", "a", "worker-a", 30_000);
      await ctx.store.saveTask("r", completedTask("a", { fencingToken: lease!.token }), { type: "task_completed" }, {
        fencingToken: lease!.token,
        calls: [call("a", 0)],
        endRun: { status: "completed", error: null, event: { type: "run_completed", data: { made: 1 } } },
      });
      const run = (await ctx.store.getRun("r"))!;
      expect(run.status).toBe("completed");
      expect(run.error).toBeNull();
      expect((await ctx.store.events("r")).map((e) => [e.type, e.task, e.data])).toEqual([
        ["run_started", null, { attempt: 1 }],
        ["task_completed", "a", null],
        ["run_completed", null, { made: 1 }],
      ]);
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0)]);
      expect((await ctx.store.listRuns())[0]).toMatchObject({ runId: "r", status: "completed", completedCount: 1 });
    });

    it("a failed result can fail the run in its commit, with the run's error", async () => {
      await beginSampleRun(ctx.store, "r");
      const failed = completedTask("a", { status: "failed", output: null, outputHash: null, error: "boom" });
      await ctx.store.saveTask("r", failed, { type: "task_failed" }, { endRun: { status: "failed", error: 'task "a": boom', event: { type: "run_failed", task: "a", data: { error: "boom" } } } });
      const run = (await ctx.store.getRun("r"))!;
      expect([run.status, run.error]).toEqual(["failed", 'task "a": boom']);
      expect((await ctx.store.events("r")).slice(-1)[0]).toMatchObject({ type: "run_failed", task: "a" });
    });

    it("result, next claim and run status are durable together, seen from another handle", async () => {
      await beginSampleRun(ctx.store, "r");
      const lease = await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("b") });
      await ctx.store.saveTask("r", completedTask("b", { fencingToken: lease!.token }), { type: "task_completed" }, {
        fencingToken: lease!.token,
        endRun: { status: "completed", error: null, event: { type: "run_completed" } },
      });
      const other = await ctx.reopen();
      const run = (await other.getRun("r"))!;
      expect(run.status).toBe("completed");
      expect(run.tasks.map((t) => [t.name, t.status, t.fencingToken])).toEqual([
        ["a", "completed", 0],
        ["b", "completed", 1],
      ]);
      expect((await other.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "task_started", "task_completed", "run_completed"]);
    });

    it("refuses a next claim of the task itself, or whose started record names another task, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      const wrong = nextClaim("b");
      await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: { ...wrong, start: { ...wrong.start, task: newTaskRecord("c") } } }), "INVALID_INPUT");
      await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: { ...wrong, ttlMs: 0 } }), "INVALID_INPUT");
      await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { next: nextClaim("a") }), "INVALID_INPUT");
      expect(await observe(ctx.store, "r")).toEqual(before);
    });
  });
}
