import { describe, expect } from "vitest";
import type { JsonValue, Store } from "../../stores/store.js";
import { call, completedTask, type ConformanceContext, type SpecIt } from "./support.js";

/** Strings that text encodings, drivers and databases like to change. */
const TRICKY: Record<string, string> = {
  nul: "a\u0000b\u0000",
  loneHigh: "x\ud800y",
  loneLow: "x\udc00y",
  reversedPair: "\udc00\ud800",
  bom: "\ufeffstarts with a BOM",
  rtl: "abc\u202edcba\u202c",
  emoji: "4-byte 😀🧾👩‍👩‍👧",
  combining: "e\u0301 vs \u00e9",
  newlines: "crlf\r\nls\u2028ps\u2029",
  controls: "\u0001\u0007\u001b[31m\u007f\u0085",
  quotes: `"double" 'single' \`back\` \\ backslash`,
  jsonish: '{"lc":2,"type":"constructor"}',
  nonchar: "\uffff\ufffe",
  empty: "",
};
const ALL = Object.values(TRICKY).join("|");

/** The same strings as values, keys and array items, plus a `__proto__` key that must stay data. */
function structured(): JsonValue {
  const value = JSON.parse('{"__proto__": {"polluted": true}}') as { [key: string]: JsonValue };
  value.values = { ...TRICKY };
  value.list = Object.values(TRICKY);
  for (const text of Object.values(TRICKY)) value[`key:${text}`] = text;
  return value;
}

export function encodingSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("string round trips", () => {
    async function readBack(store: Store) {
      const run = (await store.getRun("enc"))!;
      return { run, task: run.tasks[0]!, events: await store.events("enc"), calls: await store.calls("enc", "t") };
    }

    it("keeps NUL, lone surrogates, BOM, RTL marks, emoji… byte-exact in every payload, through a second handle too", async () => {
      const inputs: Record<string, string> = { ...TRICKY, [`key ${ALL}`]: ALL };
      await ctx.store.beginRun({ runId: "enc", crew: "c", inputs });
      await ctx.store.saveTask("enc", completedTask("t", { output: ALL, structured: structured() }), { type: "task_completed", data: { text: ALL, values: { ...TRICKY } } });
      await ctx.store.recordCall("enc", call("t", 0, { response: { text: ALL, [ALL]: [ALL] } }));

      for (const store of [ctx.store, await ctx.reopen()]) {
        const { run, task, events, calls } = await readBack(store);
        // `toBe` compares strings code unit by code unit.
        expect(task.output).toBe(ALL);
        expect(task.output!.length).toBe(ALL.length);
        for (const [name, text] of Object.entries(TRICKY)) {
          expect(run.inputs[name], `input ${name}`).toBe(text);
          expect((task.structured as { values: Record<string, string> }).values[name], `structured ${name}`).toBe(text);
          expect((events[1]!.data as { values: Record<string, string> }).values[name], `event data ${name}`).toBe(text);
        }
        expect(run.inputs).toEqual(inputs);
        expect(task.structured).toEqual(structured());
        expect(Object.keys(task.structured as object)).toContain("__proto__");
        expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
        expect(Object.getPrototypeOf(task.structured)).toBe(Object.prototype);
        expect(events[1]!.data).toEqual({ text: ALL, values: TRICKY });
        expect(calls[0]!.response).toEqual({ text: ALL, [ALL]: [ALL] });
        expect((calls[0]!.response as { text: string }).text).toBe(ALL);
      }
    });

    it("keeps the same strings byte-exact in crew names, errors, models and workers", async () => {
      await ctx.store.beginRun({ runId: "enc", crew: `crew ${ALL}`, inputs: {} });
      await ctx.store.saveTask("enc", completedTask("t", { status: "failed", output: null, error: `Error: ${ALL}`, model: `model ${ALL}`, worker: `worker ${ALL}` }), { type: "task_failed" });
      await ctx.store.setRunStatus("enc", "failed", `run error ${ALL}`, { type: "run_failed" });

      for (const store of [ctx.store, await ctx.reopen()]) {
        const { run, task } = await readBack(store);
        expect(run.crew).toBe(`crew ${ALL}`);
        expect(run.error).toBe(`run error ${ALL}`);
        expect(task.error).toBe(`Error: ${ALL}`);
        expect(task.model).toBe(`model ${ALL}`);
        expect(task.worker).toBe(`worker ${ALL}`);
        expect((await store.listRuns())[0]).toMatchObject({ crew: `crew ${ALL}`, error: `run error ${ALL}` });
      }
    });

    it("keeps numbers exactly", async () => {
      const numbers = [0, -0.5, 1e-7, 123456789.125, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.7976931348623157e308, 5e-324];
      await ctx.store.beginRun({ runId: "enc", crew: "c", inputs: {} });
      await ctx.store.saveTask("enc", completedTask("t", { structured: { numbers } }), { type: "task_completed", data: { numbers } });
      for (const store of [ctx.store, await ctx.reopen()]) {
        const { task, events } = await readBack(store);
        expect(task.structured).toEqual({ numbers });
        expect(events[1]!.data).toEqual({ numbers });
      }
    });
  });
}
