import { describe, expect } from "vitest";
import type { RunStatus, Store } from "../../stores/store.js";
import { beginSampleRun, call, clockTick, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

/** A run with tasks a (completed), b (failed), each with a journal of two calls, ended with `status`. */
async function endedRun(store: Store, runId: string, status: RunStatus = "completed"): Promise<void> {
  await beginSampleRun(store, runId);
  await store.saveTask(runId, completedTask("a"), { type: "task_completed" });
  await store.saveTask(runId, completedTask("b", { status: "failed", output: null, structured: null, outputHash: null, error: "boom" }), { type: "task_failed" });
  for (const task of ["a", "b"]) for (const position of [0, 1]) await store.recordCall(runId, call(task, position));
  if (status !== "running") await store.setRunStatus(runId, status, status === "failed" ? "boom" : null, { type: status === "failed" ? "run_failed" : status === "paused" ? "run_paused" : "run_completed" });
}

export function deleteRunSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("deleteRun", () => {
    it("deletes a completed or failed run whole — record, tasks, events, journals — and only it", async () => {
      await endedRun(ctx.store, "done");
      await endedRun(ctx.store, "broken", "failed");
      await endedRun(ctx.store, "kept");
      const kept = await ctx.store.exportRun("kept");

      for (const runId of ["done", "broken"]) {
        const freed = await ctx.store.deleteRun(runId);
        expect(freed.bytes === null || freed.bytes > 0, `bytes freed: ${freed.bytes}`).toBe(true);
        expect(await ctx.store.getRun(runId)).toBeUndefined();
        expect(await ctx.store.exportRun(runId)).toBeUndefined();
        expect(await ctx.store.events(runId)).toEqual([]);
        expect(await ctx.store.calls(runId, "a")).toEqual([]);
      }
      expect((await ctx.store.listRuns()).map((r) => r.runId)).toEqual(["kept"]);
      expect(await ctx.store.exportRun("kept")).toEqual(kept);

      const other = await ctx.reopen();
      expect(await other.getRun("done")).toBeUndefined();
      expect((await other.listRuns()).map((r) => r.runId)).toEqual(["kept"]);
    });

    it("reports how many payload bytes it freed: at least the stored outputs and call responses", async () => {
      await endedRun(ctx.store, "r");
      const { bytes } = await ctx.store.deleteRun("r");
      if (bytes === null) return;
      const floor = Buffer.byteLength(JSON.stringify(completedTask("a").output)) + 4 * Buffer.byteLength(JSON.stringify(call("a", 0).response));
      expect(bytes).toBeGreaterThanOrEqual(floor);
    });

    it("a deleted run is not found again, and its ID can start a fresh run", async () => {
      await endedRun(ctx.store, "r");
      await ctx.store.deleteRun("r");
      const error = await expectCode(() => ctx.store.deleteRun("r"), "RUN_NOT_FOUND");
      expect(error.message).toContain('"r"');
      const run = await beginSampleRun(ctx.store, "r");
      expect(run.attempts).toBe(1);
      expect(run.tasks).toEqual([]);
      expect((await ctx.store.events("r")).map((e) => [e.seq, e.type])).toEqual([[1, "run_started"]]);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
    });

    for (const status of ["running", "paused"] as const) {
      it(`refuses a ${status} run with RUN_BUSY, changing nothing`, async () => {
        await endedRun(ctx.store, "r", status);
        const before = await ctx.store.exportRun("r");
        const error = await expectCode(() => ctx.store.deleteRun("r"), "RUN_BUSY");
        expect(error.message).toContain('"r"');
        expect(error.message).toContain(status);
        expect(error.message).not.toContain("\n");
        await expectCode(() => ctx.store.dropJournals("r"), "RUN_BUSY");
        expect(await ctx.store.exportRun("r")).toEqual(before);
      });
    }

    it("refuses a completed run whose task holds a lease that has not run out; takes it once released or expired", async () => {
      await endedRun(ctx.store, "r");
      const lease = (await ctx.store.claimTask("r", "a", "w1", 60_000))!;
      const before = await ctx.store.exportRun("r");
      const error = await expectCode(() => ctx.store.deleteRun("r"), "RUN_BUSY");
      expect(error.message).toContain('"a"');
      expect(error.message).toContain("lease");
      await expectCode(() => ctx.store.dropJournals("r"), "RUN_BUSY");
      expect(await ctx.store.exportRun("r")).toEqual(before);

      await ctx.store.releaseTask(lease);
      await ctx.store.claimTask("r", "b", "w2", 1);
      await clockTick(5);
      await ctx.store.deleteRun("r");
      expect(await ctx.store.getRun("r")).toBeUndefined();
    });

    it("a delete racing a claim: one wins whole — the run gone and the claim RUN_NOT_FOUND, or the lease held and the delete RUN_BUSY", async () => {
      const other = ctx.concurrent ? await ctx.reopen() : ctx.store;
      for (let round = 0; round < 6; round++) {
        const runId = `race-${round}`;
        await endedRun(ctx.store, runId);
        const [claim, removal] = await Promise.allSettled([other.claimTask(runId, "a", "w1", 60_000), ctx.store.deleteRun(runId)]);
        const code = (settled: PromiseSettledResult<unknown>) => (settled.status === "rejected" ? (settled.reason as { code?: string }).code : "ok");
        const outcome = `${code(claim)}/${code(removal)}`;
        expect(["RUN_NOT_FOUND/ok", "ok/RUN_BUSY"], outcome).toContain(outcome);
        const run = await ctx.store.getRun(runId);
        if (code(removal) === "ok") {
          expect(run).toBeUndefined();
          expect(await ctx.store.events(runId)).toEqual([]);
        } else {
          expect(run!.tasks.find((t) => t.name === "a")!.worker).toBe("w1");
          expect(await ctx.store.calls(runId, "a")).toEqual([call("a", 0), call("a", 1)]);
        }
      }
    });

    it("names an unknown run, and checks the run ID", async () => {
      const error = await expectCode(() => ctx.store.deleteRun("nope"), "RUN_NOT_FOUND");
      expect(error.message).toContain('"nope"');
      await expectCode(() => ctx.store.dropJournals("nope"), "RUN_NOT_FOUND");
      await expectCode(() => ctx.store.deleteRun("bad id/../x"), "INVALID_RUN_ID");
    });
  });

  describe("dropJournals", () => {
    it("deletes the journals of completed tasks, keeping the run, its events and other tasks' journals", async () => {
      await endedRun(ctx.store, "r");
      await endedRun(ctx.store, "other");
      const before = (await ctx.store.exportRun("r"))!;
      const other = await ctx.store.exportRun("other");
      const { bytes } = await ctx.store.dropJournals("r");
      if (bytes !== null) expect(bytes).toBeGreaterThanOrEqual(2 * Buffer.byteLength(JSON.stringify(call("a", 0).response)));
      const after = (await ctx.store.exportRun("r"))!;
      expect(after.run).toEqual(before.run);
      expect(after.events).toEqual(before.events);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
      expect(await ctx.store.calls("r", "b")).toEqual([call("b", 0), call("b", 1)]);
      expect(await ctx.store.exportRun("other")).toEqual(other);
      expect(await (await ctx.reopen()).calls("r", "a")).toEqual([]);

      // Again: nothing left to drop.
      const again = await ctx.store.dropJournals("r");
      expect(again.bytes === null || again.bytes === 0).toBe(true);
    });
  });
}
