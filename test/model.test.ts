import { describe, expect, it } from "vitest";
import { Agent, Crew, Task } from "../src/index.js";
import { interpolate, placeholdersOf } from "../src/model/interpolate.js";

const agent = new Agent({ role: "R", goal: "G", backstory: "B" });

describe("interpolation", () => {
  it("fills placeholders and keeps escaped braces", () => {
    expect(interpolate("Hi {name}, {{literal}} {name}", { name: "Ann" }, "x")).toBe("Hi Ann, {literal} Ann");
    expect(placeholdersOf("{a} {b} {a} {{c}}")).toEqual(["a", "b"]);
  });
  it("names the missing input and where it is used", () => {
    expect(() => interpolate("Review {notes}", {}, 'the description of task "t"')).toThrow(
      /the description of task "t" uses \{notes\} but no input "notes" was given/,
    );
  });
  it("does not read inherited properties as inputs", () => {
    expect(() => interpolate("{constructor}", {}, "x")).toThrow(/no input "constructor"/);
  });
});

describe("definitions", () => {
  it("refuses an agent without a role", () => {
    expect(() => new Agent({ role: "", goal: "g", backstory: "b" })).toThrow(/non-empty "role"/);
  });
  it("refuses duplicate task names", () => {
    const t1 = new Task({ name: "t", description: "d", expectedOutput: "e", agent });
    const t2 = new Task({ name: "t", description: "d", expectedOutput: "e", agent });
    expect(() => new Crew({ name: "c", tasks: [t1, t2] })).toThrow(/two tasks named "t"/);
  });
  it("refuses a context task that comes later or is not in the crew", () => {
    const later = new Task({ name: "later", description: "d", expectedOutput: "e", agent });
    const first = new Task({ name: "first", description: "d", expectedOutput: "e", agent, context: [later] });
    expect(() => new Crew({ name: "c", tasks: [first, later] })).toThrow(/"later" in its context, but that task comes later/);
    const stranger = new Task({ name: "stranger", description: "d", expectedOutput: "e", agent });
    const t = new Task({ name: "t", description: "d", expectedOutput: "e", agent, context: [stranger] });
    expect(() => new Crew({ name: "c", tasks: [t] })).toThrow(/is not a task of this crew/);
  });
  it("refuses a task without an agent and an unknown process", () => {
    const t = new Task({ name: "t", description: "d", expectedOutput: "e" });
    expect(() => new Crew({ name: "c", tasks: [t] })).toThrow(/has no agent/);
    const ok = new Task({ name: "t", description: "d", expectedOutput: "e", agent });
    expect(() => new Crew({ name: "c", tasks: [ok], process: "parallel" as "sequential" })).toThrow(/process "parallel"/);
  });
  it("refuses task names with control characters", () => {
    expect(() => new Task({ name: "a\nb", description: "d", expectedOutput: "e", agent })).toThrow(/not valid/);
  });
});
