import { describe, expect } from "vitest";
import { beginSampleRun, call, completedTask, type ConformanceContext, type SpecIt } from "./support.js";

export function durabilitySpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("durability across handles", () => {
    it("a second handle sees every committed run, task, event and call", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("analyze_task"), { type: "task_completed", data: { ms: 3 } });
      await ctx.store.recordCall("r", call("analyze_task", 0));
      await ctx.store.saveTask("r", completedTask("draft_task", { status: "failed", error: "boom" }), { type: "task_failed" });
      await ctx.store.setRunStatus("r", "failed", "boom", { type: "run_failed" });
      await beginSampleRun(ctx.store, "s");

      const other = await ctx.reopen();
      expect(await other.exportRun("r")).toEqual(await ctx.store.exportRun("r"));
      expect(await other.exportRun("s")).toEqual(await ctx.store.exportRun("s"));
      expect(await other.listRuns()).toEqual(await ctx.store.listRuns());
      expect(await other.calls("r", "analyze_task")).toEqual([call("analyze_task", 0)]);
      expect((await other.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["analyze_task", "draft_task"]);
    });

    it("removals, cleared journals and overwrites are durable too", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.saveTask("r", completedTask("b"), { type: "task_completed" });
      await ctx.store.recordCall("r", call("a", 0));
      await ctx.store.recordCall("r", call("b", 0));
      await ctx.store.removeTask("r", "a", { type: "task_invalidated" });
      await ctx.store.clearCalls("r", "b");
      const copy = (await ctx.store.exportRun("r"))!;
      await ctx.store.importRun({ ...copy, run: { ...copy.run, runId: "r2", status: "completed" }, events: [] });
      await ctx.store.importRun({ ...copy, run: { ...copy.run, runId: "r2", attempts: 9 }, events: [] }, { overwrite: true });

      const other = await ctx.reopen();
      const run = (await other.getRun("r"))!;
      expect(run.tasks.map((t) => t.name)).toEqual(["b"]);
      expect(await other.calls("r", "a")).toEqual([]);
      expect(await other.calls("r", "b")).toEqual([]);
      expect((await other.events("r")).at(-1)).toMatchObject({ type: "task_invalidated", task: "a", seq: 4 });
      expect(await other.getRun("r2")).toMatchObject({ attempts: 9, status: "running" });
    });

    it("a handle opened later sees the commits made after an earlier one was opened", async () => {
      await beginSampleRun(ctx.store, "r");
      const early = await ctx.reopen();
      expect(await early.getRun("r")).toBeDefined();
      await ctx.store.saveTask("r", completedTask("late"), { type: "task_completed" });
      const later = await ctx.reopen();
      expect((await later.getRun("r"))!.tasks).toEqual([completedTask("late")]);
      expect(await later.events("r")).toHaveLength(2);
    });
  });
}
