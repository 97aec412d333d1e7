import { describe, expect } from "vitest";
import { beginSampleRun, completedTask, expectCode, ISO_TIME, type ConformanceContext, type SpecIt } from "./support.js";

export function beginRunSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("beginRun", () => {
    it("creates a run: attempts 1, status running, no error, no tasks, and a run_started event with seq 1", async () => {
      const run = await ctx.store.beginRun({ runId: "claim-123", crew: "claims-triage", inputs: { notes: "hail", policy: "P-7" } });
      expect(run).toMatchObject({
        runId: "claim-123",
        crew: "claims-triage",
        inputs: { notes: "hail", policy: "P-7" },
        status: "running",
        attempts: 1,
        error: null,
        tasks: [],
      });
      expect(run.createdAt).toMatch(ISO_TIME);
      expect(run.updatedAt).toMatch(ISO_TIME);
      expect(Date.parse(run.updatedAt)).toBeGreaterThanOrEqual(Date.parse(run.createdAt));
      expect(await ctx.store.getRun("claim-123")).toEqual(run);

      const events = await ctx.store.events("claim-123");
      expect(events).toEqual([{ seq: 1, runId: "claim-123", task: null, type: "run_started", at: expect.stringMatching(ISO_TIME), data: { attempt: 1 } }]);
    });

    it("re-begins an existing run: attempts + 1, inputs replaced, status running, error cleared, tasks and createdAt kept", async () => {
      const first = await ctx.store.beginRun({ runId: "r", crew: "crew", inputs: { a: "1", old: "gone soon" } });
      await ctx.store.saveTask("r", completedTask("analyze"), { type: "task_completed" });
      await ctx.store.setRunStatus("r", "failed", "model timed out", { type: "run_failed" });

      const again = await ctx.store.beginRun({ runId: "r", crew: "crew", inputs: { a: "2" } });
      expect(again).toMatchObject({ runId: "r", crew: "crew", inputs: { a: "2" }, status: "running", attempts: 2, error: null, createdAt: first.createdAt });
      expect(again.inputs).toEqual({ a: "2" });
      expect(again.tasks).toEqual([completedTask("analyze")]);
      expect(await ctx.store.getRun("r")).toEqual(again);

      const events = await ctx.store.events("r");
      expect(events.map((e) => [e.seq, e.type, e.task])).toEqual([
        [1, "run_started", null],
        [2, "task_completed", "analyze"],
        [3, "run_failed", null],
        [4, "run_started", null],
      ]);
      expect(events[3]!.data).toEqual({ attempt: 2 });

      const third = await ctx.store.beginRun({ runId: "r", crew: "crew", inputs: {} });
      expect(third.attempts).toBe(3);
      expect(third.inputs).toEqual({});
    });

    it("refuses a run of another crew with RUN_MISMATCH and changes nothing", async () => {
      const run = await beginSampleRun(ctx.store, "shared-id", "claims-triage");
      const error = await expectCode(() => ctx.store.beginRun({ runId: "shared-id", crew: "kyc-review", inputs: {} }), "RUN_MISMATCH");
      expect(error.message).toContain("shared-id");
      expect(await ctx.store.getRun("shared-id")).toEqual(run);
      expect(await ctx.store.events("shared-id")).toHaveLength(1);
    });

    it("with planned, a run_planned event follows run_started in the same commit", async () => {
      await ctx.store.beginRun({ runId: "r", crew: "c", inputs: {}, planned: { tasks: ["a", "b"], orphaned: [] } });
      await ctx.store.beginRun({ runId: "r", crew: "c", inputs: {}, planned: { tasks: ["a"], orphaned: ["b"] } });
      expect((await (await ctx.reopen()).events("r")).map((e) => [e.seq, e.type, e.task, e.data])).toEqual([
        [1, "run_started", null, { attempt: 1 }],
        [2, "run_planned", null, { tasks: ["a", "b"], orphaned: [] }],
        [3, "run_started", null, { attempt: 2 }],
        [4, "run_planned", null, { tasks: ["a"], orphaned: ["b"] }],
      ]);
      expect((await ctx.store.getRun("r"))!.status).toBe("running");
    });

    it("getRun of an unknown run is undefined", async () => {
      expect(await ctx.store.getRun("never-begun")).toBeUndefined();
      await beginSampleRun(ctx.store, "other");
      expect(await ctx.store.getRun("never-begun")).toBeUndefined();
      expect(await ctx.store.exportRun("never-begun")).toBeUndefined();
    });

    it("refuses an empty crew name and inputs that are not JSON, creating nothing", async () => {
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "", inputs: {} }), "INVALID_DEFINITION");
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "c", inputs: { n: Number.NaN } }), "NOT_JSON");
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "c", inputs: { when: new Date() as unknown as string } }), "NOT_JSON");
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "c", inputs: ["x"] as unknown as Record<string, string> }), "INVALID_INPUT");
      expect(await ctx.store.getRun("r")).toBeUndefined();
      expect(await ctx.store.listRuns()).toEqual([]);
    });

    it("keeps JSON inputs as given: numbers, booleans, lists and objects", async () => {
      const inputs = { n: 1, ok: true, tags: ["a", "b"], policy: { id: "P-1", limit: 2500.5 }, none: null };
      const run = await ctx.store.beginRun({ runId: "r", crew: "c", inputs });
      expect(run.inputs).toEqual(inputs);
      expect((await ctx.store.getRun("r"))!.inputs).toEqual(inputs);
    });

    it("returns copies: changing a returned run changes nothing stored", async () => {
      const run = await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      run.inputs.notes = "tampered";
      const read = (await ctx.store.getRun("r"))!;
      read.tasks[0]!.output = "tampered";
      read.inputs.extra = "tampered";
      (read.tasks[0]!.structured as { task: string }).task = "tampered";
      const again = (await ctx.store.getRun("r"))!;
      expect(again.inputs).toEqual({ notes: "water damage, policy P-1" });
      expect(again.tasks).toEqual([completedTask("a")]);
    });
  });
}
