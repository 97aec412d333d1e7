import { describeDecision, type RunReason } from "../engine/plan.js";
import { inCrewOrder, lastPlanned } from "../engine/planned.js";
import { eventsPerTask } from "../engine/task-events.js";
import { inExecutionOrder, parseExecutionKey, questionOf } from "../flow/step-record.js";
import { newTaskRecord, type CallRecord, type JsonValue, type Run, type RunEvent, type TaskRecord, type TokenUsage } from "../stores/store.js";

/** What a task did in the run's last kickoff, as the dashboard colours its bar. */
export type Outcome = "ran" | "reused" | "rerun" | "stale" | "failed" | "skipped" | "paused" | "running" | "pending";

export interface TimelineTask {
  name: string;
  kind: "task" | "step";
  step?: string;
  iteration?: number;
  status: TaskRecord["status"];
  outcome: Outcome;
  /** In `plan`'s words. */
  reason: string;
  startedAt: string | null;
  completedAt: string | null;
  attempts: number;
  worker: string | null;
  fencingToken: number;
  leaseExpiresAt: string | null;
  usage: TokenUsage | null;
  model: string | null;
  outputPreview: string | null;
  /** "approval" for a task held for review; a flow step's question while it waits for a person. */
  awaiting: string | null;
}

/** The events of the run's last kickoff (from its last `run_started`). */
export function lastKickoff(events: RunEvent[]): RunEvent[] {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === "run_started") return events.slice(i);
  return events;
}

/** The run's tasks (a flow's step executions) in order, each with what it did last and why. */
export function timelineOf(run: Run, events: RunEvent[], now = new Date().toISOString()): TimelineTask[] {
  const recent = lastKickoff(events);
  const byTask = new Map<string, RunEvent[]>();
  for (const event of eventsPerTask(recent)) if (event.task !== null) byTask.set(event.task, [...(byTask.get(event.task) ?? []), event]);
  const paused = run.status === "paused" ? [...recent].reverse().find((e) => e.type === "run_paused")?.task ?? null : null;
  const planned = run.kind === "flow" ? undefined : lastPlanned(events);
  const missing = new Set(unrecorded(run, planned?.tasks ?? []).map((t) => t.name));
  const records = run.kind === "flow" ? inExecutionOrder(run.tasks) : inCrewOrder([...run.tasks, ...[...missing].map((name) => newTaskRecord(name))], planned);
  return records.map((record) => {
    if (missing.has(record.name)) return notYetRun(record.name, events);
    const { outcome, reason } = outcomeOf(run, record, byTask.get(record.name) ?? [], paused, now);
    const key = run.kind === "flow" ? parseExecutionKey(record.name) : undefined;
    return {
      name: record.name,
      kind: run.kind === "flow" ? ("step" as const) : ("task" as const),
      ...(key ? { step: key.step, iteration: key.iteration } : {}),
      status: record.status,
      outcome,
      reason,
      startedAt: record.startedAt,
      completedAt: record.completedAt,
      attempts: record.attempts,
      worker: record.worker,
      fencingToken: record.fencingToken,
      leaseExpiresAt: record.leaseExpiresAt,
      usage: record.usage,
      model: record.model,
      outputPreview: record.output === null ? null : record.output.slice(0, 200),
      awaiting: awaitingOf(run, record, paused),
    };
  });
}

/** The crew's tasks the store holds no record of: not run yet, or invalidated since. */
function unrecorded(run: Run, names: string[]): { name: string }[] {
  const held = new Set(run.tasks.map((t) => t.name));
  return names.filter((name) => !held.has(name)).map((name) => ({ name }));
}

function notYetRun(name: string, events: RunEvent[]): TimelineTask {
  const invalidated = [...events].reverse().find((e) => e.task === name && e.type === "task_invalidated");
  const by = text(invalidated?.data?.by);
  return {
    name,
    kind: "task",
    status: "pending",
    outcome: invalidated ? "stale" : "pending",
    reason: invalidated ? `run: invalidated${by ? ` by ${by}` : ""}; runs at the next kickoff` : "run: new",
    startedAt: null,
    completedAt: null,
    attempts: 0,
    worker: null,
    fencingToken: 0,
    leaseExpiresAt: null,
    usage: null,
    model: null,
    outputPreview: null,
    awaiting: null,
  };
}

