import { expect, it as vitestIt } from "vitest";
import { isCrewstateError, type CrewstateError, type ErrorCode } from "../../errors.js";
import { outputHashOf } from "../../hash.js";
import type { CallRecord, JsonValue, Run, RunEvent, RunSummary, Store, TaskRecord } from "../../stores/store.js";

export type { ConformanceContext } from "../harness.js";

/** How a spec declares a test: vitest's `it`, honouring the store's known bugs; `skip` says why a test cannot run on this store. */
export type SpecIt = ((title: string, fn: () => Promise<void>) => void) & { skip(title: string, reason: string): void };

/**
 * The `it` for one store's specs. Each test listed in `knownBugs` (title → reason) runs as
 * `it.fails`: it passes only while the bug is there, so a fix forces the entry to be removed.
 * `unmatched` returns the titles that named no test, so the list cannot rot.
 */
export function specIt(knownBugs: Record<string, string>): { it: SpecIt; unmatched: () => string[] } {
  const pending = new Map(Object.entries(knownBugs));
  const declare = (title: string, fn: () => Promise<void>): void => {
    const reason = pending.get(title);
    if (reason === undefined) {
      vitestIt(title, fn);
    } else {
      pending.delete(title);
      vitestIt.fails(`${title} [known bug: ${reason}]`, fn);
    }
  };
  const it: SpecIt = Object.assign(declare, {
    skip: (title: string, reason: string) => {
      pending.delete(title);
      vitestIt.skip(`${title} [skipped: ${reason}]`, () => {});
    },
  });
  return { it, unmatched: () => [...pending.keys()] };
}

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * Runs `action` and asserts it fails with a CrewstateError of `code` (compared by code, as every
 * guard in crewstate does). Returns the error for further checks.
 */
export async function expectCode(action: () => Promise<unknown>, code: ErrorCode, label?: string): Promise<CrewstateError> {
  const what = label ? `${label}: ` : "";
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await action() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  if (outcome.ok) {
    expect.fail(`${what}expected a CrewstateError with code ${code}, but the call succeeded and returned ${safeShow(outcome.value)}`);
  }
  const { error } = outcome;
  if (!isCrewstateError(error, code)) {
    expect.fail(`${what}expected a CrewstateError with code ${code}, got ${safeShow(error)}`);
  }
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

function safeShow(value: unknown): string {
  if (value instanceof Error) return `${value.name}${"code" in value ? ` (${String((value as { code: unknown }).code)})` : ""}: ${value.message}`;
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A task record with every field set to a non-default value; its output hash matches its output unless overridden. */
export function completedTask(name: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  const record: TaskRecord = {
    name,
    status: "completed",
    inputHash: "a".repeat(64),
    output: `the output of ${name}`,
    structured: { task: name, score: 0.5, tags: ["x", "y"], nested: { ok: true, none: null, list: [1, "two", false] } },
    outputHash: null,
    startedAt: "2025-01-02T03:04:05.000Z",
    completedAt: "2025-01-02T03:04:06.500Z",
    attempts: 1,
    error: null,
    usage: { inputTokens: 120, outputTokens: 45, costUsd: 0.000045 },
    model: "demo",
    worker: "worker-1",
    fencingToken: 0,
    leaseExpiresAt: null,
    ...overrides,
  };
  // The hash of its output, as the engine stores it (a stored mismatch reads as a hand edit).
  return { ...record, outputHash: "outputHash" in overrides ? overrides.outputHash! : hashOfOutput(record) };
}

/** A structured value no JSON can carry (a BigInt, a cycle) has no hash: a placeholder, for the store to refuse the value. */
function hashOfOutput(record: TaskRecord): string {
  try {
    return outputHashOf(record.output ?? "", record.structured);
  } catch {
    return "b".repeat(64);
  }
}

export function call(task: string, position: number, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    task,
    position,
    kind: "model",
    requestHash: `req-${task}-${position}`,
    response: { text: `answer ${position} for ${task}`, finishReason: "stop" },
    usage: { inputTokens: position + 1, outputTokens: 2 * position + 1, costUsd: position === 0 ? null : position / 1e6 },
    at: `2025-01-02T03:04:${String(10 + position).padStart(2, "0")}.000Z`,
    ...overrides,
  };
}

export async function beginSampleRun(store: Store, runId = "run-1", crew = "claims-triage"): Promise<Run> {
  return store.beginRun({ runId, crew, inputs: { notes: "water damage, policy P-1" } });
}

/** Everything a client can observe about one run, for "nothing changed" assertions. */
export interface Observed {
  run: Run | undefined;
  events: RunEvent[];
  runs: RunSummary[];
}

export async function observe(store: Store, runId: string): Promise<Observed> {
  return { run: await store.getRun(runId), events: await store.events(runId), runs: await store.listRuns() };
}

/** Waits until the clock has moved on by at least `ms` milliseconds (so timestamps differ). */
export async function clockTick(ms = 2): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < ms) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** A JSON-unsafe value typed as JSON, to hand to the store on purpose. */
export function asJson(value: unknown): JsonValue {
  return value as JsonValue;
}

export function taskNames(run: Run | undefined): string[] {
  return run?.tasks.map((t) => t.name) ?? [];
}
