import { describe, expect } from "vitest";
import { beginSampleRun, call, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

export function fencingSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("fencing", () => {
    it("refuses a commit whose token differs from the stored one with FENCED_OUT, changing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const claimed = completedTask("work", { status: "running", output: null, worker: "worker-b", fencingToken: 5, leaseExpiresAt: "2025-01-02T03:05:00.000Z" });
      await ctx.store.saveTask("r", claimed, { type: "task_started" });
      const before = await observe(ctx.store, "r");

      for (const stale of [4, 6, 0, -1]) {
        const zombie = completedTask("work", { output: `zombie with token ${stale}`, worker: "worker-a", fencingToken: stale });
        const error = await expectCode(() => ctx.store.saveTask("r", zombie, { type: "task_completed" }, { fencingToken: stale }), "FENCED_OUT");
        expect(error.context.runId).toBe("r");
        expect(error.context.task).toBe("work");
      }
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("accepts a commit whose token equals the stored one", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("work", { status: "running", fencingToken: 5 }), { type: "task_started" });
      const done = completedTask("work", { worker: "worker-b", fencingToken: 5 });
      await ctx.store.saveTask("r", done, { type: "task_completed" }, { fencingToken: 5 });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([done]);
      expect(await ctx.store.events("r")).toHaveLength(3);
    });

    it("a new claim raises the token and fences out the previous holder", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("work", { status: "running", worker: "a", fencingToken: 1 }), { type: "task_started" }, { fencingToken: 0 });
      // Worker b takes over under the token it saw (1), installing token 2.
      await ctx.store.saveTask("r", completedTask("work", { status: "running", worker: "b", fencingToken: 2 }), { type: "task_started" }, { fencingToken: 1 });
      await expectCode(() => ctx.store.saveTask("r", completedTask("work", { worker: "a", fencingToken: 1 }), { type: "task_completed" }, { fencingToken: 1 }), "FENCED_OUT");
      await ctx.store.saveTask("r", completedTask("work", { worker: "b", fencingToken: 2 }), { type: "task_completed" }, { fencingToken: 2 });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([completedTask("work", { worker: "b", fencingToken: 2 })]);
    });

    it("a task without a record has token 0", async () => {
      await beginSampleRun(ctx.store, "r");
      await expectCode(() => ctx.store.saveTask("r", completedTask("fresh", { fencingToken: 1 }), { type: "task_started" }, { fencingToken: 1 }), "FENCED_OUT");
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([]);
      expect(await ctx.store.events("r")).toHaveLength(1);
      await ctx.store.saveTask("r", completedTask("fresh", { fencingToken: 1 }), { type: "task_started" }, { fencingToken: 0 });
      expect((await ctx.store.getRun("r"))!.tasks[0]!.fencingToken).toBe(1);
    });

    it("a commit without a token is not fenced", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("work", { fencingToken: 9 }), { type: "task_started" });
      await ctx.store.saveTask("r", completedTask("work", { fencingToken: 3, worker: "operator" }), { type: "task_edited" });
      expect((await ctx.store.getRun("r"))!.tasks[0]).toMatchObject({ fencingToken: 3, worker: "operator" });
    });

    it("tokens are per task", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a", { fencingToken: 4 }), { type: "task_started" });
      await ctx.store.saveTask("r", completedTask("b", { fencingToken: 0 }), { type: "task_started" });
      await ctx.store.saveTask("r", completedTask("b", { fencingToken: 0 }), { type: "task_completed" }, { fencingToken: 0 });
      await expectCode(() => ctx.store.saveTask("r", completedTask("b"), { type: "task_completed" }, { fencingToken: 4 }), "FENCED_OUT");
      await ctx.store.saveTask("r", completedTask("a", { fencingToken: 4 }), { type: "task_completed" }, { fencingToken: 4 });
    });

    it("fences journal entries too: a stale token's entry is refused and changes nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const a = (await ctx.store.claimTask("r", "work", "worker-a", 30_000))!;
      await ctx.store.recordCall("r", call("work", 0), { fencingToken: a.token });
      const b = (await ctx.store.claimTask("r", "work", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      const zombie = call("work", 0, { response: "the zombie's answer" });
      await expectCode(() => ctx.store.recordCall("r", zombie, { fencingToken: a.token }), "FENCED_OUT");
      await expectCode(() => ctx.store.recordCall("r", call("work", 1), { fencingToken: a.token }), "FENCED_OUT");
      await expectCode(() => ctx.store.recordCall("r", call("fresh", 0), { fencingToken: 1 }), "FENCED_OUT");
      expect(await ctx.store.calls("r", "work")).toEqual([call("work", 0)]);
      expect(await ctx.store.calls("r", "fresh")).toEqual([]);
      await ctx.store.recordCall("r", call("work", 1), { fencingToken: b.token });
      expect(await ctx.store.calls("r", "work")).toEqual([call("work", 0), call("work", 1)]);
    });

    it("fences a writer on one handle out after a claim made on another", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("work", { status: "running", worker: "a", fencingToken: 1 }), { type: "task_started" });
      const other = await ctx.reopen();
      await other.saveTask("r", completedTask("work", { status: "running", worker: "b", fencingToken: 2 }), { type: "task_started" }, { fencingToken: 1 });
      const before = await observe(other, "r");
      await expectCode(() => ctx.store.saveTask("r", completedTask("work", { worker: "a", fencingToken: 1 }), { type: "task_completed" }, { fencingToken: 1 }), "FENCED_OUT");
      expect(await observe(other, "r")).toEqual(before);
      expect((await ctx.store.getRun("r"))!.tasks[0]).toMatchObject({ worker: "b", fencingToken: 2 });
    });
  });
}
