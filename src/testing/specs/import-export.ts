import { describe, expect } from "vitest";
import type { RunDump } from "../../stores/store.js";
import { asJson, call, completedTask, expectCode, taskNames, type ConformanceContext, type SpecIt } from "./support.js";
import type { Store } from "../../stores/store.js";

/** A run with history: re-begun, tasks committed, one invalidated, journals, a final status. */
async function buildRun(store: Store, runId: string): Promise<RunDump> {
  await store.beginRun({ runId, crew: "claims-triage", inputs: { notes: "first" } });
  await store.saveTask(runId, completedTask("analyze_task"), { type: "task_completed", data: { ms: 10 } });
  await store.recordCall(runId, call("analyze_task", 0));
  await store.recordCall(runId, call("analyze_task", 1, { kind: "tool" }));
  await store.saveTask(runId, completedTask("draft_task", { status: "failed", error: "boom", output: null }), { type: "task_failed" });
  await store.recordCall(runId, call("draft_task", 0));
  await store.setRunStatus(runId, "failed", "draft_task failed", { type: "run_failed" });
  await store.beginRun({ runId, crew: "claims-triage", inputs: { notes: "second" } });
  await store.saveTask(runId, completedTask("draft_task", { attempts: 2 }), { type: "task_completed" });
  await store.saveTask(runId, completedTask("review_task"), { type: "task_completed" });
  await store.removeTask(runId, "review_task", { type: "task_invalidated" });
  await store.setRunStatus(runId, "completed", null, { type: "run_completed" });
  return (await store.exportRun(runId))!;
}

function renamed(dump: RunDump, runId: string): RunDump {
  return { run: { ...dump.run, runId }, events: dump.events.map((e) => ({ ...e, runId })), calls: dump.calls };
}

