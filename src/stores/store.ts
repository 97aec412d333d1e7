/**
 * The store contract: where runs, task records, the event log and the call journal live.
 *
 * Covered here: creating and resuming runs, committing one task record together with its event
 * (atomically, O(1) in the size of the run), the append-only event log, the per-task journal of
 * model and tool calls, invalidating a task, copying whole runs between stores, and fencing a
 * commit by a claim's token. Every store passes the one conformance suite in
 * `src/testing/conformance.ts`, published as `crewstate/testing`.
 *
 * Left out: planning and hashing (pure, in `src/engine`), queues (a capability of the
 * multi-worker back ends), and anything about how a model is called.
 *
 * Payloads (inputs, outputs, structured outputs, event data, call responses) are stored as JSON
 * text made by `encodeJson`, so every store round-trips every string byte-exactly — NUL, lone
 * surrogates and all — or refuses it with the same typed error.
 */

export const SCHEMA_VERSION = 1;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A run's inputs: each a JSON value (text, a number, a flag, a list, an object). */
export type Inputs = Record<string, JsonValue>;

export type RunStatus = "running" | "completed" | "failed" | "paused";
/** `skipped`: a conditional task whose condition said no; its decision is kept like a result. */
export type TaskStatus = "pending" | "running" | "completed" | "failed" | "skipped";

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** What the tokens cost in US dollars; null when the model has no known price. */
  costUsd: number | null;
}

/** What a store keeps of one task within one run. Timestamps are ISO-8601 UTC strings. */
export interface TaskRecord {
  name: string;
  status: TaskStatus;
  /** SHA-256 of everything that determines the result; null for a record imported without one. */
  inputHash: string | null;
  output: string | null;
  structured: JsonValue | null;
  /** SHA-256 of the output, computed once at commit; what downstream input hashes fold in. */
  outputHash: string | null;
  startedAt: string | null;
  completedAt: string | null;
  attempts: number;
  error: string | null;
  usage: TokenUsage | null;
  model: string | null;
  /** The worker that holds (or last held) the task's lease. */
  worker: string | null;
  /** Grows with every claim of this (run, task); 0 when never claimed. */
  fencingToken: number;
  leaseExpiresAt: string | null;
}

/** What a run runs: a crew's tasks, or a flow's steps (each step execution a record `step#n`). */
export type RunKind = "crew" | "flow";

/** Where a run came from: the flow run and step execution that kicked it off, or the run it was forked from. */
export interface RunParent {
  runId: string;
  /** The parent's step execution (`write#2`) or task; null when the whole run is the origin. */
  task: string | null;
}

export interface Run {
  runId: string;
  /** The crew's (or flow's) name. */
  crew: string;
  kind: RunKind;
  parent: RunParent | null;
  inputs: Inputs;
  status: RunStatus;
  /** How many times the run was kicked off (the tutorial's `run_count`). */
  attempts: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  /** In the order each task was first recorded. */
  tasks: TaskRecord[];
}

export type RunSummary = Omit<Run, "tasks" | "inputs"> & {
  taskCount: number;
  /** Tasks done: completed, or skipped by their condition. */
  completedCount: number;
};

export type EventType =
  | "run_started"
  | "run_completed"
  | "run_failed"
  | "run_paused"
  | "run_planned"
  | "task_started"
  | "task_completed"
  | "task_reused"
  | "task_stale"
  | "task_failed"
  | "task_retry"
  | "task_invalidated"
  | "task_edited"
  | "task_approved"
  | "task_skipped"
  | "run_imported"
  | "run_forked"
  | "step_feedback"
  /** Many tasks reused in one commit (data: `tasks`, the names; `adopted`, those whose input hash was adopted). */
  | "tasks_reused";

export interface RunEvent {
  /** Increases with every event of the run, starting at 1. */
  seq: number;
  runId: string;
  task: string | null;
  type: EventType;
  at: string;
  data: { [key: string]: JsonValue } | null;
}

export interface NewEvent {
  type: EventType;
  task?: string | null;
  data?: { [key: string]: JsonValue } | null;
}

/** One model or tool call inside a task and its answer, as the task's journal keeps it. */
export interface CallRecord {
  task: string;
  /** 0-based position of the call in the task's agent loop. */
  position: number;
  kind: "model" | "tool";
  requestHash: string;
  response: JsonValue;
  usage: TokenUsage | null;
  at: string;
}

