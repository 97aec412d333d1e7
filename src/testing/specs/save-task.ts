import { describe, expect } from "vitest";
import { newTaskRecord, type TaskRecord } from "../../stores/store.js";
import { beginSampleRun, clockTick, completedTask, ISO_TIME, taskNames, type ConformanceContext, type SpecIt } from "./support.js";

export function saveTaskSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("saveTask", () => {
    it("inserts the record and appends its event, carrying the task name", async () => {
      await beginSampleRun(ctx.store, "r");
      const record = completedTask("analyze_task");
      await ctx.store.saveTask("r", record, { type: "task_completed", data: { ms: 812, reused: false } });

      const run = (await ctx.store.getRun("r"))!;
      expect(run.tasks).toEqual([record]);
      const events = await ctx.store.events("r");
      expect(events).toHaveLength(2);
      expect(events[1]).toEqual({ seq: 2, runId: "r", task: "analyze_task", type: "task_completed", at: expect.stringMatching(ISO_TIME), data: { ms: 812, reused: false } });
    });

    it("its event names the saved task, even when the event names another task or none", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed", task: null });
      await ctx.store.saveTask("r", completedTask("b"), { type: "task_edited", task: "a" });
      expect((await ctx.store.events("r")).slice(1).map((e) => [e.type, e.task])).toEqual([
        ["task_completed", "a"],
        ["task_edited", "b"],
      ]);
    });

    it("stores every field of a record exactly, whatever its status", async () => {
      await beginSampleRun(ctx.store, "r");
      const records: TaskRecord[] = [
        newTaskRecord("pending"),
        completedTask("running", { status: "running", output: null, structured: null, outputHash: null, completedAt: null, worker: "host-a:4242", fencingToken: 7, leaseExpiresAt: "2025-01-02T03:05:00.000Z" }),
        completedTask("failed", { status: "failed", output: null, structured: null, outputHash: null, attempts: 3, error: "TypeError: boom\n    at step (agent.ts:12)", usage: null, model: null }),
        completedTask("completed", { structured: [1, [2, [3, { deep: [] }]], {}], attempts: 2, usage: { inputTokens: 0, outputTokens: 0, costUsd: null } }),
        completedTask("scalar", { structured: -0.125, output: "" }),
        completedTask("nohash", { inputHash: null, outputHash: null, startedAt: null, completedAt: null, worker: null }),
      ];
      for (const record of records) await ctx.store.saveTask("r", record, { type: "task_edited" });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual(records);
    });

    it("upserts: a second commit replaces the whole record and appends a second event", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", { ...newTaskRecord("draft"), status: "running", attempts: 1, startedAt: "2025-01-01T00:00:00.000Z" }, { type: "task_started" });
      const done = completedTask("draft", { attempts: 1 });
      await ctx.store.saveTask("r", done, { type: "task_completed" });

      expect((await ctx.store.getRun("r"))!.tasks).toEqual([done]);
      const events = await ctx.store.events("r");
      expect(events.map((e) => [e.seq, e.type, e.task])).toEqual([
        [1, "run_started", null],
        [2, "task_started", "draft"],
        [3, "task_completed", "draft"],
      ]);
    });

    it("a re-commit of the same record keeps one record", async () => {
      await beginSampleRun(ctx.store, "r");
      const record = completedTask("a");
      await ctx.store.saveTask("r", record, { type: "task_completed" });
      await ctx.store.saveTask("r", record, { type: "task_reused" });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([record]);
      expect((await ctx.store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "task_reused"]);
    });

    it("keeps tasks in the order they were first recorded, not by name or by last update", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const name of ["charlie", "alpha", "bravo", "10", "9"]) await ctx.store.saveTask("r", newTaskRecord(name), { type: "task_started" });
      await ctx.store.saveTask("r", completedTask("alpha"), { type: "task_completed" });
      await ctx.store.saveTask("r", completedTask("charlie"), { type: "task_completed" });
      expect(taskNames(await ctx.store.getRun("r"))).toEqual(["charlie", "alpha", "bravo", "10", "9"]);
    });

    it("numbers events 1, 2, 3… per run, across every kind of commit", async () => {
      await beginSampleRun(ctx.store, "r");
      await beginSampleRun(ctx.store, "other");
      await ctx.store.saveTask("r", newTaskRecord("a"), { type: "task_started" });
      await ctx.store.saveTask("other", newTaskRecord("a"), { type: "task_started" });
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.setRunStatus("r", "paused", null, { type: "run_paused" });
      await ctx.store.removeTask("r", "a", { type: "task_invalidated" });
      await beginSampleRun(ctx.store, "r");
      const events = await ctx.store.events("r");
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(events.every((e) => e.runId === "r")).toBe(true);
      expect(events.map((e) => e.type)).toEqual(["run_started", "task_started", "task_completed", "run_paused", "task_invalidated", "run_started"]);
      expect((await ctx.store.events("other")).map((e) => e.seq)).toEqual([1, 2]);
    });

    it("an event without data has data null", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      expect((await ctx.store.events("r"))[1]!.data).toBeNull();
    });

    it("sets the run's updatedAt to the time of the commit", async () => {
      const begun = await beginSampleRun(ctx.store, "r");
      await clockTick(5);
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      const run = (await ctx.store.getRun("r"))!;
      const events = await ctx.store.events("r");
      expect(run.updatedAt).toBe(events[1]!.at);
      expect(Date.parse(run.updatedAt)).toBeGreaterThan(Date.parse(begun.updatedAt));
      expect(run.createdAt).toBe(begun.createdAt);
      expect(run.attempts).toBe(1);
      expect(run.status).toBe("running");
    });

    it("stores a copy of the record: changing it after the commit changes nothing stored", async () => {
      await beginSampleRun(ctx.store, "r");
      const record = completedTask("a");
      await ctx.store.saveTask("r", record, { type: "task_completed" });
      record.output = "tampered";
      (record.structured as { task: string }).task = "tampered";
      record.usage!.inputTokens = 999;
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([completedTask("a")]);
    });

    it("stores a copy of the event data: changing it after the commit changes nothing stored", async () => {
      await beginSampleRun(ctx.store, "r");
      const data = { note: "kept", nested: { list: ["kept"] } };
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed", data });
      await ctx.store.setRunStatus("r", "failed", "x", { type: "run_failed", data });
      data.note = "tampered";
      data.nested.list.push("tampered");
      const events = await ctx.store.events("r");
      expect(events[1]!.data).toEqual({ note: "kept", nested: { list: ["kept"] } });
      expect(events[2]!.data).toEqual({ note: "kept", nested: { list: ["kept"] } });
    });
  });
}