export function importExportSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("importRun / exportRun", () => {
    it("exports the whole run: record, every event in order, the journals of its tasks in task order", async () => {
      const dump = await buildRun(ctx.store, "r");
      expect(dump.run).toEqual(await ctx.store.getRun("r"));
      expect(dump.events).toEqual(await ctx.store.events("r"));
      expect(dump.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(dump.events.at(-1)).toMatchObject({ type: "run_completed", task: null });
      expect(taskNames(dump.run)).toEqual(["analyze_task", "draft_task"]);
      expect(dump.calls).toEqual([call("analyze_task", 0), call("analyze_task", 1, { kind: "tool" }), call("draft_task", 0)]);
    });

    it("round-trips: importing a dump under another ID exports the same dump", async () => {
      const dump = await buildRun(ctx.store, "r");
      const copy = renamed(dump, "r-copy");
      await ctx.store.importRun(copy);
      expect(await ctx.store.exportRun("r-copy")).toEqual(copy);
      expect(await ctx.store.exportRun("r")).toEqual(dump);
      expect((await ctx.store.listRuns()).map((r) => r.runId).sort()).toEqual(["r", "r-copy"]);
    });

    it("refuses an existing run ID with RUN_EXISTS and changes nothing", async () => {
      const dump = await buildRun(ctx.store, "r");
      const other = renamed(await buildRun(ctx.store, "other"), "r");
      other.run.crew = "someone-else";
      const error = await expectCode(() => ctx.store.importRun(other), "RUN_EXISTS");
      expect(error.message).toContain('"r"');
      await expectCode(() => ctx.store.importRun(other, { overwrite: false }), "RUN_EXISTS");
      expect(await ctx.store.exportRun("r")).toEqual(dump);
    });

    it("with overwrite, replaces the run entirely: records, events and journals", async () => {
      await buildRun(ctx.store, "r");
      const replacement: RunDump = {
        run: {
          runId: "r",
          crew: "kyc-review",
          kind: "flow",
          parent: { runId: "origin", task: "write#2" },
          inputs: { customer: "C-9" },
          status: "paused",
          attempts: 7,
          error: "paused by operator",
          createdAt: "2024-12-31T23:59:59.999Z",
          updatedAt: "2025-01-01T00:00:01.000Z",
          tasks: [completedTask("verify_task")],
        },
        events: [{ seq: 1, runId: "r", task: null, type: "run_imported", at: "2025-01-01T00:00:00.000Z", data: { from: "json:old.json" } }],
        calls: [call("verify_task", 0)],
      };
      await ctx.store.importRun(replacement, { overwrite: true });
      expect(await ctx.store.exportRun("r")).toEqual(replacement);
      expect(await ctx.store.calls("r", "analyze_task")).toEqual([]);
      expect(await ctx.store.calls("r", "draft_task")).toEqual([]);
      expect((await ctx.store.listRuns()).find((r) => r.runId === "r")).toMatchObject({ crew: "kyc-review", attempts: 7, taskCount: 1, completedCount: 1 });
    });

    it("overwriting a run with its own dump changes nothing", async () => {
      const dump = await buildRun(ctx.store, "r");
      await ctx.store.importRun(dump, { overwrite: true });
      expect(await ctx.store.exportRun("r")).toEqual(dump);
    });

    it("numbers imported events 1…n under the imported run's ID, and later events continue from n", async () => {
      const dump: RunDump = {
        run: { runId: "imported", crew: "c", kind: "crew", parent: null, inputs: {}, status: "failed", attempts: 2, error: "old", createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:09.000Z", tasks: [completedTask("a")] },
        events: [
          { seq: 7, runId: "elsewhere", task: null, type: "run_started", at: "2025-01-01T00:00:00.000Z", data: { attempt: 1 } },
          { seq: 9, runId: "elsewhere", task: "a", type: "task_completed", at: "2025-01-01T00:00:05.000Z", data: null },
        ],
        calls: [],
      };
      await ctx.store.importRun(dump);
      const events = await ctx.store.events("imported");
      expect(events.map((e) => [e.seq, e.runId, e.type, e.task, e.at])).toEqual([
        [1, "imported", "run_started", null, "2025-01-01T00:00:00.000Z"],
        [2, "imported", "task_completed", "a", "2025-01-01T00:00:05.000Z"],
      ]);
      expect((await ctx.store.getRun("imported"))!.updatedAt).toBe("2025-01-01T00:00:09.000Z");

      const again = await ctx.store.beginRun({ runId: "imported", crew: "c", inputs: { x: "y" } });
      expect(again).toMatchObject({ attempts: 3, status: "running", error: null, createdAt: "2025-01-01T00:00:00.000Z" });
      await ctx.store.saveTask("imported", completedTask("b"), { type: "task_completed" });
      expect((await ctx.store.events("imported")).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    });

    it("imports a run with no tasks, events or calls", async () => {
      const dump: RunDump = {
        run: { runId: "bare", crew: "c", kind: "crew", parent: null, inputs: { a: "b" }, status: "running", attempts: 1, error: null, createdAt: "2025-03-01T00:00:00.000Z", updatedAt: "2025-03-01T00:00:00.000Z", tasks: [] },
        events: [],
        calls: [],
      };
      await ctx.store.importRun(dump);
      expect(await ctx.store.exportRun("bare")).toEqual(dump);
      await ctx.store.saveTask("bare", completedTask("a"), { type: "task_completed" });
      expect((await ctx.store.events("bare")).map((e) => e.seq)).toEqual([1]);
    });

    it("refuses a dump it cannot store, writing nothing", async () => {
      const dump = await buildRun(ctx.store, "r");
      const bad = renamed(dump, "bad");
      bad.run.tasks = [...bad.run.tasks, completedTask("nan", { structured: asJson({ score: Number.NaN }) })];
      await expectCode(() => ctx.store.importRun(bad), "NOT_JSON");
      const badCall = renamed(dump, "bad");
      badCall.calls = [...badCall.calls, call("analyze_task", 5, { response: asJson({ big: 1n }) })];
      await expectCode(() => ctx.store.importRun(badCall), "NOT_JSON");
      await expectCode(() => ctx.store.importRun(renamed(dump, "../bad")), "INVALID_RUN_ID");
      expect(await ctx.store.getRun("bad")).toBeUndefined();
      expect((await ctx.store.listRuns()).map((r) => r.runId)).toEqual(["r"]);
      // Nor does a refused overwrite touch the existing run.
      const badOverwrite = { ...dump, run: { ...dump.run, tasks: [completedTask("nan", { structured: asJson(Number.POSITIVE_INFINITY) })] } };
      await expectCode(() => ctx.store.importRun(badOverwrite, { overwrite: true }), "NOT_JSON");
      expect(await ctx.store.exportRun("r")).toEqual(dump);
    });
  });
}
