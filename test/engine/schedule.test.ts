import { describe, expect, it } from "vitest";
import { contextOf, isReady, scheduleOf, widestRow } from "../../src/engine/schedule.js";

const sync = (context: number[] | null = null) => ({ asyncExecution: false, conditional: false, context });
const async_ = (context: number[] | null = null) => ({ asyncExecution: true, conditional: false, context });

describe("scheduleOf", () => {
  it("gives async tasks in a row one gate, and the next sync task every one of them as context", () => {
    const slots = scheduleOf([sync(), async_(), async_(), sync(), async_()]);
    expect(slots.map((s) => s.gate)).toEqual([null, 0, 0, 0, 3]);
    expect(slots.map((s) => contextOf(s))).toEqual([[], [0], [0], [0, 1, 2], [0, 1, 2, 3]]);
  });

  it("starts async tasks at the head of a crew at once, with no context", () => {
    const slots = scheduleOf([async_(), async_(), sync()]);
    const none = [false, false, false];
    expect(slots.map((s) => isReady(s, none, 0))).toEqual([true, true, false]);
    expect(isReady(slots[2]!, [true, false, false], 1)).toBe(false);
    expect(isReady(slots[2]!, [true, true, false], 2)).toBe(true);
  });

  it("lets a sync task with an explicit context run beside an async task it does not read", () => {
    const slots = scheduleOf([sync(), async_(), sync([0])]);
    expect(isReady(slots[2]!, [true, false, false], 1)).toBe(true);
    // …but the task after it waits for both (its default context is every earlier task).
    const more = scheduleOf([sync(), async_(), sync([0]), sync()]);
    expect(isReady(more[3]!, [true, false, true, false], 1)).toBe(false);
  });

  it("makes a conditional task wait for the task before it, whatever its context", () => {
    const slots = scheduleOf([sync(), async_(), { asyncExecution: false, conditional: true, context: [0] }]);
    expect(slots[2]!.previous).toBe(1);
    expect(isReady(slots[2]!, [true, false, false], 1)).toBe(false);
    expect(isReady(slots[2]!, [true, true, false], 2)).toBe(true);
  });
});

describe("widestRow", () => {
  it("counts the longest row of async tasks with the sync task that closes it", () => {
    expect(widestRow([])).toBe(0);
    expect(widestRow([false, false])).toBe(1);
    expect(widestRow([false, true, true, true, false])).toBe(4);
    expect(widestRow([true, true, false, true, false])).toBe(3);
    expect(widestRow([false, true, true])).toBe(2);
  });
});
