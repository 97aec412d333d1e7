import { describe, expect } from "vitest";
import { beginSampleRun, call, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

export function unknownRunSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("operations on an unknown run", () => {
    it("every write refuses with RUN_NOT_FOUND naming the run, and creates nothing", async () => {
      await beginSampleRun(ctx.store, "known");
      const writes: Array<[string, () => Promise<unknown>]> = [
        ["saveTask", () => ctx.store.saveTask("ghost", completedTask("a"), { type: "task_completed" })],
        ["saveTask with a token", () => ctx.store.saveTask("ghost", completedTask("a"), { type: "task_completed" }, { fencingToken: 0 })],
        ["setRunStatus", () => ctx.store.setRunStatus("ghost", "failed", "x", { type: "run_failed" })],
        ["removeTask", () => ctx.store.removeTask("ghost", "a", { type: "task_invalidated" })],
        ["recordCall", () => ctx.store.recordCall("ghost", call("a", 0))],
        ["clearCalls", () => ctx.store.clearCalls("ghost", "a")],
        ["deleteRun", () => ctx.store.deleteRun("ghost")],
        ["dropJournals", () => ctx.store.dropJournals("ghost")],
      ];
      for (const [name, write] of writes) {
        const error = await expectCode(write, "RUN_NOT_FOUND");
        expect(error.context.runId, name).toBe("ghost");
        expect(error.message, name).toContain("ghost");
      }
      expect(await ctx.store.getRun("ghost")).toBeUndefined();
      expect((await ctx.store.listRuns()).map((r) => r.runId)).toEqual(["known"]);
    });

    it("reads of an unknown run find nothing", async () => {
      expect(await ctx.store.getRun("ghost")).toBeUndefined();
      expect(await ctx.store.events("ghost")).toEqual([]);
      expect(await ctx.store.calls("ghost", "a")).toEqual([]);
      expect(await ctx.store.exportRun("ghost")).toBeUndefined();
      expect(await ctx.store.listRuns()).toEqual([]);
    });
  });
}
