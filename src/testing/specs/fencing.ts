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

    describe("fenced by another record (fencedBy)", () => {
      /** A run whose `flow` record holds token 3, as a flow's claim leaves it. */
      const flowRun = async () => {
        await beginSampleRun(ctx.store, "r");
        await ctx.store.saveTask("r", completedTask("flow", { status: "running", output: null, fencingToken: 3 }), { type: "task_started" });
      };

      it("commits a record under the current token of the record it is fenced by", async () => {
        await flowRun();
        const step = completedTask("write#1", { fencingToken: 0 });
        await ctx.store.saveTask("r", step, { type: "task_completed" }, { fencingToken: 3, fencedBy: "flow" });
        expect((await ctx.store.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["flow", "write#1"]);
        expect((await ctx.store.getRun("r"))!.tasks[1]).toEqual(step);
        const events = await ctx.store.events("r");
        expect(events.at(-1)).toMatchObject({ task: "write#1", type: "task_completed" });
        // The step's own token is not what is compared: a second commit under the flow's token goes through.
        await ctx.store.saveTask("r", completedTask("write#1", { attempts: 2, fencingToken: 0 }), { type: "task_completed" }, { fencingToken: 3, fencedBy: "flow" });
        expect((await ctx.store.getRun("r"))!.tasks[1]!.attempts).toBe(2);
      });

      it("refuses a stale token with FENCED_OUT naming the fencing record, writing neither record nor event", async () => {
        await flowRun();
        await ctx.store.saveTask("r", completedTask("write#1", { fencingToken: 2 }), { type: "task_started" });
        const before = await observe(ctx.store, "r");
        for (const stale of [2, 4, 0]) {
          const error = await expectCode(
            () => ctx.store.saveTask("r", completedTask("write#1", { output: "zombie" }), { type: "task_completed" }, { fencingToken: stale, fencedBy: "flow" }),
            "FENCED_OUT",
          );
          expect(error.message).toContain('"flow"');
          expect(error.context.runId).toBe("r");
          expect(error.context.task).toBe("write#1");
        }
        // A fresh step record is not written either, nor its journal entries.
        await expectCode(
          () => ctx.store.saveTask("r", completedTask("write#2"), { type: "task_completed" }, { fencingToken: 2, fencedBy: "flow", calls: [call("write#2", 0)] }),
          "FENCED_OUT",
        );
        expect(await observe(ctx.store, "r")).toEqual(before);
        expect(await ctx.store.calls("r", "write#2")).toEqual([]);
      });

      it("a fencing record without a record has token 0", async () => {
        await beginSampleRun(ctx.store, "r");
        const error = await expectCode(() => ctx.store.saveTask("r", completedTask("write#1"), { type: "task_completed" }, { fencingToken: 1, fencedBy: "flow" }), "FENCED_OUT");
        expect(error.message).toContain('"flow"');
        expect((await ctx.store.getRun("r"))!.tasks).toEqual([]);
        expect(await ctx.store.events("r")).toHaveLength(1);
        await ctx.store.saveTask("r", completedTask("write#1"), { type: "task_completed" }, { fencingToken: 0, fencedBy: "flow" });
        expect((await ctx.store.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["write#1"]);
      });

      it("fences journal entries by the fencing record too", async () => {
        await beginSampleRun(ctx.store, "r");
        const lease = (await ctx.store.claimTask("r", "flow", "worker-a", 30_000))!;
        await ctx.store.recordCall("r", call("write#1", 0), { fencingToken: lease.token, fencedBy: "flow" });
        const error = await expectCode(() => ctx.store.recordCall("r", call("write#1", 1), { fencingToken: lease.token + 1, fencedBy: "flow" }), "FENCED_OUT");
        expect(error.message).toContain('"flow"');
        await expectCode(() => ctx.store.recordCall("r", call("write#1", 1), { fencingToken: 1, fencedBy: "nothing-here" }), "FENCED_OUT");
        await ctx.store.recordCall("r", call("write#1", 1), { fencingToken: 0, fencedBy: "nothing-here" });
        expect(await ctx.store.calls("r", "write#1")).toEqual([call("write#1", 0), call("write#1", 1)]);
      });

      it("a claim of the fencing record fences out commits made under its previous token", async () => {
        await beginSampleRun(ctx.store, "r");
        const a = (await ctx.store.claimTask("r", "flow", "worker-a", 30_000))!;
        await ctx.store.saveTask("r", completedTask("write#1"), { type: "task_completed" }, { fencingToken: a.token, fencedBy: "flow" });
        const b = (await ctx.store.claimTask("r", "flow", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
        await expectCode(() => ctx.store.saveTask("r", completedTask("write#2"), { type: "task_completed" }, { fencingToken: a.token, fencedBy: "flow" }), "FENCED_OUT");
        await ctx.store.saveTask("r", completedTask("write#2"), { type: "task_completed" }, { fencingToken: b.token, fencedBy: "flow" });
        expect((await ctx.store.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["flow", "write#1", "write#2"]);
      });
    });
  });
}
