import { describe, expect } from "vitest";
import type { RunDump } from "../../stores/store.js";
import { beginSampleRun, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

export function runKindSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("run kind and parent", () => {
    it("a run begun without them is a crew run without a parent", async () => {
      const run = await beginSampleRun(ctx.store, "r");
      expect(run).toMatchObject({ kind: "crew", parent: null });
      expect(await ctx.store.getRun("r")).toMatchObject({ kind: "crew", parent: null });
      expect((await ctx.store.listRuns())[0]).toMatchObject({ runId: "r", kind: "crew", parent: null });
    });

    it("keeps the kind and parent through beginRun, getRun, listRuns, export and import", async () => {
      const parent = { runId: "flow-1", task: "write#2" };
      const run = await ctx.store.beginRun({ runId: "child", crew: "writers", inputs: {}, kind: "crew", parent });
      await ctx.store.beginRun({ runId: "flow-1", crew: "pipeline", inputs: {}, kind: "flow" });
      await ctx.store.beginRun({ runId: "fork", crew: "pipeline", inputs: {}, kind: "flow", parent: { runId: "flow-1", task: null } });
      expect(run).toMatchObject({ kind: "crew", parent });
      expect(await ctx.store.getRun("child")).toEqual(run);
      expect(await ctx.store.getRun("flow-1")).toMatchObject({ kind: "flow", parent: null });
      expect(await ctx.store.getRun("fork")).toMatchObject({ kind: "flow", parent: { runId: "flow-1", task: null } });
      const summaries = new Map((await ctx.store.listRuns()).map((s) => [s.runId, [s.kind, s.parent]]));
      expect(Object.fromEntries(summaries)).toEqual({
        child: ["crew", parent],
        "flow-1": ["flow", null],
        fork: ["flow", { runId: "flow-1", task: null }],
      });

      const dump = (await ctx.store.exportRun("fork"))!;
      expect(dump.run).toMatchObject({ kind: "flow", parent: { runId: "flow-1", task: null } });
      await ctx.store.importRun({ ...dump, run: { ...dump.run, runId: "fork-copy" } });
      expect(await ctx.store.getRun("fork-copy")).toEqual({ ...dump.run, runId: "fork-copy" });
      const reopened = await ctx.reopen();
      expect(await reopened.getRun("child")).toEqual(run);
    });

    it("imports a flow run with its parent, and replaces them on overwrite", async () => {
      const dump: RunDump = {
        run: {
          runId: "imported",
          crew: "pipeline",
          kind: "flow",
          parent: { runId: "origin", task: "plan#1" },
          inputs: {},
          status: "paused",
          attempts: 1,
          error: null,
          createdAt: "2025-01-01T00:00:00.000Z",
          updatedAt: "2025-01-01T00:00:01.000Z",
          tasks: [completedTask("plan#1")],
        },
        events: [],
        calls: [],
      };
      await ctx.store.importRun(dump);
      expect(await ctx.store.getRun("imported")).toEqual(dump.run);
      expect((await ctx.store.listRuns())[0]).toMatchObject({ kind: "flow", parent: { runId: "origin", task: "plan#1" } });
      const crew = { ...dump.run, kind: "crew" as const, parent: null };
      await ctx.store.importRun({ ...dump, run: crew }, { overwrite: true });
      expect(await ctx.store.getRun("imported")).toEqual(crew);
    });

    it("refuses a begin of another kind with RUN_MISMATCH naming both kinds, changing nothing", async () => {
      await ctx.store.beginRun({ runId: "f", crew: "pipeline", inputs: {}, kind: "flow" });
      await beginSampleRun(ctx.store, "c", "pipeline");
      const before = { f: await observe(ctx.store, "f"), c: await observe(ctx.store, "c") };

      const asCrew = await expectCode(() => ctx.store.beginRun({ runId: "f", crew: "pipeline", inputs: {} }), "RUN_MISMATCH");
      expect(asCrew.message).toContain('"f"');
      expect(asCrew.message).toMatch(/flow.*crew|crew.*flow/);
      const asFlow = await expectCode(() => ctx.store.beginRun({ runId: "c", crew: "pipeline", inputs: {}, kind: "flow" }), "RUN_MISMATCH");
      expect(asFlow.message).toMatch(/flow.*crew|crew.*flow/);

      expect(await observe(ctx.store, "f")).toEqual(before.f);
      expect(await observe(ctx.store, "c")).toEqual(before.c);
    });

    it("a later begin keeps the run's kind and parent, whatever parent it gives", async () => {
      const parent = { runId: "flow-1", task: "write#1" };
      await ctx.store.beginRun({ runId: "r", crew: "writers", inputs: {}, parent });
      const again = await ctx.store.beginRun({ runId: "r", crew: "writers", inputs: { a: "2" }, parent: { runId: "other", task: "x#9" } });
      expect(again).toMatchObject({ kind: "crew", parent, attempts: 2, inputs: { a: "2" } });
      const third = await ctx.store.beginRun({ runId: "r", crew: "writers", inputs: {}, parent: null });
      expect(third).toMatchObject({ kind: "crew", parent, attempts: 3 });
      expect(await ctx.store.getRun("r")).toEqual(third);
    });

    it("refuses an unknown kind and a parent with an invalid run ID, creating nothing", async () => {
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "c", inputs: {}, kind: "job" as "crew" }), "INVALID_INPUT");
      await expectCode(() => ctx.store.beginRun({ runId: "r", crew: "c", inputs: {}, parent: { runId: "", task: null } }), "INVALID_RUN_ID");
      expect(await ctx.store.getRun("r")).toBeUndefined();
    });
  });
}