/** A whole run as it travels between stores (`crewstate export` / `import`). */
export interface RunDump {
  run: Run;
  events: RunEvent[];
  calls: CallRecord[];
}

export interface BeginRun {
  runId: string;
  crew: string;
  inputs: Inputs;
  /** Default "crew". A run is always of the kind it was created with: another is `RUN_MISMATCH`. */
  kind?: RunKind;
  /** Set when the run is created; a later begin keeps the run's own. */
  parent?: RunParent | null;
  /** When given, a `run_planned` event with this data follows `run_started` in the same commit. */
  planned?: { [key: string]: JsonValue };
}

/** A worker's claim on one task of a run: while its token is current, it alone may commit the task. */
export interface Lease {
  runId: string;
  task: string;
  worker: string;
  /** The task's fencing token as of this claim. */
  token: number;
  /** When the lease runs out unless renewed, by the store's clock. */
  expiresAt: string;
}

export interface ClaimOptions {
  /** Take the task over from this worker even if its lease has not run out (it is known to be dead). */
  takeOverFrom?: string;
  /**
   * Starts the task in the claim's own commit: once the claim is granted, `start.task` becomes the
   * task's record — with the claim's worker, fencing token and lease expiry in place of its own —
   * and `start.event` is appended. A refused claim writes neither.
   */
  start?: TaskStart;
  /**
   * The task's fencing token when the claimer read its record (0: it had none). When given, the
   * claim is refused, changing nothing, unless the token still is that: another worker has
   * claimed the task since, and what the claimer decided from its read may be out of date.
   */
  seenToken?: number;
}

/** The record and event that mark a task as started, written by the claim that grants it. */
export interface TaskStart {
  task: TaskRecord;
  event: NewEvent;
}

export interface FenceOptions {
  /**
   * The fencing token of the claim this write is made under. When given, the store refuses the
   * write with `FENCED_OUT`, changing nothing, unless it equals the task's current token.
   */
  fencingToken?: number;
  /**
   * The record whose claim `fencingToken` belongs to, when it is not the record written: a flow
   * holds one claim on its `flow` record and commits every step execution under it. Default: the
   * record written.
   */
  fencedBy?: string;
}

export interface CommitOptions extends FenceOptions {
  /**
   * Journal entries of this task to record in the same commit (each as `recordCall` would): the
   * engine's last answers before the task's result, made durable together with it.
   */
  calls?: CallRecord[];
  /**
   * The claim of the task the worker goes on to, made in this commit, after the record is written:
   * judged exactly as `claimTask(runId, next.task, next.worker, next.ttlMs, { seenToken, start })`
   * would (the store's clock, the seen token, a live holder refuses it). A refused claim writes
   * nothing of its own and leaves the rest of the commit in place. A fenced-out commit writes
   * nothing at all.
   */
  next?: NextClaim;
  /** The run's status, set in this commit after the record (and any claim): the last result ends the run. */
  endRun?: RunEnd;
}

/** The claim of a task made in the commit of the task before it (see `CommitOptions.next`). */
export interface NextClaim {
  task: string;
  worker: string;
  ttlMs: number;
  /** The token of the task's record when the worker read it (0: it had none). */
  seenToken: number;
  start: TaskStart;
}

/** A run status set in the same commit as a task's result. */
export interface RunEnd {
  status: RunStatus;
  error: string | null;
  event: NewEvent;
}

export interface ReuseOptions {
  begin?: BeginRun;
  endRun?: RunEnd;
}

/** A task whose stored result a kickoff keeps, with the token of the record it decided from. */
export interface ReusedTask {
  /** The stored record, with the input hash it is reused under. */
  record: TaskRecord;
  /** The record's token when read: a worker that claimed the task since wins, and the commit is FENCED_OUT. */
  fencingToken: number;
}

/** What a deletion freed, as far as the store can tell. */
export interface Freed {
  /**
   * Bytes of stored payloads removed (inputs, outputs, event data, call responses — as the back
   * end stores them); null when the store cannot tell (a retried write that had already landed).
   */
  bytes: number | null;
}

export interface Store {
  /** Where the state lives, for people: a path or a URL without its password. */
  readonly location: string;

  /**
   * Creates the run (attempts 1) or, when it exists, sets it `running` again with attempts + 1,
   * the given inputs and no error. Appends `run_started`. Refuses a run of another crew with
   * `RUN_MISMATCH`.
   */
  beginRun(init: BeginRun): Promise<Run>;
  getRun(runId: string): Promise<Run | undefined>;
  /** Newest first. */
  listRuns(): Promise<RunSummary[]>;

