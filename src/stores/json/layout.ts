import { CrewstateError } from "../../errors.js";
import { checkRunId, checkTaskName } from "../codec.js";
import type { RunImage, StoreOp } from "../memory/state-image.js";
import {
  newTaskRecord,
  SCHEMA_VERSION,
  type BeginRun,
  type CallRecord,
  type EventType,
  type Inputs,
  type JsonValue,
  type Lease,
  type NewEvent,
  type Run,
  type RunEvent,
  type RunKind,
  type RunEnd,
  type RunParent,
  type ReusedTask,
  type RunStatus,
  type TaskRecord,
  type TaskStart,
  type TaskStatus,
  type TokenUsage,
} from "../store.js";
import type { JsonPath } from "./json-scan.js";

/**
 * The layout of a `json:` state file, and the one mapping per direction between it and a
 * `StateImage`'s runs. The file is for people too: snake_case keys in a fixed order, 2-space
 * indent, one entry per task under `runs.<runId>.tasks` — delete an entry and that task reruns.
 *
 * ```json
 * { "crewstate_schema": 1, "journal_seq": 12,
 *   "runs": { "<runId>": { "crew", "kind", "parent", "status", "run_count", "error", "inputs", "created_at",
 *     "updated_at", "tasks": { "<task>": { "status", "output", … } }, "calls": { "<task>": [ … ] },
 *     "events": [ … ] } } }
 * ```
 *
 * A run gets a `"task_order": [names]` only when a task is named like an array index ("7"), which
 * JavaScript objects would otherwise list first.
 *
 * Reading accepts the tutorial's hand-written layout too (`{"completed_tasks", "run_count"}`), as
 * one run. Keys this version does not know are kept and written back (top level, run, task,
 * event and call entries); a value of the wrong type is a `LayoutError` naming where it is.
 * Journal lines reuse the same entry shapes, so one validator checks both files.
 */

/** JSON payloads (structured outputs, event data, call responses) may nest this deep, no deeper. */
export const MAX_PAYLOAD_DEPTH = 512;

/**
 * A state file or journal line may nest this deep, no deeper: a payload plus the entries around
 * it. Checked on the bytes before anything else, so a hostile file cannot blow a recursive
 * JSON.stringify (or anything else) later.
 */
export const MAX_DOCUMENT_DEPTH = MAX_PAYLOAD_DEPTH + 8;

/** Unknown keys of one entry, kept to be written back. A null-prototype object. */
export type Extras = Record<string, JsonValue>;

/** A state file's content, mapped. */
export interface LoadedState {
  runs: Map<string, RunImage>;
  /** The last journal line whose op the file already holds. */
  journalSeq: number;
  /** Unknown keys of the entries in `runs` (run meta, task records, events, calls). */
  extras: WeakMap<object, Extras>;
  topExtras: Extras | null;
  /** True when the file is in the tutorial's layout (nothing written yet). */
  tutorial: boolean;
}

/** A value at `at` that does not match the layout. */
export class LayoutError extends Error {
  constructor(
    readonly at: JsonPath,
    readonly problem: string,
  ) {
    super(`${formatPath(at)}: ${problem}`);
    this.name = "LayoutError";
  }
}

/** `runs.claim-1.tasks["draft task"].status` — names only, never payload content. */
export function formatPath(at: JsonPath): string {
  let text = "";
  for (const part of at) {
    if (typeof part === "number") text += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]{0,59}$/.test(part)) text += text ? `.${part}` : part;
    else text += `[${JSON.stringify(part.length > 60 ? `${part.slice(0, 60)}…` : part)}]`;
  }
  return text || "the document";
}

// ---------------------------------------------------------------------------------------------
// Entry shapes (what the file holds); the entry writers below list keys in the order written.

const TASK_KEYS = new Set([
  "status",
  "output",
  "structured",
  "input_hash",
  "output_hash",
  "started_at",
  "completed_at",
  "attempts",
  "error",
  "usage",
  "model",
  "worker",
  "fencing_token",
  "lease_expires_at",
]);
const RUN_KEYS = new Set(["crew", "kind", "parent", "status", "run_count", "error", "inputs", "created_at", "updated_at", "task_order", "tasks", "calls", "events"]);
const EVENT_KEYS = new Set(["seq", "task", "type", "at", "data"]);
const CALL_KEYS = new Set(["position", "kind", "request_hash", "response", "usage", "at"]);
const TOP_KEYS = new Set(["crewstate_schema", "journal_seq", "runs"]);
const TUTORIAL_KEYS = new Set(["completed_tasks", "run_count"]);
const TUTORIAL_ENTRY_KEYS = new Set(["output", "completed_at"]);