function outcomeOf(run: Run, record: TaskRecord, events: RunEvent[], paused: string | null, now: string): { outcome: Outcome; reason: string } {
  if (record.name === paused) return { outcome: "paused", reason: run.kind === "flow" ? "waiting for feedback" : "awaiting approval" };
  if (record.status === "running" && record.leaseExpiresAt !== null && record.leaseExpiresAt > now) return { outcome: "running", reason: startReason(events) ?? "running" };
  const last = events[events.length - 1];
  switch (last?.type) {
    case "task_reused":
      return { outcome: record.status === "skipped" ? "skipped" : "reused", reason: "reuse" };
    case "task_skipped":
      return { outcome: "skipped", reason: `skipped: ${text(last.data?.reason) ?? "its condition said no"}` };
    case "task_failed":
      return { outcome: "failed", reason: `failed: ${text(last.data?.error) ?? record.error ?? "unknown error"}` };
    case "task_stale":
    case "task_started":
    case "task_retry":
      return { outcome: "stale", reason: startReason(events) ?? "interrupted" };
    case "task_completed": {
      const step = text(last.data?.reason);
      if (run.kind === "flow") return { outcome: last.data?.outcome === "rerun" ? "rerun" : "ran", reason: step === undefined || step === "new" ? "run: new" : `rerun: ${step}` };
      const why = startReason(events);
      return { outcome: why?.startsWith("rerun") ? "rerun" : "ran", reason: why ?? "run" };
    }
  }
  if (record.status === "completed") return { outcome: "reused", reason: "reuse" };
  if (record.status === "skipped") return { outcome: "skipped", reason: "reuse (skipped: its condition said no)" };
  if (record.status === "failed") return { outcome: "failed", reason: `failed: ${record.error ?? "unknown error"}` };
  return { outcome: "pending", reason: "not started in the last kickoff" };
}

/** Why the task started in this kickoff, from its `task_started` / `task_stale` event, in `plan`'s words. */
function startReason(events: RunEvent[]): string | undefined {
  const start = [...events].reverse().find((e) => e.type === "task_started" || e.type === "task_stale");
  const reason = text(start?.data?.reason) as RunReason | undefined;
  if (!start || reason === undefined) return undefined;
  return describeDecision({ action: "run", reason, changed: texts(start.data?.changed) });
}

function awaitingOf(run: Run, record: TaskRecord, paused: string | null): string | null {
  if (run.kind === "flow") return questionOf(record);
  return record.name === paused ? "approval" : null;
}

/** What changed since the run before, in `plan`'s words: from the task's last start event. */
export function changedOf(events: RunEvent[], task: string): string[] {
  const start = [...events].reverse().find((e) => e.task === task && (e.type === "task_started" || e.type === "task_stale"));
  return texts(start?.data?.changed);
}

export interface CallView {
  position: number;
  kind: "model" | "tool";
  name: string | null;
  messages: JsonValue | null;
  answer?: string | null;
  toolCalls?: { name: string; args: JsonValue }[];
  args?: JsonValue | null;
  result?: JsonValue;
  usage: TokenUsage | null;
  durationMs: number | null;
  replayed: boolean;
  at: string;
}

/**
 * A task's journal for people: each model call with its messages, answer, tool calls, tokens and
 * time; each tool call with the arguments its model asked for and its result. A call is
 * `replayed` when the task's last completion answered it from the journal.
 */
export function callsOf(calls: CallRecord[], events: RunEvent[], task: string, model: string | null): CallView[] {
  const done = [...events].reverse().find((e) => e.task === task && e.type === "task_completed");
  const replayedCount = typeof done?.data?.replayed === "number" ? done.data.replayed : 0;
  const views: CallView[] = [];
  let asked: { name: string; args: JsonValue }[] = [];
  for (const call of calls) {
    const replayed = call.position < replayedCount;
    if (call.kind === "model") {
      const response = (call.response ?? {}) as { [key: string]: JsonValue };
      const content = Array.isArray(response.content) ? (response.content as { [key: string]: JsonValue }[]) : [];
      asked = content.filter((part) => part.type === "tool-call").map((part) => ({ name: String(part.toolName), args: parsed(part.input) }));
      const seen = (response.crewstate ?? null) as { prompt?: JsonValue; durationMs?: number } | null;
      const meta = (response.response ?? null) as { modelId?: string } | null;
      views.push({
        position: call.position,
        kind: "model",
        name: meta?.modelId ?? model,
        messages: seen?.prompt ?? null,
        answer: content.filter((part) => part.type === "text").map((part) => String(part.text)).join("") || null,
        toolCalls: [...asked], // a copy: the tool calls below take their arguments from `asked`
        usage: call.usage,
        durationMs: typeof seen?.durationMs === "number" ? seen.durationMs : null,
        replayed,
        at: call.at,
      });
    } else {
      const ask = asked.shift();
      views.push({ position: call.position, kind: "tool", name: ask?.name ?? null, messages: null, args: ask?.args ?? null, result: call.response, usage: null, durationMs: null, replayed, at: call.at });
    }
  }
  return views;
}

function parsed(value: JsonValue | undefined): JsonValue {
  if (typeof value !== "string") return value ?? null;
  try {
    return JSON.parse(value) as JsonValue;
  } catch {
    return value;
  }
}

function text(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function texts(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