  /**
   * Upserts one task record and appends its event (naming the task), atomically; with
   * `options.next` and `options.endRun`, the next task's claim and the run's status ride in the
   * same commit. Returns the lease of `options.next` when it was granted.
   */
  saveTask(runId: string, task: TaskRecord, event: NewEvent, options?: CommitOptions): Promise<Lease | undefined>;
  /**
   * Keeps many tasks' stored results in one commit: upserts each record and appends one event
   * (`tasks_reused`, naming no task; none when `tasks` is empty), then sets the run's status when
   * `options.endRun` is given. With `options.begin` (its `runId` is `runId`), the commit begins
   * the run first, exactly as `beginRun(begin)` would — so a kickoff that reuses every task is one
   * commit. Refused whole, with `FENCED_OUT`, when any record's token is no longer the one it was
   * read with (and `RUN_MISMATCH` as `beginRun` refuses).
   */
  reuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, options?: ReuseOptions): Promise<void>;
  /** Sets the run's status and error and appends the event, atomically. */
  setRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent): Promise<void>;
  /** Deletes a task's record and its call journal and appends the event, atomically; false if absent. */
  removeTask(runId: string, task: string, event: NewEvent): Promise<boolean>;

  events(runId: string): Promise<RunEvent[]>;

  /** Journals one call; a call at an existing (task, position) replaces it. */
  recordCall(runId: string, call: CallRecord, options?: FenceOptions): Promise<void>;
  /** The task's journal, by position. */
  calls(runId: string, task: string): Promise<CallRecord[]>;
  clearCalls(runId: string, task: string): Promise<void>;

  /**
   * Claims a task of an existing run for `worker` for `ttlMs`. Granted when no other worker holds
   * a lease on it that has not run out by the store's clock (or when that worker is
   * `options.takeOverFrom`): the task's fencing token grows by one and the record gets the worker,
   * the token and the expiry (a `pending` record is made for a task that has none; with
   * `options.start`, the started record and its event are written instead). Otherwise returns
   * `undefined` and changes nothing. Appends no event unless `options.start` gives one.
   */
  claimTask(runId: string, task: string, worker: string, ttlMs: number, options?: ClaimOptions): Promise<Lease | undefined>;
  /** Renews a lease for `ttlMs` from now; `FENCED_OUT`, changing nothing, unless its token is the task's current one. */
  heartbeat(lease: Lease, ttlMs: number): Promise<Lease>;
  /** Ends a lease now (its expiry cleared, the worker kept) if its token is current; otherwise does nothing. */
  releaseTask(lease: Lease): Promise<void>;

  /**
   * Deletes the whole run — its record, task records with their leases, events and journals — in
   * one commit. Refuses with `RUN_BUSY`, changing nothing, a run that is `running` or `paused`, or
   * any of whose tasks holds a lease that has not run out by the store's clock: judged inside the
   * same commit. `RUN_NOT_FOUND` for an absent run.
   */
  deleteRun(runId: string): Promise<Freed>;
  /**
   * Deletes the call journals of the run's completed tasks in one commit, keeping the run (it can
   * still be resumed, but no longer replayed as a cassette). Refused as `deleteRun` is.
   */
  dropJournals(runId: string): Promise<Freed>;

  /** Writes a whole run; refuses an existing run ID with `RUN_EXISTS` unless `overwrite`. */
  importRun(dump: RunDump, options?: { overwrite?: boolean }): Promise<void>;
  /** With `sealed`, values sealed at rest stay sealed (see docs/encryption.md); otherwise they are opened. */
  exportRun(runId: string, options?: { sealed?: boolean }): Promise<RunDump | undefined>;

  /**
   * With encryption at rest on: turns a plain hash (an input or request hash) into the keyed one
   * kept in the store, so a stored hash cannot confirm a guessed input. Absent when off.
   */
  readonly hasher?: ((hash: string) => string) | undefined;

  close(): Promise<void>;
}

export function newTaskRecord(name: string): TaskRecord {
  return {
    name,
    status: "pending",
    inputHash: null,
    output: null,
    structured: null,
    outputHash: null,
    startedAt: null,
    completedAt: null,
    attempts: 0,
    error: null,
    usage: null,
    model: null,
    worker: null,
    fencingToken: 0,
    leaseExpiresAt: null,
  };
}
