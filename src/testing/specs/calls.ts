import { describe, expect } from "vitest";
import { beginSampleRun, call, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

export function callsSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("call journal", () => {
    it("returns a task's calls by position, whatever the order they were recorded in", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const position of [2, 0, 10, 1]) await ctx.store.recordCall("r", call("a", position));
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0), call("a", 1), call("a", 2), call("a", 10)]);
    });

    it("stores every field exactly: tool calls, null usage, any JSON response", async () => {
      await beginSampleRun(ctx.store, "r");
      const calls = [
        call("a", 0, { kind: "tool", usage: null, response: [{ tool: "lookup_policy", result: { policy: "P-1", active: true } }] }),
        call("a", 1, { response: "plain text" }),
        call("a", 2, { response: null }),
        call("a", 3, { response: 42.5 }),
        call("a", 4, { response: { empty: {}, list: [], t: true, f: false } }),
      ];
      for (const c of calls) await ctx.store.recordCall("r", c);
      expect(await ctx.store.calls("r", "a")).toEqual(calls);
    });

    it("a call at an existing position replaces it", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const position of [0, 1, 2]) await ctx.store.recordCall("r", call("a", position));
      const replacement = call("a", 1, { kind: "tool", requestHash: "retried", response: { text: "second answer" }, usage: null, at: "2025-02-01T00:00:00.000Z" });
      await ctx.store.recordCall("r", replacement);
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0), replacement, call("a", 2)]);
    });

    it("keeps one journal per task and per run", async () => {
      await beginSampleRun(ctx.store, "r");
      await beginSampleRun(ctx.store, "s");
      await ctx.store.recordCall("r", call("a", 0));
      await ctx.store.recordCall("r", call("b", 0, { requestHash: "b0" }));
      await ctx.store.recordCall("s", call("a", 0, { requestHash: "other run" }));
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0)]);
      expect(await ctx.store.calls("r", "b")).toEqual([call("b", 0, { requestHash: "b0" })]);
      expect(await ctx.store.calls("s", "a")).toEqual([call("a", 0, { requestHash: "other run" })]);
      expect(await ctx.store.calls("r", "none")).toEqual([]);
    });

    it("clearCalls empties one task's journal only", async () => {
      await beginSampleRun(ctx.store, "r");
      await beginSampleRun(ctx.store, "s");
      for (const task of ["a", "b"]) for (const position of [0, 1]) await ctx.store.recordCall("r", call(task, position));
      await ctx.store.recordCall("s", call("a", 0));
      await ctx.store.clearCalls("r", "a");
      expect(await ctx.store.calls("r", "a")).toEqual([]);
      expect(await ctx.store.calls("r", "b")).toEqual([call("b", 0), call("b", 1)]);
      expect(await ctx.store.calls("s", "a")).toEqual([call("a", 0)]);
      await ctx.store.clearCalls("r", "a"); // clearing an empty journal is fine
      await ctx.store.recordCall("r", call("a", 0, { requestHash: "fresh" }));
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0, { requestHash: "fresh" })]);
    });

    it("a task commit can carry journal entries: recorded with the record and its event, or not at all", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.recordCall("r", call("a", 0));
      const done = completedTask("a");
      await ctx.store.saveTask("r", done, { type: "task_completed" }, { calls: [call("a", 1), call("a", 0, { requestHash: "again" })] });
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0, { requestHash: "again" }), call("a", 1)]);
      expect(await (await ctx.reopen()).calls("r", "a")).toEqual([call("a", 0, { requestHash: "again" }), call("a", 1)]);
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([done]);
      expect((await ctx.store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);

      // A fenced-out commit journals nothing either.
      const claimed = completedTask("b", { status: "running", output: null, fencingToken: 3 });
      await ctx.store.saveTask("r", claimed, { type: "task_started" });
      const before = await observe(ctx.store, "r");
      await expectCode(() => ctx.store.saveTask("r", completedTask("b"), { type: "task_completed" }, { fencingToken: 2, calls: [call("b", 0)] }), "FENCED_OUT");
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.calls("r", "b")).toEqual([]);
    });

    it("refuses journal entries of another task, or that JSON cannot carry, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { calls: [call("b", 0)] }), "INVALID_INPUT");
      await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" }, { calls: [call("a", 0, { response: { n: Number.NaN } })] }), "NOT_JSON");
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
    });

    it("journaling touches neither the task records nor the event log", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a", { status: "running" }), { type: "task_started" });
      const before = await observe(ctx.store, "r");
      await ctx.store.recordCall("r", call("a", 0));
      await ctx.store.recordCall("r", call("a", 0, { requestHash: "replaced" }));
      await ctx.store.clearCalls("r", "a");
      expect(await observe(ctx.store, "r")).toEqual(before);
    });
  });
}
