import { describe, expect, it } from "vitest";
import { encodeJson, MAX_PAYLOAD_DEPTH } from "../../src/stores/codec.js";

describe("encodeJson", () => {
  it("refuses nesting deeper than the limit with NOT_JSON, not a stack overflow", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => encodeJson(deep, "output")).toThrow(expect.objectContaining({ code: "NOT_JSON" }));
    let ok: unknown = "leaf";
    for (let i = 0; i < MAX_PAYLOAD_DEPTH; i++) ok = { k: ok };
    expect(encodeJson(ok, "output").length).toBeGreaterThan(MAX_PAYLOAD_DEPTH);
  });
});
