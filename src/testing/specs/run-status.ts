import { describe, expect } from "vitest";
import { beginSampleRun, clockTick, completedTask, ISO_TIME, type ConformanceContext, type SpecIt } from "./support.js";

export function runStatusSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("setRunStatus", () => {
    it("sets status and error and appends the event", async () => {
      const begun = await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await clockTick(3);
      await ctx.store.setRunStatus("r", "failed", "task draft_task failed after 3 attempts", { type: "run_failed", data: { task: "draft_task", attempts: 3 } });

      const run = (await ctx.store.getRun("r"))!;
      expect(run).toMatchObject({ status: "failed", error: "task draft_task failed after 3 attempts", attempts: 1, createdAt: begun.createdAt, inputs: begun.inputs });
      expect(run.tasks).toEqual([completedTask("a")]);
      const events = await ctx.store.events("r");
      expect(events[2]).toEqual({ seq: 3, runId: "r", task: null, type: "run_failed", at: expect.stringMatching(ISO_TIME), data: { task: "draft_task", attempts: 3 } });
      expect(run.updatedAt).toBe(events[2]!.at);
      expect(Date.parse(run.updatedAt)).toBeGreaterThan(Date.parse(begun.updatedAt));
    });

    it("goes through every status, clearing the error when given null", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.setRunStatus("r", "paused", null, { type: "run_paused" });
      expect(await ctx.store.getRun("r")).toMatchObject({ status: "paused", error: null });
      await ctx.store.setRunStatus("r", "failed", "boom", { type: "run_failed" });
      expect(await ctx.store.getRun("r")).toMatchObject({ status: "failed", error: "boom" });
      await ctx.store.setRunStatus("r", "completed", null, { type: "run_completed" });
      expect(await ctx.store.getRun("r")).toMatchObject({ status: "completed", error: null });
      await ctx.store.setRunStatus("r", "running", null, { type: "run_started" });
      expect(await ctx.store.getRun("r")).toMatchObject({ status: "running", error: null, attempts: 1 });
      expect((await ctx.store.events("r")).map((e) => e.type)).toEqual(["run_started", "run_paused", "run_failed", "run_completed", "run_started"]);
    });

    it("keeps the task an event names", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.setRunStatus("r", "failed", "x", { type: "run_failed", task: "draft_task" });
      expect((await ctx.store.events("r"))[1]).toMatchObject({ task: "draft_task", type: "run_failed", data: null });
    });

    it("is shown in listRuns", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.setRunStatus("r", "completed", null, { type: "run_completed" });
      expect(await ctx.store.listRuns()).toMatchObject([{ runId: "r", status: "completed", error: null }]);
    });
  });
}
