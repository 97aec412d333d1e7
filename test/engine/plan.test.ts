import { describe, expect, it } from "vitest";
import { canonicalJson, hashOf } from "../../src/hash.js";
import { changedParts, decide, describeDecision, EMPTY_DIGEST, foldUpstream, inputHashOf, type HashParts } from "../../src/engine/plan.js";
import { newTaskRecord, type TaskRecord } from "../../src/stores/store.js";

const parts: HashParts = { prompt: "p", inputs: { notes: "n1" }, schema: null, agent: "a", upstream: EMPTY_DIGEST };

function completed(inputHash: string | null): TaskRecord {
  return { ...newTaskRecord("t"), status: "completed", inputHash, output: "out", outputHash: "oh" };
}

describe("canonical hashing", () => {
  it("ignores key order and undefined fields", () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined, b: [3, { z: 1, y: 2 }] } })).toBe('{"a":{"b":[3,{"y":2,"z":1}],"d":2},"b":1}');
    expect(hashOf({ x: 1, y: 2 })).toBe(hashOf({ y: 2, x: 1 }));
  });
  it("changes the input hash when any part changes", () => {
    const base = inputHashOf(parts);
    for (const changed of [
      { ...parts, prompt: "p2" },
      { ...parts, inputs: { notes: "n2" } },
      { ...parts, inputs: { notes: "n1", extra: "e" } },
      { ...parts, schema: "s" },
      { ...parts, agent: "a2" },
      { ...parts, upstream: "u" },
    ]) {
      expect(inputHashOf(changed)).not.toBe(base);
    }
    expect(inputHashOf({ ...parts, inputs: { notes: "n1" } })).toBe(base);
  });
});

describe("upstream digest", () => {
  it("depends on upstream outputs and their order, not on anything else", () => {
    const ab = foldUpstream(foldUpstream(EMPTY_DIGEST, "a", "h1"), "b", "h2");
    expect(foldUpstream(foldUpstream(EMPTY_DIGEST, "a", "h1"), "b", "h2")).toBe(ab);
    expect(foldUpstream(foldUpstream(EMPTY_DIGEST, "b", "h2"), "a", "h1")).not.toBe(ab);
    expect(foldUpstream(foldUpstream(EMPTY_DIGEST, "a", "h1"), "b", "h3")).not.toBe(ab);
  });
});

describe("decide", () => {
  const hash = inputHashOf(parts);
  it("runs a task never seen", () => {
    expect(decide(undefined, hash, undefined, parts)).toEqual({ action: "run", reason: "new", changed: [] });
  });
  it("reuses a completed task whose hash matches", () => {
    expect(decide(completed(hash), hash, undefined, parts)).toEqual({ action: "reuse", adopted: false });
  });
  it("adopts a completed task stored without a hash (the tutorial's file)", () => {
    expect(decide(completed(null), hash, undefined, parts)).toEqual({ action: "reuse", adopted: true });
  });
  it("reruns a stale task and says which part changed", () => {
    const next = { ...parts, inputs: { notes: "n2" } };
    const decision = decide(completed(hash), inputHashOf(next), parts, next);
    expect(decision).toEqual({ action: "run", reason: "stale", changed: ["input notes"] });
    expect(describeDecision(decision)).toBe("rerun: stale because input notes changed");
  });
  it("reruns failed and interrupted tasks", () => {
    expect(decide({ ...completed(hash), status: "failed" }, hash, undefined, parts)).toMatchObject({ reason: "failed" });
    expect(decide({ ...completed(hash), status: "running" }, hash, undefined, parts)).toMatchObject({ reason: "interrupted" });
  });
});

describe("changedParts", () => {
  it("names every changed part", () => {
    expect(
      changedParts(parts, { prompt: "x", inputs: { other: "o" }, schema: "s", agent: "b", upstream: "u" }),
    ).toEqual(["prompt", "input notes", "input other", "output schema", "agent", "upstream output"]);
  });
  it("admits when the previous parts are unknown", () => {
    expect(changedParts(undefined, parts)[0]).toMatch(/unknown/);
  });
});

describe("hashing hostile values", () => {
  it("hashes a __proto__ key as data", () => {
    const a = JSON.parse('{"__proto__": {"x": 1}, "y": 2}');
    const b = JSON.parse('{"y": 2}');
    expect(canonicalJson(a)).toBe('{"__proto__":{"x":1},"y":2}');
    expect(hashOf(a)).not.toBe(hashOf(b));
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
