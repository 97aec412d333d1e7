import { describe, expect } from "vitest";
import { beginSampleRun, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

/** A kickoff that keeps many stored results records them in one commit. */
export function reuseSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("reuseTasks", () => {
    it("upserts every record and appends one event naming no task", async () => {
      await beginSampleRun(ctx.store, "r");
      const a = completedTask("a", { fencingToken: 2 });
      const b = completedTask("b");
      await ctx.store.saveTask("r", a, { type: "task_completed" });
      await ctx.store.saveTask("r", b, { type: "task_completed" });
      const adopted = { ...b, inputHash: "c".repeat(64) };
      await ctx.store.reuseTasks("r", [{ record: a, fencingToken: 2 }, { record: adopted, fencingToken: 0 }], { type: "tasks_reused", task: "a", data: { tasks: ["a", "b"], adopted: ["b"] } });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([a, adopted]);
      const events = await ctx.store.events("r");
      expect(events.map((e) => [e.seq, e.type, e.task])).toEqual([
        [1, "run_started", null],
        [2, "task_completed", "a"],
        [3, "task_completed", "b"],
        [4, "tasks_reused", null],
      ]);
      expect(events[3]!.data).toEqual({ tasks: ["a", "b"], adopted: ["b"] });
    });

    it("with endRun, the run's status rides in the same commit, after the reuse", async () => {
      await beginSampleRun(ctx.store, "r");
      const a = completedTask("a");
      await ctx.store.saveTask("r", a, { type: "task_completed" });
      await ctx.store.reuseTasks("r", [{ record: a, fencingToken: 0 }], { type: "tasks_reused", data: { tasks: ["a"] } }, { endRun: { status: "completed", error: null, event: { type: "run_completed" } } });
      expect((await ctx.store.getRun("r"))!.status).toBe("completed");
      expect((await (await ctx.reopen()).events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "tasks_reused", "run_completed"]);
    });

    it("is refused whole with FENCED_OUT when a record was claimed since it was read, changing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.saveTask("r", completedTask("b"), { type: "task_completed" });
      await ctx.store.claimTask("r", "b", "worker-b", 30_000);
      const before = await observe(ctx.store, "r");
      const error = await expectCode(
        () =>
          ctx.store.reuseTasks("r", [{ record: completedTask("a", { inputHash: "d".repeat(64) }), fencingToken: 0 }, { record: completedTask("b"), fencingToken: 0 }], { type: "tasks_reused" }, {
            endRun: { status: "completed", error: null, event: { type: "run_completed" } },
          }),
        "FENCED_OUT",
      );
      expect(error.message).toContain('"b"');
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("with begin, the run is begun in the same commit: one commit for a kickoff that reuses everything", async () => {
      await beginSampleRun(ctx.store, "r", "crew-a");
      const a = completedTask("a");
      await ctx.store.saveTask("r", a, { type: "task_completed" });
      await ctx.store.setRunStatus("r", "completed", null, { type: "run_completed" });
      await ctx.store.reuseTasks("r", [{ record: a, fencingToken: 0 }], { type: "tasks_reused", data: { tasks: ["a"] } }, {
        begin: { runId: "r", crew: "crew-a", inputs: { notes: "again" }, planned: { tasks: ["a"] } },
        endRun: { status: "completed", error: null, event: { type: "run_completed", data: { made: 0 } } },
      });
      const run = (await (await ctx.reopen()).getRun("r"))!;
      expect(run).toMatchObject({ status: "completed", attempts: 2, inputs: { notes: "again" }, error: null });
      expect((await ctx.store.events("r")).slice(3).map((e) => [e.seq, e.type, e.task, e.data])).toEqual([
        [4, "run_started", null, { attempt: 2 }],
        [5, "run_planned", null, { tasks: ["a"] }],
        [6, "tasks_reused", null, { tasks: ["a"] }],
        [7, "run_completed", null, { made: 0 }],
      ]);
    });

    it("with begin and no tasks, it creates the run and writes no reuse event", async () => {
      await ctx.store.reuseTasks("fresh", [], { type: "tasks_reused" }, {
        begin: { runId: "fresh", crew: "c", inputs: {} },
        endRun: { status: "completed", error: null, event: { type: "run_completed" } },
      });
      expect((await ctx.store.getRun("fresh"))!).toMatchObject({ status: "completed", attempts: 1, crew: "c", tasks: [] });
      expect((await ctx.store.events("fresh")).map((e) => e.type)).toEqual(["run_started", "run_completed"]);
    });

    it("with begin of another crew's run or a fenced record, nothing is written", async () => {
      await beginSampleRun(ctx.store, "r", "crew-a");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.claimTask("r", "a", "worker-b", 30_000);
      const before = await observe(ctx.store, "r");
      const reuse = [{ record: completedTask("a"), fencingToken: 0 }];
      await expectCode(() => ctx.store.reuseTasks("r", reuse, { type: "tasks_reused" }, { begin: { runId: "r", crew: "crew-b", inputs: {} } }), "RUN_MISMATCH");
      await expectCode(() => ctx.store.reuseTasks("r", reuse, { type: "tasks_reused" }, { begin: { runId: "r", crew: "crew-a", inputs: {}, planned: { tasks: ["a"] } } }), "FENCED_OUT");
      await expectCode(() => ctx.store.reuseTasks("r", reuse, { type: "tasks_reused" }, { begin: { runId: "other", crew: "crew-a", inputs: {} } }), "INVALID_INPUT");
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("a reuse of a run that does not exist is RUN_NOT_FOUND", async () => {
      await expectCode(() => ctx.store.reuseTasks("nope", [{ record: completedTask("a"), fencingToken: 0 }], { type: "tasks_reused" }), "RUN_NOT_FOUND");
      expect(await ctx.store.getRun("nope")).toBeUndefined();
    });

    it("refuses a task named twice, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      await expectCode(() => ctx.store.reuseTasks("r", [{ record: completedTask("a"), fencingToken: 0 }, { record: completedTask("a"), fencingToken: 0 }], { type: "tasks_reused" }), "INVALID_INPUT");
      expect(await observe(ctx.store, "r")).toEqual(before);
    });
  });
}
