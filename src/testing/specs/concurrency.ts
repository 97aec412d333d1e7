import { describe, expect } from "vitest";
import { newTaskRecord } from "../../stores/store.js";
import { beginSampleRun, call, completedTask, type ConformanceContext, type SpecIt } from "./support.js";

const names = (n: number, prefix = "task") => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, "0")}`);

export function concurrencySpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("concurrent commits", () => {
    it("20 concurrent saveTask calls for different tasks of one run lose nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const tasks = names(20);
      await Promise.all(tasks.map((name, i) => ctx.store.saveTask("r", completedTask(name, { attempts: i + 1 }), { type: "task_completed", data: { i } })));

      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks).toHaveLength(20);
      expect(run.tasks.map((t) => t.name).sort()).toEqual(tasks);
      for (const task of run.tasks) expect(task).toEqual(completedTask(task.name, { attempts: tasks.indexOf(task.name) + 1 }));
      const events = await ctx.store.events("r");
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      expect(events.slice(1).map((e) => e.task).sort()).toEqual(tasks);
      // Each event carries its own task's data.
      for (const event of events.slice(1)) expect(event.data).toEqual({ i: tasks.indexOf(event.task!) });
    });

    const twoHandles = "concurrent commits through two handles lose nothing";
    if (!ctx.concurrent) it.skip(twoHandles, "concurrent: false, the store allows one open handle at a time");
    else it(twoHandles, async () => {
      await beginSampleRun(ctx.store, "r");
      const other = await ctx.reopen();
      await Promise.all([
        ...names(10, "one").map((name) => ctx.store.saveTask("r", newTaskRecord(name), { type: "task_started" })),
        ...names(10, "two").map((name) => other.saveTask("r", newTaskRecord(name), { type: "task_started" })),
      ]);
      for (const store of [ctx.store, other]) {
        expect((await store.getRun("r"))!.tasks.map((t) => t.name).sort()).toEqual([...names(10, "one"), ...names(10, "two")]);
        expect((await store.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      }
    });

    it("20 concurrent recordCall calls lose nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      await Promise.all(Array.from({ length: 20 }, (_, i) => ctx.store.recordCall("r", call(i % 2 === 0 ? "even" : "odd", i))));
      expect((await ctx.store.calls("r", "even")).map((c) => c.position)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
      expect((await ctx.store.calls("r", "odd")).map((c) => c.position)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    });

    it("concurrent beginRun calls count every attempt", async () => {
      await Promise.all([
        ...Array.from({ length: 5 }, () => ctx.store.beginRun({ runId: "same", crew: "c", inputs: {} })),
        ...names(10, "run").map((runId) => ctx.store.beginRun({ runId, crew: "c", inputs: {} })),
      ]);
      expect((await ctx.store.getRun("same"))!.attempts).toBe(5);
      const events = await ctx.store.events("same");
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(events.map((e) => (e.data as { attempt: number }).attempt).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(await ctx.store.listRuns()).toHaveLength(11);
    });

    it("concurrent commits of one task keep one complete record and every event", async () => {
      await beginSampleRun(ctx.store, "r");
      const versions = Array.from({ length: 10 }, (_, i) => completedTask("same", { attempts: i, output: `version ${i}` }));
      await Promise.all(versions.map((record) => ctx.store.saveTask("r", record, { type: "task_completed" })));
      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks).toHaveLength(1);
      expect(versions).toContainEqual(run.tasks[0]);
      expect(await ctx.store.events("r")).toHaveLength(11);
    });
  });
}
