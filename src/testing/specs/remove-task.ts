import { describe, expect } from "vitest";
import { beginSampleRun, call, completedTask, observe, taskNames, type ConformanceContext, type SpecIt } from "./support.js";

export function removeTaskSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("removeTask", () => {
    it("deletes the record, appends the event and returns true; other tasks stay", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const name of ["a", "b", "c"]) await ctx.store.saveTask("r", completedTask(name), { type: "task_completed" });

      expect(await ctx.store.removeTask("r", "b", { type: "task_invalidated", data: { by: "cli" } })).toBe(true);
      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks).toEqual([completedTask("a"), completedTask("c")]);
      const events = await ctx.store.events("r");
      expect(events).toHaveLength(5);
      expect(events[4]).toMatchObject({ seq: 5, runId: "r", task: "b", type: "task_invalidated", data: { by: "cli" } });
      expect(run.updatedAt).toBe(events[4]!.at);
    });

    it("its event names the removed task, even when the event names another task or none", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const name of ["a", "b"]) await ctx.store.saveTask("r", completedTask(name), { type: "task_completed" });
      await ctx.store.removeTask("r", "a", { type: "task_invalidated", task: null });
      await ctx.store.removeTask("r", "b", { type: "task_invalidated", task: "a" });
      expect((await ctx.store.events("r")).slice(3).map((e) => [e.type, e.task])).toEqual([
        ["task_invalidated", "a"],
        ["task_invalidated", "b"],
      ]);
    });

    it("returns false for a task that has no record, appending nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      const before = await observe(ctx.store, "r");
      expect(await ctx.store.removeTask("r", "missing", { type: "task_invalidated" })).toBe(false);
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("returns true once, then false", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      expect(await ctx.store.removeTask("r", "a", { type: "task_invalidated" })).toBe(true);
      expect(await ctx.store.removeTask("r", "a", { type: "task_invalidated" })).toBe(false);
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([]);
      expect(await ctx.store.events("r")).toHaveLength(3);
    });

    it("deletes the task's call journal, and only that task's", async () => {
      await beginSampleRun(ctx.store, "r");
      await beginSampleRun(ctx.store, "other");
      for (const runId of ["r", "other"]) {
        for (const name of ["a", "b"]) {
          await ctx.store.saveTask(runId, completedTask(name), { type: "task_completed" });
          await ctx.store.recordCall(runId, call(name, 0));
          await ctx.store.recordCall(runId, call(name, 1));
        }
      }
      expect(await ctx.store.removeTask("r", "a", { type: "task_invalidated" })).toBe(true);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
      expect(await ctx.store.calls("r", "b")).toEqual([call("b", 0), call("b", 1)]);
      expect(await ctx.store.calls("other", "a")).toEqual([call("a", 0), call("a", 1)]);

      // A rerun starts with an empty journal, even when it reuses the positions.
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_started" });
      await ctx.store.recordCall("r", call("a", 1, { requestHash: "new" }));
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 1, { requestHash: "new" })]);
    });

    it("a task recorded again after its removal goes to the end of the order", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const name of ["a", "b", "c"]) await ctx.store.saveTask("r", completedTask(name), { type: "task_completed" });
      await ctx.store.removeTask("r", "a", { type: "task_invalidated" });
      await ctx.store.saveTask("r", completedTask("a", { attempts: 2 }), { type: "task_completed" });
      const run = (await ctx.store.getRun("r"))!;
      expect(taskNames(run)).toEqual(["b", "c", "a"]);
      expect(run.tasks[2]!.attempts).toBe(2);
    });
  });
}
