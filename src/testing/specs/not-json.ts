import { describe, expect } from "vitest";
import { asJson, beginSampleRun, call, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

class Money {
  constructor(readonly cents: number) {}
}

function circular(): unknown {
  const value: { self?: unknown; list: unknown[] } = { list: [] };
  value.self = value;
  return value;
}

function circularArray(): unknown {
  const list: unknown[] = [1];
  list.push({ back: list });
  return list;
}

/** Values JSON would silently change or cannot carry. */
const NOT_JSON: Array<[string, () => unknown]> = [
  ["NaN", () => Number.NaN],
  ["Infinity", () => ({ score: Number.POSITIVE_INFINITY })],
  ["-Infinity deep in an array", () => ({ a: [1, [2, { b: Number.NEGATIVE_INFINITY }]] })],
  ["a BigInt", () => ({ id: 12345678901234567890n })],
  ["a circular object", circular],
  ["a circular array", circularArray],
  ["a Date", () => ({ when: new Date("2025-01-01T00:00:00Z") })],
  ["undefined in an object", () => ({ gone: undefined })],
  ["undefined in an array", () => [1, undefined]],
  ["a function", () => ({ fn: () => 1 })],
  ["a Map", () => new Map([["a", 1]])],
  ["a Set", () => ({ tags: new Set(["a"]) })],
  ["a class instance", () => ({ amount: new Money(5) })],
  ["a symbol", () => ({ s: Symbol("x") })],
];

export function notJsonSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("values JSON cannot carry exactly", () => {
    for (const [name, make] of NOT_JSON) {
      it(`refuses ${name} in a structured output with NOT_JSON, writing nothing`, async () => {
        await beginSampleRun(ctx.store, "r");
        await ctx.store.saveTask("r", completedTask("kept"), { type: "task_completed" });
        const before = await observe(ctx.store, "r");
        await expectCode(() => ctx.store.saveTask("r", completedTask("bad", { structured: asJson(make()) }), { type: "task_completed" }), "NOT_JSON");
        await expectCode(() => ctx.store.saveTask("r", completedTask("kept", { structured: asJson(make()) }), { type: "task_completed" }), "NOT_JSON");
        expect(await observe(ctx.store, "r")).toEqual(before);
      });
    }

    it("refuses them in event data, call responses and run-status events too, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      for (const [name, make] of NOT_JSON) {
        const data = { value: make() } as unknown as { [key: string]: never };
        await expectCode(() => ctx.store.saveTask("r", completedTask("a"), { type: "task_completed", data }), "NOT_JSON", `event data with ${name}`);
        await expectCode(() => ctx.store.setRunStatus("r", "failed", "x", { type: "run_failed", data }), "NOT_JSON", `run event data with ${name}`);
        await expectCode(() => ctx.store.recordCall("r", call("a", 0, { response: asJson(make()) })), "NOT_JSON", `call response with ${name}`);
      }
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
    });
  });
}
