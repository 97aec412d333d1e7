import { describe, expect, it } from "vitest";
import { unifiedDiff } from "../../src/runs/text-diff.js";

const labels: [string, string] = ["a/x", "b/x"];
const lines = (n: number, f: (i: number) => string = (i) => `line ${i}`) => Array.from({ length: n }, (_, i) => f(i + 1)).join("\n");

describe("unifiedDiff", () => {
  it("is empty for equal texts", () => {
    expect(unifiedDiff("same\ntext", "same\ntext", labels)).toBe("");
  });

  it("shows each change with three lines of context, in separate hunks when far apart", () => {
    const a = lines(20);
    const b = lines(20, (i) => (i === 2 ? "LINE 2" : i === 18 ? "LINE 18" : `line ${i}`));
    expect(unifiedDiff(a, b, labels).split("\n")).toEqual([
      "--- a/x",
      "+++ b/x",
      "@@ -1,5 +1,5 @@",
      " line 1",
      "-line 2",
      "+LINE 2",
      " line 3",
      " line 4",
      " line 5",
      "@@ -15,6 +15,6 @@",
      " line 15",
      " line 16",
      " line 17",
      "-line 18",
      "+LINE 18",
      " line 19",
      " line 20",
    ]);
  });

  it("joins changes whose context overlaps into one hunk, and counts insertions and deletions", () => {
    const diff = unifiedDiff("a\nb\nc\nd\ne", "a\nc\nd\nX\ne\nf", labels);
    expect(diff.split("\n").slice(2)).toEqual(["@@ -1,5 +1,6 @@", " a", "-b", " c", " d", "+X", " e", "+f"]);
  });

  it("treats an empty text as no lines", () => {
    expect(unifiedDiff("", "one\ntwo", labels).split("\n").slice(2)).toEqual(["@@ -0,0 +1,2 @@", "+one", "+two"]);
    expect(unifiedDiff("one", "", labels).split("\n").slice(2)).toEqual(["@@ -1,1 +0,0 @@", "-one"]);
  });

  it("shows two large, wholly different texts as one replacement, quickly", () => {
    const a = lines(5000, (i) => `a${i}`);
    const b = lines(5000, (i) => `b${i}`);
    const started = performance.now();
    const diff = unifiedDiff(`head\n${a}\ntail`, `head\n${b}\ntail`, labels).split("\n");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(diff[2]).toBe("@@ -1,5002 +1,5002 @@");
    expect(diff.slice(3).filter((l) => l.startsWith("-"))).toHaveLength(5000);
    expect(diff.slice(3).filter((l) => l.startsWith("+"))).toHaveLength(5000);
  });
});