const RUN_KINDS: Record<RunKind, true> = { crew: true, flow: true };
const RUN_STATUSES: Record<RunStatus, true> = { running: true, completed: true, failed: true, paused: true };
const TASK_STATUSES: Record<TaskStatus, true> = { pending: true, running: true, completed: true, failed: true, skipped: true };

/**
 * Event types are an open vocabulary that grows between releases without a schema change, so any
 * snake_case word is read (and written back) as it is; the engine only acts on the ones it knows.
 */
const EVENT_TYPE = /^[a-z][a-z0-9_]{0,63}$/;

function eventType(o: Obj, at: JsonPath): EventType {
  const value = o.type;
  if (typeof value !== "string" || !EVENT_TYPE.test(value)) {
    throw new LayoutError([...at, "type"], has(o, "type") ? "must be an event type (a snake_case word)" : "is missing");
  }
  return value as EventType;
}

type Obj = Record<string, unknown>;

function has(o: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function object(value: unknown, at: JsonPath, what = "an object"): Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new LayoutError(at, `must be ${what}`);
  return value as Obj;
}

function array(value: unknown, at: JsonPath): unknown[] {
  if (!Array.isArray(value)) throw new LayoutError(at, "must be an array");
  return value;
}

function text(o: Obj, key: string, at: JsonPath): string {
  const value = o[key];
  if (typeof value !== "string") throw new LayoutError([...at, key], has(o, key) ? "must be a string" : "is missing");
  return value;
}

function textOrNull(o: Obj, key: string, at: JsonPath): string | null {
  const value = has(o, key) ? o[key] : null;
  if (value !== null && typeof value !== "string") throw new LayoutError([...at, key], "must be a string or null");
  return value;
}

function count(o: Obj, key: string, at: JsonPath, fallback: number | undefined): number {
  const value = has(o, key) ? o[key] : fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new LayoutError([...at, key], value === undefined ? "is missing" : "must be a whole number ≥ 0");
  }
  return value;
}

function oneOf<T extends string>(o: Obj, key: string, at: JsonPath, allowed: Record<T, true>): T {
  const value = o[key];
  if (typeof value !== "string" || !has(allowed, value)) {
    throw new LayoutError([...at, key], has(o, key) ? `must be one of ${Object.keys(allowed).join(", ")}` : "is missing");
  }
  return value as T;
}

