import { describe, expect } from "vitest";
import { newTaskRecord, type Lease, type Store, type TaskRecord } from "../../stores/store.js";
import { beginSampleRun, call, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

const names = (n: number) => Array.from({ length: n }, (_, i) => `branch-${i}`);

function started(name: string): TaskRecord {
  return { ...newTaskRecord(name), status: "running", inputHash: "c".repeat(64), startedAt: "2026-01-02T03:04:05.000Z", attempts: 1 };
}

/** What the engine does for async tasks in a row: each its own claim, lease, journal and commit, all at once. */
export function parallelTasksSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("parallel tasks of one run", () => {
    it("8 tasks claimed with start and committed with their journals at once, through two handles, each keep their own token, record, calls and events", async () => {
      await beginSampleRun(ctx.store, "r");
      const other = await ctx.reopen();
      const handles: Store[] = names(8).map((_, i) => (i % 2 === 0 ? ctx.store : other));
      const leases = await Promise.all(
        names(8).map((name, i) =>
          handles[i]!.claimTask("r", name, `worker-${i % 2}`, 30_000, { seenToken: 0, start: { task: started(name), event: { type: "task_started", data: { i } } } }),
        ),
      );
      expect(leases.map((l) => l?.token)).toEqual(names(8).map(() => 1));
      await Promise.all(
        names(8).map((name, i) =>
          handles[i]!.saveTask("r", completedTask(name, { worker: `worker-${i % 2}`, fencingToken: 1 }), { type: "task_completed", data: { i } }, {
            fencingToken: leases[i]!.token,
            calls: [call(name, 0), call(name, 1)],
          }),
        ),
      );
      for (const store of [ctx.store, other]) {
        const run = (await store.getRun("r"))!;
        expect(run.tasks.map((t) => t.name).sort()).toEqual(names(8));
        for (const task of run.tasks) expect(task).toEqual(completedTask(task.name, { worker: task.worker, fencingToken: 1 }));
        const events = await store.events("r");
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
        for (const name of names(8)) {
          expect(events.filter((e) => e.task === name).map((e) => e.type)).toEqual(["task_started", "task_completed"]);
          expect((await store.calls("r", name)).map((c) => c.position)).toEqual([0, 1]);
        }
      }
    });

    it("a stale commit of one parallel task is fenced out while its siblings commit", async () => {
      await beginSampleRun(ctx.store, "r");
      const leases = (await Promise.all(names(4).map((name) => ctx.store.claimTask("r", name, "worker-a", 30_000)))) as Lease[];
      const newer = await ctx.store.claimTask("r", "branch-0", "worker-b", 30_000, { takeOverFrom: "worker-a" });
      const commits = names(4).map((name, i) =>
        ctx.store.saveTask("r", completedTask(name, { fencingToken: leases[i]!.token }), { type: "task_completed" }, { fencingToken: leases[i]!.token }),
      );
      await expectCode(() => commits[0]!, "FENCED_OUT");
      await Promise.all(commits.slice(1));
      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks.find((t) => t.name === "branch-0")).toMatchObject({ status: "pending", worker: "worker-b", fencingToken: newer!.token });
      expect(run.tasks.filter((t) => t.status === "completed").map((t) => t.name).sort()).toEqual(["branch-1", "branch-2", "branch-3"]);
    });

    it("keeps a skipped task's record, and JSON-valued inputs, through reads, reopen and export/import", async () => {
      const inputs = { notes: "text", count: 3, ratio: 0.25, urgent: false, tags: ["a", "b"], claimant: { name: "Ada", id: null } };
      await ctx.store.beginRun({ runId: "r", crew: "c", inputs });
      const skipped: TaskRecord = completedTask("escalate", { status: "skipped", output: "", structured: null, usage: null, model: null });
      await ctx.store.saveTask("r", skipped, { type: "task_skipped", data: { previous: "check" } });
      const reopened = await ctx.reopen();
      for (const store of [ctx.store, reopened]) {
        const run = (await store.getRun("r"))!;
        expect(run.inputs).toEqual(inputs);
        expect(run.tasks).toEqual([skipped]);
        expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_skipped"]);
        // A skipped task is done.
        expect((await store.listRuns()).find((s) => s.runId === "r")).toMatchObject({ taskCount: 1, completedCount: 1 });
      }
      const dump = (await ctx.store.exportRun("r"))!;
      await ctx.store.importRun({ ...dump, run: { ...dump.run, runId: "copy" }, events: dump.events.map((e) => ({ ...e, runId: "copy" })) });
      const copy = (await ctx.store.getRun("copy"))!;
      expect(copy.inputs).toEqual(inputs);
      expect(copy.tasks).toEqual([skipped]);
    });
  });
}
