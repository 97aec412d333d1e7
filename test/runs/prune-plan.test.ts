/** The pure selection of `crewstate prune` and retention: durations, statuses, keep-last per crew, and what is never selected. */
import { describe, expect, it } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { parseDuration, parseKeepLast, parseStatuses, planPrune, retentionRules, type PruneRules } from "../../src/runs/prune-plan.js";
import type { RunStatus, RunSummary } from "../../src/stores/store.js";

const NOW = Date.parse("2026-06-30T12:00:00.000Z");
const DAY = 86_400_000;

function run(runId: string, crew: string, status: RunStatus, daysAgo: number): RunSummary {
  const at = new Date(NOW - daysAgo * DAY).toISOString();
  return { runId, crew, kind: "crew", parent: null, status, attempts: 1, error: null, createdAt: at, updatedAt: at, taskCount: 1, completedCount: 1 };
}

function expectInvalid(action: () => unknown, ...parts: string[]): void {
  try {
    action();
  } catch (error) {
    expect(isCrewstateError(error, "INVALID_INPUT"), String(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    for (const part of parts) expect(message).toContain(part);
    return;
  }
  expect.fail("expected INVALID_INPUT");
}

const ids = (decisions: { run: RunSummary; keptBecause?: string }[]) => decisions.filter((d) => !d.keptBecause).map((d) => d.run.runId);

describe("parsing", () => {
  it("reads durations in minutes, hours, days and weeks", () => {
    expect(parseDuration("90m")).toBe(90 * 60_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(parseDuration("30d")).toBe(30 * DAY);
    expect(parseDuration("2w")).toBe(14 * DAY);
    expect(parseDuration("0d")).toBe(0);
  });

  it("refuses anything else, naming it", () => {
    for (const bad of ["30", "d", "-1d", "1.5d", "30 days", "3y", "", "1e3d"]) expectInvalid(() => parseDuration(bad), "--older-than", JSON.stringify(bad));
  });

  it("statuses: completed and failed only; running and paused are never pruned; unknown ones are named", () => {
    expect(parseStatuses("completed,failed")).toEqual(["completed", "failed"]);
    expect(parseStatuses(" failed ")).toEqual(["failed"]);
    expectInvalid(() => parseStatuses("running"), '"running"', "never pruned");
    expectInvalid(() => parseStatuses("completed,paused"), '"paused"');
    expectInvalid(() => parseStatuses("complete"), '"complete"');
    expectInvalid(() => parseStatuses(","), "no status");
  });

  it("keep-last is a whole number ≥ 0", () => {
    expect(parseKeepLast("0")).toBe(0);
    expect(parseKeepLast("10")).toBe(10);
    for (const bad of ["-1", "1.5", "x", ""]) expectInvalid(() => parseKeepLast(bad), "--keep-last");
  });

  it("retention rules are checked and need an age or a count", () => {
    expect(retentionRules({ olderThan: "7d" })).toEqual({ statuses: ["completed", "failed"], olderThanMs: 7 * DAY });
    expect(retentionRules({ keepLast: 3, status: ["failed"] })).toEqual({ statuses: ["failed"], keepLast: 3 });
    expect(retentionRules({ olderThan: 1000 }).olderThanMs).toBe(1000);
    expectInvalid(() => retentionRules({}), "olderThan, keepLast");
    expectInvalid(() => retentionRules({ olderThan: "soon" }), "retention.olderThan");
    expectInvalid(() => retentionRules({ keepLast: -2 }), "retention.keepLast");
    expectInvalid(() => retentionRules({ olderThan: "1d", status: "running" }), "retention.status");
  });
});

describe("planPrune", () => {
  const runs = [
    run("a-old-done", "alpha", "completed", 40),
    run("a-old-failed", "alpha", "failed", 35),
    run("a-old-running", "alpha", "running", 50),
    run("a-old-paused", "alpha", "paused", 50),
    run("a-new-done", "alpha", "completed", 1),
    run("b-old-done", "beta", "completed", 60),
    run("b-mid-done", "beta", "completed", 20),
  ];
  const rules = (r: Partial<PruneRules>): PruneRules => ({ statuses: ["completed", "failed"], ...r });

  it("by age: runs last updated before the cutoff, oldest first; never running or paused", () => {
    expect(ids(planPrune(runs, rules({ olderThanMs: 30 * DAY }), { now: NOW }))).toEqual(["b-old-done", "a-old-done", "a-old-failed"]);
    expect(ids(planPrune(runs, { statuses: ["completed", "failed", "running", "paused"], olderThanMs: 0 }, { now: NOW }))).not.toContain("a-old-running");
  });

  it("by status", () => {
    expect(ids(planPrune(runs, rules({ statuses: ["failed"], olderThanMs: 0 }), { now: NOW }))).toEqual(["a-old-failed"]);
  });

  it("keep-last keeps the newest N of each crew among the selected statuses", () => {
    expect(ids(planPrune(runs, rules({ keepLast: 1 }), { now: NOW }))).toEqual(["b-old-done", "a-old-done", "a-old-failed"]);
    expect(ids(planPrune(runs, rules({ keepLast: 2 }), { now: NOW }))).toEqual(["a-old-done"]);
    expect(ids(planPrune(runs, rules({ keepLast: 0 }), { now: NOW }))).toHaveLength(5);
  });

  it("age and keep-last together: a run goes only when both let it", () => {
    expect(ids(planPrune(runs, rules({ keepLast: 1, olderThanMs: 50 * DAY }), { now: NOW }))).toEqual(["b-old-done"]);
  });

  it("by crew", () => {
    expect(ids(planPrune(runs, rules({ crew: "beta", olderThanMs: 0 }), { now: NOW }))).toEqual(["b-old-done", "b-mid-done"]);
  });

  it("a run a queued job names, or a protected one, is kept and says why", () => {
    const decisions = planPrune(runs, rules({ olderThanMs: 30 * DAY }), { now: NOW, queued: new Set(["a-old-done"]), protect: new Set(["b-old-done"]) });
    expect(ids(decisions)).toEqual(["a-old-failed"]);
    expect(decisions.find((d) => d.run.runId === "a-old-done")!.keptBecause).toBe("a queued job still names it");
    expect(decisions.find((d) => d.run.runId === "b-old-done")!.keptBecause).toBe("it is the run just finished");
  });
});
