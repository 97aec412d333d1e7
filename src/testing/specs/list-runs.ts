import { describe, expect } from "vitest";
import { call, clockTick, completedTask, type ConformanceContext, type SpecIt } from "./support.js";
import { newTaskRecord } from "../../stores/store.js";

export function listRunsSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("listRuns", () => {
    it("is empty for an empty store", async () => {
      expect(await ctx.store.listRuns()).toEqual([]);
    });

    it("lists the newest run first", async () => {
      // Names sort the other way round, so ordering by ID instead of time fails.
      for (const runId of ["z-oldest", "m-middle", "a-newest"]) {
        await ctx.store.beginRun({ runId, crew: "c", inputs: {} });
        await clockTick(3);
      }
      // Touching the oldest run does not make it newer: the order is by creation.
      await ctx.store.saveTask("z-oldest", completedTask("t"), { type: "task_completed" });
      expect((await ctx.store.listRuns()).map((r) => r.runId)).toEqual(["a-newest", "m-middle", "z-oldest"]);
    });

    it("breaks ties in creation time by run ID, descending", async () => {
      for (const runId of ["b", "c", "a"]) {
        await ctx.store.importRun({
          run: { runId, crew: "c", kind: "crew", parent: null, inputs: {}, status: "completed", attempts: 1, error: null, createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:00.000Z", tasks: [] },
          events: [],
          calls: [],
        });
      }
      expect((await ctx.store.listRuns()).map((r) => r.runId)).toEqual(["c", "b", "a"]);
    });

    it("summarises each run with its task and completed counts, without tasks or inputs", async () => {
      const begun = await ctx.store.beginRun({ runId: "r", crew: "claims-triage", inputs: { notes: "n" } });
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.saveTask("r", completedTask("b"), { type: "task_completed" });
      await ctx.store.saveTask("r", completedTask("c", { status: "failed", error: "boom" }), { type: "task_failed" });
      await ctx.store.saveTask("r", newTaskRecord("d"), { type: "task_started" });
      await ctx.store.recordCall("r", call("a", 0));
      await ctx.store.setRunStatus("r", "failed", "task c failed", { type: "run_failed" });
      await ctx.store.beginRun({ runId: "empty", crew: "other", inputs: {} });

      const runs = await ctx.store.listRuns();
      const summary = runs.find((r) => r.runId === "r")!;
      const run = (await ctx.store.getRun("r"))!;
      expect(summary).toMatchObject({
        runId: "r",
        crew: "claims-triage",
        kind: "crew",
        parent: null,
        status: "failed",
        attempts: 1,
        error: "task c failed",
        createdAt: begun.createdAt,
        updatedAt: run.updatedAt,
        taskCount: 4,
        completedCount: 2,
      });
      expect(summary).not.toHaveProperty("tasks");
      expect(summary).not.toHaveProperty("inputs");
      expect(runs.find((r) => r.runId === "empty")).toMatchObject({ crew: "other", status: "running", taskCount: 0, completedCount: 0 });

      await ctx.store.removeTask("r", "a", { type: "task_invalidated" });
      expect((await ctx.store.listRuns()).find((r) => r.runId === "r")).toMatchObject({ taskCount: 3, completedCount: 1 });
    });

    it("lists a re-begun run once, with its attempts", async () => {
      await ctx.store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await ctx.store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const runs = await ctx.store.listRuns();
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ runId: "r", attempts: 2, status: "running" });
    });
  });
}
