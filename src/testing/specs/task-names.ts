import { describe, expect } from "vitest";
import { newTaskRecord } from "../../stores/store.js";
import { beginSampleRun, call, completedTask, expectCode, observe, taskNames, type ConformanceContext, type SpecIt } from "./support.js";

/** Names that break string-built SQL, key patterns, templates, globs or object maps. */
const HOSTILE_NAMES = [
  "'; DROP TABLE runs; --",
  '"; DROP TABLE tasks; --',
  "Robert'); DELETE FROM events;--",
  "$1",
  "$$",
  "?",
  ":name",
  "@p",
  "*",
  "?*[a-z]",
  "%",
  "_",
  "{tag}",
  "{notes}",
  "${process.exit()}",
  "a b  c ",
  " leading",
  '"double quoted"',
  "'single quoted'",
  "back\\slash\\",
  "run:1:task",
  "__proto__",
  "constructor",
  "hasOwnProperty",
  "名前 😀 é",
  "x".repeat(200),
];

const REJECTED_NAMES: unknown[] = ["", "a\nb", "a\rb", "tab\there", "nul\u0000", "\u001b[31m", "del\u007f", "c1\u0085", "lone\ud800", "x".repeat(201), 7, null];

export function taskNamesSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("task names", () => {
    it("keeps hostile task names exactly, in records, events, journals and removal", async () => {
      await beginSampleRun(ctx.store, "r");
      for (const [i, name] of HOSTILE_NAMES.entries()) {
        await ctx.store.saveTask("r", completedTask(name, { attempts: i }), { type: "task_completed" });
        await ctx.store.recordCall("r", call(name, 0, { requestHash: `hash-${i}` }));
      }
      for (const store of [ctx.store, await ctx.reopen()]) {
        const run = (await store.getRun("r"))!;
        expect(taskNames(run)).toEqual(HOSTILE_NAMES);
        expect(run.tasks.map((t) => t.attempts)).toEqual(HOSTILE_NAMES.map((_, i) => i));
        expect((await store.events("r")).slice(1).map((e) => e.task)).toEqual(HOSTILE_NAMES);
        for (const [i, name] of HOSTILE_NAMES.entries()) {
          expect(await store.calls("r", name), name).toEqual([call(name, 0, { requestHash: `hash-${i}` })]);
        }
        expect(await store.listRuns()).toMatchObject([{ runId: "r", taskCount: HOSTILE_NAMES.length }]);
      }
      // Pattern characters match only themselves.
      expect(await ctx.store.removeTask("r", "%", { type: "task_invalidated" })).toBe(true);
      expect(await ctx.store.removeTask("r", "*", { type: "task_invalidated" })).toBe(true);
      await ctx.store.clearCalls("r", "_");
      const run = (await ctx.store.getRun("r"))!;
      expect(taskNames(run)).toEqual(HOSTILE_NAMES.filter((n) => n !== "%" && n !== "*"));
      expect(await ctx.store.calls("r", "_")).toEqual([]);
      expect(await ctx.store.calls("r", "$1")).toHaveLength(1);
      expect(await ctx.store.calls("r", "?*[a-z]")).toHaveLength(1);
    });

    it("refuses names with control characters, lone surrogates or bad lengths with INVALID_DEFINITION, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.saveTask("r", completedTask("a"), { type: "task_completed" });
      await ctx.store.recordCall("r", call("a", 0));
      const before = await observe(ctx.store, "r");
      for (const bad of REJECTED_NAMES) {
        const name = bad as string;
        const label = `task name ${JSON.stringify(bad)}`;
        await expectCode(() => ctx.store.saveTask("r", newTaskRecord(name), { type: "task_started" }), "INVALID_DEFINITION", `saveTask, ${label}`);
        await expectCode(() => ctx.store.removeTask("r", name, { type: "task_invalidated" }), "INVALID_DEFINITION", `removeTask, ${label}`);
        await expectCode(() => ctx.store.recordCall("r", call(name, 0)), "INVALID_DEFINITION", `recordCall, ${label}`);
        await expectCode(() => ctx.store.calls("r", name), "INVALID_DEFINITION", `calls, ${label}`);
        await expectCode(() => ctx.store.clearCalls("r", name), "INVALID_DEFINITION", `clearCalls, ${label}`);
      }
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.calls("r", "a")).toEqual([call("a", 0)]);
    });
  });
}
