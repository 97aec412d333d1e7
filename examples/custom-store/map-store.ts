/**
 * A store written from scratch on `BaseStore`: every run in a `Map`, in this process. It is the
 * example of docs/writing-a-store.md and passes the whole conformance suite (map-store.test.ts).
 *
 * `BaseStore` has already checked every argument, and it words every error: each `do*` method
 * does one step of the contract and reports what it found — `ok(value)`, or a refusal such as
 * `noRun` or `fenced(task, current)` — never throwing for a refusal. The steps are atomic here
 * because none of them awaits between its checks and its writes: no other call can run in
 * between. A store over a database gets the same from one transaction, statement or script per
 * method, returning the outcome from inside it.
 *
 * Outside this repository, import from "crewstate" instead of "../../src/index.js".
 */
import { BaseStore, busy, exists, fenced, noRun, ok } from "../../src/index.js";
import type {
  BeginRun,
  Busy,
  Freed,
  CallRecord,
  ClaimOptions,
  CommitOptions,
  Exists,
  FenceOptions,
  Fenced,
  Lease,
  NewEvent,
  NoRun,
  Ok,
  OtherCrew,
  OtherKind,
  ReusedTask,
  ReuseOptions,
  Run,
  RunDump,
  RunEnd,
  RunEvent,
  RunStatus,
  RunSummary,
  TaskRecord,
  TaskStart,
} from "../../src/index.js";

interface Entry {
  run: Omit<Run, "tasks">;
  /** In the order each task was first recorded (a Map keeps insertion order). */
  tasks: Map<string, TaskRecord>;
  events: RunEvent[];
  /** Per task, by position. */
  calls: Map<string, CallRecord[]>;
}

export class MapStore extends BaseStore {
  readonly location = "map:";
  private readonly runs = new Map<string, Entry>();

  protected async doBeginRun(init: BeginRun, now: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    const refused = beginRefused(this.runs.get(init.runId), init);
    if (refused) return refused;
    this.begin(init, now);
    return ok((await this.doGetRun(init.runId))!);
  }