/** Any JSON value, checked only for depth (iteratively: a hostile value cannot blow the stack). */
function payload(o: Obj, key: string, at: JsonPath): JsonValue {
  const value = (has(o, key) ? o[key] : null) as JsonValue;
  if (depthExceeds(value, MAX_PAYLOAD_DEPTH)) throw new LayoutError([...at, key], `nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  return value;
}

/** Whether a JSON value nests deeper than `limit` arrays/objects. */
export function depthExceeds(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (depth > limit) return true;
    const children = Array.isArray(item) ? item : Object.values(item as Obj);
    for (const child of children) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

const USAGE_KEYS = new Set(["input_tokens", "output_tokens", "cost_usd"]);

/** `{input_tokens, output_tokens, cost_usd}` or null; a usage without `cost_usd` costs null (unknown). */
function usage(o: Obj, key: string, at: JsonPath): TokenUsage | null {
  const value = has(o, key) ? o[key] : null;
  if (value === null) return null;
  const u = object(value, [...at, key], "an object {input_tokens, output_tokens, cost_usd} or null");
  for (const k of Object.keys(u)) {
    if (!USAGE_KEYS.has(k)) throw new LayoutError([...at, key, k], "is not a usage field (input_tokens, output_tokens, cost_usd)");
  }
  const cost = has(u, "cost_usd") ? u.cost_usd : null;
  if (cost !== null && (typeof cost !== "number" || !Number.isFinite(cost) || cost < 0)) {
    throw new LayoutError([...at, key, "cost_usd"], "must be a number ≥ 0 or null");
  }
  // Token counts are whole numbers, as every store accepts them on write (BaseStore's checkUsage).
  return { inputTokens: count(u, "input_tokens", [...at, key], undefined), outputTokens: count(u, "output_tokens", [...at, key], undefined), costUsd: cost };
}

function usageEntry(u: TokenUsage | null): JsonValue {
  if (u === null) return null;
  // JSON would write NaN or Infinity as null: refuse a cost it cannot carry rather than lose it.
  const cost = u.costUsd ?? null;
  if (cost !== null && (typeof cost !== "number" || !Number.isFinite(cost))) {
    throw new LayoutError(["usage", "cost_usd"], "must be a finite number or null");
  }
  return { input_tokens: u.inputTokens, output_tokens: u.outputTokens, cost_usd: cost };
}

function collectExtras(o: Obj, known: ReadonlySet<string>, target: object, extras: WeakMap<object, Extras>): void {
  let found: Extras | null = null;
  for (const key of Object.keys(o)) {
    if (known.has(key)) continue;
    found ??= Object.create(null) as Extras;
    found[key] = o[key] as JsonValue;
  }
  if (found) extras.set(target, found);
}

/** Appends extras to an entry; defineProperty so that a key named `__proto__` stays a key. */
function withExtras<T extends object>(entry: T, extras: Extras | null | undefined): T {
  if (extras) {
    for (const key of Object.keys(extras)) {
      Object.defineProperty(entry, key, { value: extras[key], enumerable: true, writable: true, configurable: true });
    }
  }
  return entry;
}

function name<T>(check: (value: unknown) => T, value: unknown, at: JsonPath): T {
  try {
    return check(value);
  } catch (error) {
    throw new LayoutError(at, (error as Error).message);
  }
}

/** Canonical array indices, which JavaScript objects enumerate first whatever their insertion order. */
function isIndexKey(key: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(key) && Number(key) < 4294967295;
}

// ---------------------------------------------------------------------------------------------
// Entries ↔ records.

function taskFromEntry(taskName: string, value: unknown, at: JsonPath, extras: WeakMap<object, Extras>): TaskRecord {
  const o = object(value, at);
  const task: TaskRecord = {
    name: taskName,
    status: oneOf(o, "status", at, TASK_STATUSES),
    inputHash: textOrNull(o, "input_hash", at),
    output: textOrNull(o, "output", at),
    structured: payload(o, "structured", at),
    outputHash: textOrNull(o, "output_hash", at),
    startedAt: textOrNull(o, "started_at", at),
    completedAt: textOrNull(o, "completed_at", at),
    attempts: count(o, "attempts", at, 0),
    error: textOrNull(o, "error", at),
    usage: usage(o, "usage", at),
    model: textOrNull(o, "model", at),
    worker: textOrNull(o, "worker", at),
    fencingToken: count(o, "fencing_token", at, 0),
    leaseExpiresAt: textOrNull(o, "lease_expires_at", at),
  };
  collectExtras(o, TASK_KEYS, task, extras);
  return task;
}

function taskEntry(task: TaskRecord, extras?: Extras): Obj {
  return withExtras(
    {
      status: task.status,
      output: task.output,
      structured: task.structured,
      input_hash: task.inputHash,
      output_hash: task.outputHash,
      started_at: task.startedAt,
      completed_at: task.completedAt,
      attempts: task.attempts,
      error: task.error,
      usage: usageEntry(task.usage),
      model: task.model,
      worker: task.worker,
      fencing_token: task.fencingToken,
      lease_expires_at: task.leaseExpiresAt,
    },
    extras,
  );
}

function eventFromEntry(runId: string, seq: number, value: unknown, at: JsonPath, extras: WeakMap<object, Extras>): RunEvent {
  const o = object(value, at);
  if (has(o, "seq")) count(o, "seq", at, undefined);
  const data = payload(o, "data", at);
  if (data !== null) object(data, [...at, "data"], "an object or null");
  const event: RunEvent = {
    seq, // renumbered: the image numbers events by position
    runId,
    task: textOrNull(o, "task", at),
    type: eventType(o, at),
    at: text(o, "at", at),
    data: data as RunEvent["data"],
  };
  collectExtras(o, EVENT_KEYS, event, extras);
  return event;
}

function eventEntry(event: RunEvent, extras?: Extras): Obj {
  return withExtras({ seq: event.seq, task: event.task, type: event.type, at: event.at, data: event.data }, extras);
}

function callFromEntry(task: string, value: unknown, at: JsonPath, extras: WeakMap<object, Extras>): CallRecord {
  const o = object(value, at);
  const kind = o.kind;
  if (kind !== "model" && kind !== "tool") throw new LayoutError([...at, "kind"], has(o, "kind") ? 'must be "model" or "tool"' : "is missing");
  const call: CallRecord = {
    task,
    position: count(o, "position", at, undefined),
    kind,
    requestHash: text(o, "request_hash", at),
    response: payload(o, "response", at),
    usage: usage(o, "usage", at),
    at: text(o, "at", at),
  };
  collectExtras(o, CALL_KEYS, call, extras);
  return call;
}

function callEntry(call: CallRecord, extras?: Extras): Obj {
  return withExtras(
    { position: call.position, kind: call.kind, request_hash: call.requestHash, response: call.response, usage: usageEntry(call.usage), at: call.at },
    extras,
  );
}

/** A run's kind; a run written before kinds existed is a crew run. */
function kindFrom(o: Obj, at: JsonPath): RunKind {
  return has(o, "kind") ? oneOf(o, "kind", at, RUN_KINDS) : "crew";
}

/** A run's parent, `{run_id, task}` or null; a run written before parents existed has none. */
function parentFrom(o: Obj, at: JsonPath): RunParent | null {
  if (!has(o, "parent") || o.parent === null) return null;
  const p = object(o.parent, [...at, "parent"], "an object {run_id, task} or null");
  const task = textOrNull(p, "task", [...at, "parent"]);
  return {
    runId: name(checkRunId, p.run_id, [...at, "parent", "run_id"]),
    task: task === null ? null : name(checkTaskName, task, [...at, "parent", "task"]),
  };
}

function parentEntry(parent: RunParent | null): Obj | null {
  return parent === null ? null : { run_id: parent.runId, task: parent.task };
}

function inputsFrom(o: Obj, at: JsonPath): Inputs {
  if (!has(o, "inputs")) return {};
  object(o.inputs, [...at, "inputs"]);
  return payload(o, "inputs", at) as Inputs;
}

function runFromEntry(runId: string, value: unknown, at: JsonPath, extras: WeakMap<object, Extras>): RunImage {
  const o = object(value, at);
  const run: Omit<Run, "tasks"> = {
    runId,
    crew: text(o, "crew", at),
    kind: kindFrom(o, at),
    parent: parentFrom(o, at),
    inputs: inputsFrom(o, at),
    status: oneOf(o, "status", at, RUN_STATUSES),
    attempts: count(o, "run_count", at, 0),
    error: textOrNull(o, "error", at),
    createdAt: text(o, "created_at", at),
    updatedAt: text(o, "updated_at", at),
  };
  collectExtras(o, RUN_KEYS, run, extras);

  const tasks = new Map<string, TaskRecord>();
  const taskObj = has(o, "tasks") ? object(o.tasks, [...at, "tasks"]) : {};
  const names = Object.keys(taskObj);
  if (has(o, "task_order")) {
    // Written only when a task is named like an array index; gives back the order of first record.
    const order = array(o.task_order, [...at, "task_order"]);
    const ordered: string[] = [];
    for (const [i, item] of order.entries()) {
      if (typeof item !== "string") throw new LayoutError([...at, "task_order", i], "must be a task name");
      if (has(taskObj, item) && !ordered.includes(item)) ordered.push(item);
    }
    names.sort((a, b) => rank(ordered, a) - rank(ordered, b));
  }
  for (const taskName of names) {
    const where = [...at, "tasks", taskName];
    tasks.set(taskName, taskFromEntry(name(checkTaskName, taskName, where), taskObj[taskName], where, extras));
  }

  const calls = new Map<string, CallRecord[]>();
  const callObj = has(o, "calls") ? object(o.calls, [...at, "calls"]) : {};
  for (const taskName of Object.keys(callObj)) {
    const where = [...at, "calls", taskName];
    name(checkTaskName, taskName, where);
    const list = array(callObj[taskName], where).map((entry, i) => callFromEntry(taskName, entry, [...where, i], extras));
    list.sort((a, b) => a.position - b.position);
    if (list.length > 0) calls.set(taskName, list);
  }

  const events = (has(o, "events") ? array(o.events, [...at, "events"]) : []).map((entry, i) =>
    eventFromEntry(runId, i + 1, entry, [...at, "events", i], extras),
  );
  return { run, tasks, events, calls };
}

function rank(order: string[], key: string): number {
  const i = order.indexOf(key);
  return i < 0 ? order.length : i;
}

function runEntry(image: Pick<RunImage, "run" | "events"> & { tasks: Iterable<TaskRecord>; calls: Iterable<CallRecord> }, extras: WeakMap<object, Extras>): Obj {
  const { run } = image;
  const tasks = Object.create(null) as Obj;
  const order: string[] = [];
  let needOrder = false;
  for (const task of image.tasks) {
    tasks[task.name] = taskEntry(task, extras.get(task));
    order.push(task.name);
    needOrder ||= isIndexKey(task.name);
  }
  const calls = Object.create(null) as Record<string, Obj[]>;
  for (const call of image.calls) (calls[call.task] ??= []).push(callEntry(call, extras.get(call)));
  const entry: Obj = {
    crew: run.crew,
    kind: run.kind,
    parent: parentEntry(run.parent),
    status: run.status,
    run_count: run.attempts,
    error: run.error,
    inputs: run.inputs,
    created_at: run.createdAt,
    updated_at: run.updatedAt,
  };
  if (needOrder) entry.task_order = order;
  entry.tasks = tasks;
  entry.calls = calls;
  entry.events = image.events.map((event) => eventEntry(event, extras.get(event)));
  return withExtras(entry, extras.get(run));
}

// ---------------------------------------------------------------------------------------------
// The two directions.

export interface SourceFile {
  /** For messages. */
  path: string;
  /** The file name without its extension: the tutorial run's ID when it is a valid one. */
  stem: string;
  /** The file's mtime, ISO-8601: the tutorial run's timestamps when its entries have none. */
  modifiedAt: string;
}

/** File → image. Throws `LayoutError` (where and why), or UNSUPPORTED_SCHEMA_VERSION. */
export function readDocument(value: unknown, source: SourceFile): LoadedState {
  const top = object(value, [], "a JSON object");
  const extras = new WeakMap<object, Extras>();
  if (!has(top, "crewstate_schema")) {
    if (has(top, "completed_tasks")) return readTutorial(top, source, extras);
    throw new LayoutError([], `has no "crewstate_schema" key (nor the tutorial's "completed_tasks")`);
  }
  const version = top.crewstate_schema;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new LayoutError(["crewstate_schema"], "must be a whole number ≥ 1");
  }
  if (version > SCHEMA_VERSION) {
    throw new CrewstateError(
      "UNSUPPORTED_SCHEMA_VERSION",
      `${source.path} uses state schema ${version}, but this crewstate reads schema ${SCHEMA_VERSION} at most; upgrade crewstate to open it (nothing was written)`,
      { path: source.path, found: version, supported: SCHEMA_VERSION },
    );
  }
  const runs = new Map<string, RunImage>();
  const runObj = has(top, "runs") ? object(top.runs, ["runs"]) : {};
  for (const runId of Object.keys(runObj)) {
    name(checkRunId, runId, ["runs", runId]);
    runs.set(runId, runFromEntry(runId, runObj[runId], ["runs", runId], extras));
  }
  const holder = {};
  collectExtras(top, TOP_KEYS, holder, extras);
  return { runs, journalSeq: count(top, "journal_seq", [], 0), extras, topExtras: extras.get(holder) ?? null, tutorial: false };
}

