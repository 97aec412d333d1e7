/**
 * A store written from scratch on `BaseStore`: every run in a `Map`, in this process. It is the
 * example of docs/writing-a-store.md and passes the whole conformance suite (map-store.test.ts).
 *
 * `BaseStore` has already checked every argument; each `do*` method does one step of the
 * contract. They are atomic here because none of them awaits between its checks and its writes:
 * no other call can run in between. A store over a database gets the same from one transaction,
 * statement or script per method.
 *
 * Outside this repository, import from "crewstate" instead of "../../src/index.js".
 */
import { BaseStore, CrewstateError, FencedOutError } from "../../src/index.js";
import type {
  BeginRun,
  CallRecord,
  ClaimOptions,
  CommitOptions,
  Lease,
  NewEvent,
  Run,
  RunDump,
  RunEvent,
  RunStatus,
  RunSummary,
  TaskRecord,
} from "../../src/index.js";

type FenceOptions = Pick<CommitOptions, "fencingToken" | "fencedBy">;

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

  protected async doBeginRun(init: BeginRun, now: string): Promise<Run> {
    const kind = init.kind ?? "crew";
    let entry = this.runs.get(init.runId);
    if (entry && entry.run.crew !== init.crew && entry.run.crew !== "") {
      throw new CrewstateError("RUN_MISMATCH", `run "${init.runId}" belongs to crew "${entry.run.crew}", not "${init.crew}"`, { runId: init.runId, store: this.location });
    }
    if (entry && entry.run.kind !== kind) {
      throw new CrewstateError("RUN_MISMATCH", `run "${init.runId}" is a ${entry.run.kind} run, not a ${kind} run`, { runId: init.runId, store: this.location });
    }
    if (entry) {
      Object.assign(entry.run, { crew: init.crew, inputs: copy(init.inputs), status: "running", error: null, attempts: entry.run.attempts + 1, updatedAt: now });
    } else {
      const run = { runId: init.runId, crew: init.crew, kind, parent: copy(init.parent ?? null), inputs: copy(init.inputs), status: "running" as const };
      entry = { run: { ...run, attempts: 1, error: null, createdAt: now, updatedAt: now }, tasks: new Map(), events: [], calls: new Map() };
      this.runs.set(init.runId, entry);
    }
    append(entry, { type: "run_started", data: { attempt: entry.run.attempts } }, now);
    return (await this.doGetRun(init.runId))!;
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

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<void> {
    const entry = this.fence("commit", runId, task.name, options);
    entry.tasks.set(task.name, copy(task));
    for (const call of options.calls ?? []) journal(entry, call);
    entry.run.updatedAt = now;
    append(entry, { ...event, task: task.name }, now);
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<void> {
    const entry = this.entry(runId);
    Object.assign(entry.run, { status, error, updatedAt: now });
    append(entry, event, now);
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<boolean> {
    const entry = this.entry(runId);
    if (!entry.tasks.delete(task)) return false;
    entry.calls.delete(task);
    entry.run.updatedAt = now;
    append(entry, { ...event, task }, now);
    return true;
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return copy(this.runs.get(runId)?.events ?? []);
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void> {
    journal(this.fence("journal entry", runId, call.task, options), call);
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return copy(this.runs.get(runId)?.calls.get(task) ?? []);
  }

  protected async doClearCalls(runId: string, task: string): Promise<void> {
    this.entry(runId).calls.delete(task);
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<void> {
    const { run, events, calls } = copy(dump);
    if (this.runs.has(run.runId) && !overwrite) {
      throw new CrewstateError("RUN_EXISTS", `run "${run.runId}" already exists in ${this.location}`, { runId: run.runId, store: this.location });
    }
    const { tasks, ...meta } = run;
    const entry: Entry = { run: meta, tasks: new Map(tasks.map((t) => [t.name, t])), events: [], calls: new Map() };
    entry.events = events.map((event, i) => ({ ...event, seq: i + 1, runId: run.runId }));
    for (const call of calls) journal(entry, call);
    this.runs.set(run.runId, entry);
  }

  /** Leases are judged by this store's clock (`this.now()`), never by the caller's. */
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined> {
    const entry = this.entry(runId);
    const now = this.now();
    const current = entry.tasks.get(task);
    if (options.seenToken !== undefined && (current?.fencingToken ?? 0) !== options.seenToken) return undefined;
    const held = current?.leaseExpiresAt != null && current.leaseExpiresAt > now && current.worker !== worker && current.worker !== options.takeOverFrom;
    if (held) return undefined;
    const lease = { worker, fencingToken: (current?.fencingToken ?? 0) + 1, leaseExpiresAt: plus(now, ttlMs) };
    if (options.start) {
      entry.tasks.set(task, { ...copy(options.start.task), ...lease });
      entry.run.updatedAt = now;
      append(entry, { ...options.start.event, task }, now);
    } else {
      entry.tasks.set(task, { ...(current ?? pending(task)), ...lease });
    }
    return { runId, task, worker, token: lease.fencingToken, expiresAt: lease.leaseExpiresAt };
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    const entry = this.entry(lease.runId);
    const current = entry.tasks.get(lease.task);
    if ((current?.fencingToken ?? 0) !== lease.token) {
      throw new FencedOutError(`heartbeat of task "${lease.task}" carries fencing token ${lease.token}, but the current token is ${current?.fencingToken ?? 0}`, {
        runId: lease.runId,
        task: lease.task,
        store: this.location,
      });
    }
    const expiresAt = plus(this.now(), ttlMs);
    entry.tasks.set(lease.task, { ...current!, leaseExpiresAt: expiresAt });
    return { ...lease, worker: current!.worker!, expiresAt };
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    const entry = this.runs.get(lease.runId);
    const current = entry?.tasks.get(lease.task);
    if (current?.fencingToken === lease.token) entry!.tasks.set(lease.task, { ...current, leaseExpiresAt: null });
  }

  async close(): Promise<void> {}

  private entry(runId: string): Entry {
    const entry = this.runs.get(runId);
    if (!entry) throw new CrewstateError("RUN_NOT_FOUND", `run "${runId}" not found in ${this.location}`, { runId, store: this.location });
    return entry;
  }

  /**
   * The run, once a write of `task` made under `options.fencingToken` (when given) may go ahead:
   * the token must be the current one of `options.fencedBy`, or of the task itself (0 without a record).
   */
  private fence(what: string, runId: string, task: string, options: FenceOptions): Entry {
    const entry = this.entry(runId);
    const by = options.fencedBy ?? task;
    const current = entry.tasks.get(by)?.fencingToken ?? 0;
    if (options.fencingToken !== undefined && options.fencingToken !== current) {
      const context = { runId, task, store: this.location, ...(options.fencedBy === undefined ? {} : { fencedBy: by }) };
      throw new FencedOutError(`${what} of task "${task}" is fenced by "${by}": it carries token ${options.fencingToken}, but the current token is ${current}`, context);
    }
    return entry;
  }
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