  /** Begins a run `beginRefused` allowed: creates it, or sets it running again; appends `run_started` (and `run_planned`). */
  private begin(init: BeginRun, now: string): Entry {
    let entry = this.runs.get(init.runId);
    if (entry) {
      Object.assign(entry.run, { crew: init.crew, inputs: copy(init.inputs), status: "running", error: null, attempts: entry.run.attempts + 1, updatedAt: now });
    } else {
      const run = { runId: init.runId, crew: init.crew, kind: init.kind ?? "crew", parent: copy(init.parent ?? null), inputs: copy(init.inputs), status: "running" as const };
      entry = { run: { ...run, attempts: 1, error: null, createdAt: now, updatedAt: now }, tasks: new Map(), events: [], calls: new Map() };
      this.runs.set(init.runId, entry);
    }
    append(entry, { type: "run_started", data: { attempt: entry.run.attempts } }, now);
    if (init.planned !== undefined) append(entry, { type: "run_planned", data: init.planned }, now);
    return entry;
  }

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    const entry = this.runs.get(runId);
    return entry && copy({ ...entry.run, tasks: [...entry.tasks.values()] });
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    const summaries = [...this.runs.values()].map(({ run, tasks }): RunSummary => {
      const { inputs: _inputs, ...rest } = copy(run);
      const done = [...tasks.values()].filter((t) => t.status === "completed" || t.status === "skipped").length;
      return { ...rest, taskCount: tasks.size, completedCount: done };
    });
    // Newest first; runs begun in the same millisecond by ID, descending.
    return summaries.sort((a, b) => (a.createdAt === b.createdAt ? (a.runId < b.runId ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
  }

  /**
   * One step: the record, its calls and event; then the next task's claim, judged exactly as
   * `doClaimTask` judges one (a refused claim writes nothing of its own); then the run's end.
   */
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    const refused = fence(entry, options.fencedBy ?? task.name, options);
    if (refused) return refused;
    entry.tasks.set(task.name, copy(task));
    for (const call of options.calls ?? []) journal(entry, call);
    entry.run.updatedAt = now;
    append(entry, event, now);
    let lease: Lease | undefined;
    const { next } = options;
    if (next && claimable(entry.tasks.get(next.task), next.worker, now, next)) lease = grant(entry, next.task, next.worker, next.ttlMs, now, next.start);
    if (options.endRun) end(entry, options.endRun, now);
    return ok(lease);
  }

  /**
   * One step: the run's begin (`options.begin`, as `doBeginRun`'s); every record, fenced each by
   * its own token (any stale one refuses them all, begin included); one event when a task is
   * reused; the run's end. Everything is checked before anything is written.
   */
  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, now: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind> {
    const found = this.runs.get(runId);
    if (!found && !options.begin) return noRun;
    const refusedBegin = options.begin && beginRefused(found, options.begin);
    if (refusedBegin) return refusedBegin;
    for (const { record, fencingToken } of tasks) {
      // A run the begin creates has no records yet: every token is 0.
      const refused = found ? fence(found, record.name, { fencingToken }) : fencingToken === 0 ? undefined : fenced(record.name, 0);
      if (refused) return refused;
    }
    const entry = options.begin ? this.begin(options.begin, now) : found!;
    for (const { record } of tasks) entry.tasks.set(record.name, copy(record));
    entry.run.updatedAt = now;
    if (tasks.length > 0) append(entry, event, now);
    if (options.endRun) end(entry, options.endRun, now);
    return ok();
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<Ok | NoRun> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    end(entry, { status, error, event }, now);
    return ok();
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<Ok<boolean> | NoRun> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    if (!entry.tasks.delete(task)) return ok(false);
    entry.calls.delete(task);
    entry.run.updatedAt = now;
    append(entry, event, now);
    return ok(true);
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return copy(this.runs.get(runId)?.events ?? []);
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    const refused = fence(entry, options.fencedBy ?? call.task, options);
    if (refused) return refused;
    journal(entry, call);
    return ok();
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return copy(this.runs.get(runId)?.calls.get(task) ?? []);
  }

  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    entry.calls.delete(task);
    return ok();
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    const { run, events, calls } = copy(dump);
    if (this.runs.has(run.runId) && !overwrite) return exists;
    const { tasks, ...meta } = run;
    const entry: Entry = { run: meta, tasks: new Map(tasks.map((t) => [t.name, t])), events: [], calls: new Map() };
    entry.events = events.map((event, i) => ({ ...event, seq: i + 1, runId: run.runId }));
    for (const call of calls) journal(entry, call);
    this.runs.set(run.runId, entry);
    return ok();
  }

  /** Leases are judged by this store's clock (`this.now()`), never by the caller's. */
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    const now = this.now();
    if (!claimable(entry.tasks.get(task), worker, now, options)) return ok(undefined);
    return ok(grant(entry, task, worker, ttlMs, now, options.start));
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    const entry = this.runs.get(lease.runId);
    if (!entry) return noRun;
    const refused = fence(entry, lease.task, { fencingToken: lease.token });
    if (refused) return refused;
    const current = entry.tasks.get(lease.task)!;
    const expiresAt = plus(this.now(), ttlMs);
    entry.tasks.set(lease.task, { ...current, leaseExpiresAt: expiresAt });
    return ok({ ...lease, worker: current.worker!, expiresAt });
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    const entry = this.runs.get(lease.runId);
    const current = entry?.tasks.get(lease.task);
    if (current?.fencingToken === lease.token) entry!.tasks.set(lease.task, { ...current, leaseExpiresAt: null });
  }

  /**
   * A deletion is refused while the run may still change: it is running or paused, or a task
   * holds a lease that has not run out by this store's clock. Judged in the step that deletes.
   */
  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    const refused = busyNow(entry, this.now());
    if (refused) return refused;
    let bytes = size(entry.run.inputs);
    for (const task of entry.tasks.values()) bytes += size(task.output) + size(task.structured);
    for (const event of entry.events) bytes += size(event.data);
    for (const calls of entry.calls.values()) for (const call of calls) bytes += size(call.response);
    this.runs.delete(runId);
    return ok({ bytes });
  }

  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    const entry = this.runs.get(runId);
    if (!entry) return noRun;
    const refused = busyNow(entry, this.now());
    if (refused) return refused;
    let bytes = 0;
    for (const task of entry.tasks.values()) {
      if (task.status !== "completed") continue;
      for (const call of entry.calls.get(task.name) ?? []) bytes += size(call.response);
      entry.calls.delete(task.name);
    }
    return ok({ bytes });
  }

  async close(): Promise<void> {}
}