/** The tutorial's `{"completed_tasks": {name: output | {output, completed_at}}, "run_count": n}`, as one run. */
function readTutorial(top: Obj, source: SourceFile, extras: WeakMap<object, Extras>): LoadedState {
  let runId = "tutorial";
  try {
    runId = checkRunId(source.stem);
  } catch {
    // keep "tutorial"
  }
  const completed = object(top.completed_tasks, ["completed_tasks"]);
  const tasks = new Map<string, TaskRecord>();
  const stamps: string[] = [];
  for (const taskName of Object.keys(completed)) {
    const at = ["completed_tasks", taskName];
    name(checkTaskName, taskName, at);
    const item = completed[taskName];
    let output: string | null;
    let completedAt: string | null = null;
    const task = newTaskRecord(taskName);
    if (typeof item === "string") {
      output = item;
    } else {
      const o = object(item, at, 'a string or an object {"output", "completed_at"}');
      output = textOrNull(o, "output", at);
      completedAt = textOrNull(o, "completed_at", at);
      collectExtras(o, TUTORIAL_ENTRY_KEYS, task, extras);
    }
    if (completedAt !== null) stamps.push(completedAt);
    // No input hash: the engine adopts the result as it is.
    Object.assign(task, { status: "completed", output, completedAt, attempts: 1 } satisfies Partial<TaskRecord>);
    tasks.set(taskName, task);
  }
  stamps.sort();
  const createdAt = stamps[0] ?? source.modifiedAt;
  const updatedAt = stamps[stamps.length - 1] ?? source.modifiedAt;
  const run: Omit<Run, "tasks"> = {
    runId,
    crew: "", // matches any crew: the first kickoff under this run ID adopts it
    kind: "crew",
    parent: null,
    inputs: {},
    status: "completed",
    attempts: count(top, "run_count", [], 0),
    error: null,
    createdAt,
    updatedAt,
  };
  const events: RunEvent[] = [
    { seq: 1, runId, task: null, type: "run_imported", at: createdAt, data: { layout: "tutorial", tasks: tasks.size } },
  ];
  const holder = {};
  collectExtras(top, TUTORIAL_KEYS, holder, extras);
  return {
    runs: new Map([[runId, { run, tasks, events, calls: new Map() }]]),
    journalSeq: 0,
    extras,
    topExtras: extras.get(holder) ?? null,
    tutorial: true,
  };
}

