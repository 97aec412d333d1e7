import { describe, expect } from "vitest";
import type { RunDump } from "../../stores/store.js";
import { call, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

/** Run IDs that could name a path outside the store, a device, or a different key. */
const BAD_RUN_IDS: unknown[] = [
  "../x",
  "..",
  "a/../../b",
  "/etc/passwd",
  "a/b",
  "a\\b",
  "..\\x",
  "C:\\x",
  "a\u0000b",
  "CON",
  "con.json",
  "NUL",
  "lpt1",
  "COM9.db",
  "x.",
  "x ",
  " x",
  "",
  ".hidden",
  "-flag",
  "%2e%2e%2fx",
  "\uff0e\uff0e\uff0fx",
  "a\nb",
  "a*b",
  "x".repeat(129),
  "é",
  42,
  null,
  undefined,
];

const GOOD_RUN_IDS = ["a", "0", "claim-123", "A.b_c-d", "run.2025-01-01", "x".repeat(128)];

export function runIdsSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("run IDs", () => {
    it("every method refuses an unsafe run ID with INVALID_RUN_ID, writing nothing", async () => {
      for (const bad of BAD_RUN_IDS) {
        const runId = bad as string;
        const label = `run ID ${JSON.stringify(bad) ?? String(bad)}`;
        const dump: RunDump = {
          run: { runId, crew: "c", kind: "crew", parent: null, inputs: {}, status: "running", attempts: 1, error: null, createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:00.000Z", tasks: [] },
          events: [],
          calls: [],
        };
        const calls: Array<[string, () => Promise<unknown>]> = [
          ["beginRun", () => ctx.store.beginRun({ runId, crew: "c", inputs: {} })],
          ["getRun", () => ctx.store.getRun(runId)],
          ["saveTask", () => ctx.store.saveTask(runId, completedTask("a"), { type: "task_completed" })],
          ["setRunStatus", () => ctx.store.setRunStatus(runId, "failed", null, { type: "run_failed" })],
          ["removeTask", () => ctx.store.removeTask(runId, "a", { type: "task_invalidated" })],
          ["events", () => ctx.store.events(runId)],
          ["recordCall", () => ctx.store.recordCall(runId, call("a", 0))],
          ["calls", () => ctx.store.calls(runId, "a")],
          ["clearCalls", () => ctx.store.clearCalls(runId, "a")],
          ["importRun", () => ctx.store.importRun(dump)],
          ["importRun with overwrite", () => ctx.store.importRun(dump, { overwrite: true })],
          ["exportRun", () => ctx.store.exportRun(runId)],
          ["deleteRun", () => ctx.store.deleteRun(runId)],
          ["dropJournals", () => ctx.store.dropJournals(runId)],
        ];
        for (const [method, action] of calls) await expectCode(action, "INVALID_RUN_ID", `${method} with ${label}`);
      }
      expect(await ctx.store.listRuns()).toEqual([]);
    });

    it("accepts safe run IDs and keeps them exactly", async () => {
      for (const runId of GOOD_RUN_IDS) {
        await ctx.store.beginRun({ runId, crew: "c", inputs: {} });
        await ctx.store.saveTask(runId, completedTask("a"), { type: "task_completed" });
        expect((await ctx.store.getRun(runId))!.runId).toBe(runId);
        expect((await ctx.store.events(runId)).map((e) => e.runId)).toEqual([runId, runId]);
      }
      expect((await ctx.store.listRuns()).map((r) => r.runId).sort()).toEqual([...GOOD_RUN_IDS].sort());
    });

    it("run IDs differing only in case are different runs", async () => {
      await ctx.store.beginRun({ runId: "Run", crew: "c", inputs: { v: "upper" } });
      await ctx.store.beginRun({ runId: "run", crew: "c", inputs: { v: "lower" } });
      expect((await ctx.store.getRun("Run"))!.inputs).toEqual({ v: "upper" });
      expect((await ctx.store.getRun("run"))!.inputs).toEqual({ v: "lower" });
      expect(await ctx.store.listRuns()).toHaveLength(2);
    });
  });
}