/** The refusal of a begin of a run (`entry`, if it exists) that is another crew's, or of another kind; undefined when it may go ahead. */
function beginRefused(entry: Entry | undefined, init: BeginRun): OtherCrew | OtherKind | undefined {
  if (entry && entry.run.crew !== init.crew && entry.run.crew !== "") return { outcome: "otherCrew", crew: entry.run.crew };
  if (entry && entry.run.kind !== (init.kind ?? "crew")) return { outcome: "otherKind", kind: entry.run.kind };
  return undefined;
}

/** Why the run cannot be deleted at `now`: it is running or paused, or a task's lease runs past `now`. */
function busyNow(entry: Entry, now: string): Busy | undefined {
  const { status } = entry.run;
  if (status === "running" || status === "paused") return busy(status);
  const leased = [...entry.tasks.values()].find((t) => t.leaseExpiresAt !== null && t.leaseExpiresAt > now);
  return leased && busy(status, leased.name, leased.leaseExpiresAt);
}

/** A payload's size as stored: the UTF-8 bytes of its JSON text. */
function size(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "null");
}

/**
 * The refusal of a write made under `options.fencingToken` (when given) unless it is the current
 * token of the record `by` (0 without a record); undefined when the write may go ahead. Called in
 * the same step as the write.
 */
function fence(entry: Entry, by: string, options: { fencingToken?: number }): Fenced | undefined {
  const current = entry.tasks.get(by)?.fencingToken ?? 0;
  return options.fencingToken !== undefined && options.fencingToken !== current ? fenced(by, current) : undefined;
}

/** Whether a claim is granted at `now`: the token is still the one the claimer read, and no other worker holds a live lease. */
function claimable(current: TaskRecord | undefined, worker: string, now: string, options: { seenToken?: number; takeOverFrom?: string }): boolean {
  if (options.seenToken !== undefined && (current?.fencingToken ?? 0) !== options.seenToken) return false;
  const held = current?.leaseExpiresAt != null && current.leaseExpiresAt > now && current.worker !== worker && current.worker !== options.takeOverFrom;
  return !held;
}

/** Grants a claim: the token grows by one; the record (or `start`'s, with its event) gets the worker and expiry. */
function grant(entry: Entry, task: string, worker: string, ttlMs: number, now: string, start: TaskStart | undefined): Lease {
  const current = entry.tasks.get(task);
  const lease = { worker, fencingToken: (current?.fencingToken ?? 0) + 1, leaseExpiresAt: plus(now, ttlMs) };
  if (start) {
    entry.tasks.set(task, { ...copy(start.task), ...lease });
    entry.run.updatedAt = now;
    append(entry, { ...start.event, task }, now);
  } else {
    entry.tasks.set(task, { ...(current ?? pending(task)), ...lease });
  }
  return { runId: entry.run.runId, task, worker, token: lease.fencingToken, expiresAt: lease.leaseExpiresAt };
}

function end(entry: Entry, runEnd: RunEnd, now: string): void {
  Object.assign(entry.run, { status: runEnd.status, error: runEnd.error, updatedAt: now });
  append(entry, runEnd.event, now);
}

function append(entry: Entry, event: NewEvent, at: string): void {
  entry.events.push({ seq: entry.events.length + 1, runId: entry.run.runId, task: event.task ?? null, type: event.type, at, data: copy(event.data ?? null) });
}

/** A call at an existing (task, position) replaces it; the journal stays in position order. */
function journal(entry: Entry, call: CallRecord): void {
  const kept = (entry.calls.get(call.task) ?? []).filter((c) => c.position !== call.position);
  entry.calls.set(call.task, [...kept, copy(call)].sort((a, b) => a.position - b.position));
}

function pending(name: string): TaskRecord {
  const empty = { inputHash: null, output: null, structured: null, outputHash: null, startedAt: null, completedAt: null, error: null, usage: null, model: null };
  return { name, status: "pending", ...empty, attempts: 0, worker: null, fencingToken: 0, leaseExpiresAt: null };
}

function plus(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

/** Nothing the caller holds may alias what the store keeps, either way. */
function copy<T>(value: T): T {
  return structuredClone(value);
}