/** Image → file text (crewstate's layout, always). */
export function writeDocument(state: Omit<LoadedState, "tutorial">): string {
  const runs = Object.create(null) as Obj;
  for (const [runId, image] of state.runs) {
    runs[runId] = runEntry({ run: image.run, tasks: image.tasks.values(), events: image.events, calls: [...image.calls.values()].flat() }, state.extras);
  }
  const doc = withExtras({ crewstate_schema: SCHEMA_VERSION, journal_seq: state.journalSeq, runs } as Obj, state.topExtras);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Journal ops: a StoreOp in the file's vocabulary, checked by the same validators.

function eventOf(event: NewEvent, taskDefault: string | null): Obj {
  // What StateImage.apply would record: `{ task: default, ...event }`, then `task ?? null`.
  const task = "task" in event ? (event.task ?? null) : taskDefault;
  return { type: event.type, task, data: event.data ?? null };
}

function newEventFrom(value: unknown, at: JsonPath): NewEvent {
  const o = object(value, at);
  const data = payload(o, "data", at);
  if (data !== null) object(data, [...at, "data"], "an object or null");
  return { type: eventType(o, at), task: textOrNull(o, "task", at), data: data as NewEvent["data"] };
}

/** A begin's fields in the file's vocabulary (a `begin_run` line's, a reuse's `begin`); `planned` apart, as it is optional. */
function beginEntry(init: BeginRun): { crew: string; kind: string; parent: unknown; inputs: unknown; planned: Obj } {
  return {
    crew: init.crew,
    kind: init.kind ?? "crew",
    parent: parentEntry(init.parent ?? null),
    inputs: init.inputs,
    planned: init.planned === undefined ? {} : { planned: init.planned },
  };
}

/** A begin back from its fields (see `beginEntry`). */
function beginFrom(runId: string, o: Obj, at: JsonPath): BeginRun {
  const init: BeginRun = { runId, crew: text(o, "crew", at), kind: kindFrom(o, at), parent: parentFrom(o, at), inputs: inputsFrom(o, at) };
  if (has(o, "planned")) init.planned = objectPayload(o, "planned", at);
  return init;
}

/** A StoreOp as a JSON object in the file's vocabulary. */
export function opEntry(op: StoreOp): Obj {
  switch (op.op) {
    case "beginRun": {
      const { planned, ...begin } = beginEntry(op.init);
      return { type: "begin_run", run_id: op.init.runId, ...begin, at: op.at, ...planned };
    }
    case "saveTask": {
      const entry: Obj = {
        type: "save_task",
        run_id: op.runId,
        task: { name: op.task.name, ...taskEntry(op.task) },
        event: eventOf({ ...op.event, task: op.task.name }, op.task.name),
        at: op.at,
      };
      if (op.fencingToken !== undefined) entry.fencing_token = op.fencingToken;
      if (op.fencedBy !== undefined) entry.fenced_by = op.fencedBy;
      if (op.calls !== undefined) entry.calls = op.calls.map((call) => ({ task: call.task, ...callEntry(call) }));
      if (op.next !== undefined) {
        const { task, worker, ttlMs, seenToken, start } = op.next;
        entry.next = { task, worker, ttl_ms: ttlMs, seen_token: seenToken, start: startEntry(start, task) };
      }
      if (op.endRun !== undefined) entry.end_run = runEndEntry(op.endRun);
      return entry;
    }
    case "reuseTasks": {
      const tasks = op.tasks.map(({ record, fencingToken }) => ({ task: { name: record.name, ...taskEntry(record) }, fencing_token: fencingToken }));
      const entry: Obj = { type: "reuse_tasks", run_id: op.runId, tasks, at: op.at };
      if (op.event !== undefined) entry.event = eventOf({ ...op.event, task: null }, null);
      if (op.begin !== undefined) {
        const { planned, ...begin } = beginEntry(op.begin);
        entry.begin = { ...begin, ...planned };
      }
      if (op.endRun !== undefined) entry.end_run = runEndEntry(op.endRun);
      return entry;
    }
    case "setRunStatus":
      return { type: "set_run_status", run_id: op.runId, status: op.status, error: op.error, event: eventOf(op.event, null), at: op.at };
    case "removeTask":
      return { type: "remove_task", run_id: op.runId, task: op.task, event: eventOf({ ...op.event, task: op.task }, op.task), at: op.at };
    case "recordCall": {
      const entry: Obj = { type: "record_call", run_id: op.runId, call: { task: op.call.task, ...callEntry(op.call) } };
      if (op.fencingToken !== undefined) entry.fencing_token = op.fencingToken;
      if (op.fencedBy !== undefined) entry.fenced_by = op.fencedBy;
      return entry;
    }
    case "clearCalls":
      return { type: "clear_calls", run_id: op.runId, task: op.task };
    case "importRun": {
      const { run, events, calls } = op.dump;
      const entry = runEntry({ run, tasks: run.tasks, events, calls }, new WeakMap());
      return { type: "import_run", run_id: run.runId, run: entry, overwrite: op.overwrite };
    }
    case "claimTask": {
      const entry: Obj = { type: "claim_task", run_id: op.runId, task: op.task, worker: op.worker, ttl_ms: op.ttlMs, at: op.at };
      if (op.takeOverFrom !== undefined) entry.take_over_from = op.takeOverFrom;
      if (op.seenToken !== undefined) entry.seen_token = op.seenToken;
      if (op.start !== undefined) entry.start = startEntry(op.start, op.task);
      return entry;
    }
    case "heartbeat":
      return { type: "heartbeat", run_id: op.lease.runId, lease: leaseEntry(op.lease), ttl_ms: op.ttlMs, at: op.at };
    case "releaseTask":
      return { type: "release_task", run_id: op.lease.runId, lease: leaseEntry(op.lease), at: op.at };
    case "deleteRun":
      return { type: "delete_run", run_id: op.runId, at: op.at };
    case "dropJournals":
      return { type: "drop_journals", run_id: op.runId, at: op.at };
  }
}

/** The started record and event a claim writes. */
function startEntry(start: TaskStart, task: string): Obj {
  return { task: { name: start.task.name, ...taskEntry(start.task) }, event: eventOf(start.event, task) };
}

function startFrom(task: string, value: unknown, at: JsonPath, scratch: WeakMap<object, Extras>): TaskStart {
  const start = object(value, at);
  const t = object(start.task, [...at, "task"]);
  if (t.name !== task) throw new LayoutError([...at, "task", "name"], "must name the claimed task");
  return { task: taskFromEntry(task, t, [...at, "task"], scratch), event: newEventFrom(start.event, [...at, "event"]) };
}

/** The run status a commit ends its run with. */
function runEndEntry(end: RunEnd): Obj {
  return { status: end.status, error: end.error, event: eventOf(end.event, null) };
}

function runEndFrom(value: unknown, at: JsonPath): RunEnd {
  const o = object(value, at);
  return { status: oneOf(o, "status", at, RUN_STATUSES), error: textOrNull(o, "error", at), event: newEventFrom(o.event, [...at, "event"]) };
}

/** A JSON object or null (a plan, event data). */
function objectPayload(o: Obj, key: string, at: JsonPath): { [key: string]: JsonValue } {
  return object(payload(o, key, at), [...at, key]) as { [key: string]: JsonValue };
}

function leaseEntry(lease: Lease): Obj {
  return { task: lease.task, worker: lease.worker, token: lease.token, expires_at: lease.expiresAt };
}

function leaseFrom(runId: string, value: unknown, at: JsonPath): Lease {
  const o = object(value, at);
  const token = count(o, "token", at, undefined);
  if (token < 1) throw new LayoutError([...at, "token"], "must be a whole number ≥ 1");
  return {
    runId,
    task: name(checkTaskName, o.task, [...at, "task"]),
    worker: worker(o, "worker", at),
    token,
    expiresAt: text(o, "expires_at", at),
  };
}

/** A worker ID as `BaseStore` accepts one: 1-200 characters, none of them a control character. */
function worker(o: Obj, key: string, at: JsonPath): string {
  const value = o[key];
  if (typeof value !== "string" || value.length === 0 || value.length > 200 || /[\u0000-\u001f]/.test(value)) {
    throw new LayoutError([...at, key], has(o, key) ? "must be a worker ID (1-200 printable characters)" : "is missing");
  }
  return value;
}

const MAX_TTL_MS = 24 * 60 * 60 * 1000;

function ttl(o: Obj, at: JsonPath): number {
  const value = o.ttl_ms;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > MAX_TTL_MS) {
    throw new LayoutError([...at, "ttl_ms"], has(o, "ttl_ms") ? `must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}` : "is missing");
  }
  return value;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The store's clock reading a lease op was decided at: an expiry is computed from it on replay. */
function clock(o: Obj, at: JsonPath): string {
  const value = text(o, "at", at);
  if (!ISO_UTC.test(value) || Number.isNaN(Date.parse(value))) throw new LayoutError([...at, "at"], "must be an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SS.sssZ)");
  return value;
}

/** A journal op back into a StoreOp. Throws `LayoutError` for anything malformed. */
export function opFromEntry(value: unknown, at: JsonPath): StoreOp {
  const o = object(value, at);
  const runId = name(checkRunId, o.run_id, [...at, "run_id"]);
  const scratch = new WeakMap<object, Extras>();
  switch (o.type) {
    case "begin_run":
      return { op: "beginRun", init: beginFrom(runId, o, at), at: text(o, "at", at) };
    case "save_task": {
      const t = object(o.task, [...at, "task"]);
      const taskName = name(checkTaskName, t.name, [...at, "task", "name"]);
      const op: StoreOp = {
        op: "saveTask",
        runId,
        task: taskFromEntry(taskName, t, [...at, "task"], scratch),
        event: newEventFrom(o.event, [...at, "event"]),
        at: text(o, "at", at),
      };
      if (has(o, "fencing_token")) op.fencingToken = count(o, "fencing_token", at, undefined);
      if (has(o, "fenced_by")) op.fencedBy = name(checkTaskName, o.fenced_by, [...at, "fenced_by"]);
      if (has(o, "calls")) {
        if (!Array.isArray(o.calls)) throw new LayoutError([...at, "calls"], "must be a list of calls");
        op.calls = o.calls.map((value, i) => {
          const c = object(value, [...at, "calls", i]);
          if (c.task !== taskName) throw new LayoutError([...at, "calls", i, "task"], "must name the committed task");
          return callFromEntry(taskName, c, [...at, "calls", i], scratch);
        });
      }
      if (has(o, "next")) {
        // A next claim is judged by the store's clock: the commit's time is one, as a claim's is.
        op.at = clock(o, at);
        const n = object(o.next, [...at, "next"]);
        const task = name(checkTaskName, n.task, [...at, "next", "task"]);
        op.next = {
          task,
          worker: worker(n, "worker", [...at, "next"]),
          ttlMs: ttl(n, [...at, "next"]),
          seenToken: count(n, "seen_token", [...at, "next"], undefined),
          start: startFrom(task, n.start, [...at, "next", "start"], scratch),
        };
      }
      if (has(o, "end_run")) op.endRun = runEndFrom(o.end_run, [...at, "end_run"]);
      return op;
    }
    case "reuse_tasks": {
      const names = new Set<string>();
      const tasks = array(o.tasks, [...at, "tasks"]).map((value, i): ReusedTask => {
        const where = [...at, "tasks", i];
        const entry = object(value, where);
        const t = object(entry.task, [...where, "task"]);
        const taskName = name(checkTaskName, t.name, [...where, "task", "name"]);
        if (names.has(taskName)) throw new LayoutError([...where, "task", "name"], "names a task already reused in this line");
        names.add(taskName);
        return { record: taskFromEntry(taskName, t, [...where, "task"], scratch), fencingToken: count(entry, "fencing_token", where, undefined) };
      });
      const op: StoreOp = { op: "reuseTasks", runId, tasks, at: text(o, "at", at) };
      // A line without tasks wrote no event, and has none; older lines always have one.
      if (has(o, "event")) op.event = { ...newEventFrom(o.event, [...at, "event"]), task: null };
      if (has(o, "begin")) op.begin = beginFrom(runId, object(o.begin, [...at, "begin"]), [...at, "begin"]);
      if (has(o, "end_run")) op.endRun = runEndFrom(o.end_run, [...at, "end_run"]);
      return op;
    }
    case "set_run_status":
      return {
        op: "setRunStatus",
        runId,
        status: oneOf(o, "status", at, RUN_STATUSES),
        error: textOrNull(o, "error", at),
        event: newEventFrom(o.event, [...at, "event"]),
        at: text(o, "at", at),
      };
    case "remove_task":
      return {
        op: "removeTask",
        runId,
        task: name(checkTaskName, o.task, [...at, "task"]),
        event: newEventFrom(o.event, [...at, "event"]),
        at: text(o, "at", at),
      };
    case "record_call": {
      const c = object(o.call, [...at, "call"]);
      const task = name(checkTaskName, c.task, [...at, "call", "task"]);
      const op: StoreOp = { op: "recordCall", runId, call: callFromEntry(task, c, [...at, "call"], scratch) };
      if (has(o, "fencing_token")) op.fencingToken = count(o, "fencing_token", at, undefined);
      if (has(o, "fenced_by")) op.fencedBy = name(checkTaskName, o.fenced_by, [...at, "fenced_by"]);
      return op;
    }
    case "clear_calls":
      return { op: "clearCalls", runId, task: name(checkTaskName, o.task, [...at, "task"]) };
    case "import_run": {
      const image = runFromEntry(runId, o.run, [...at, "run"], scratch);
      if (typeof o.overwrite !== "boolean") throw new LayoutError([...at, "overwrite"], "must be true or false");
      return {
        op: "importRun",
        dump: { run: { ...image.run, tasks: [...image.tasks.values()] }, events: image.events, calls: [...image.calls.values()].flat() },
        overwrite: o.overwrite,
      };
    }
    case "claim_task": {
      const op: StoreOp = {
        op: "claimTask",
        runId,
        task: name(checkTaskName, o.task, [...at, "task"]),
        worker: worker(o, "worker", at),
        ttlMs: ttl(o, at),
        at: clock(o, at),
      };
      if (has(o, "take_over_from")) op.takeOverFrom = worker(o, "take_over_from", at);
      if (has(o, "seen_token")) op.seenToken = count(o, "seen_token", at, undefined);
      if (has(o, "start")) op.start = startFrom(op.task, o.start, [...at, "start"], scratch);
      return op;
    }
    case "heartbeat":
      return { op: "heartbeat", lease: leaseFrom(runId, o.lease, [...at, "lease"]), ttlMs: ttl(o, at), at: clock(o, at) };
    case "release_task":
      return { op: "releaseTask", lease: leaseFrom(runId, o.lease, [...at, "lease"]), at: clock(o, at) };
    case "delete_run":
      return { op: "deleteRun", runId, at: clock(o, at) };
    case "drop_journals":
      return { op: "dropJournals", runId, at: clock(o, at) };
    default:
      throw new LayoutError([...at, "type"], "is not a known journal operation");
  }
}
