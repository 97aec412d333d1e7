import { isoPlus, summarize } from "../base-store.js";
import { encodeJson } from "../codec.js";
import { busy, exists, fenced, noRun, type Busy, type Fenced, type NoRun, type OtherCrew, type OtherKind, type Refusal } from "../outcomes.js";
import {
  newTaskRecord,
  type BeginRun,
  type CallRecord,
  type Lease,
  type NewEvent,
  type NextClaim,
  type ReusedTask,
  type Run,
  type RunDump,
  type RunEnd,
  type RunEvent,
  type RunStatus,
  type RunSummary,
  type TaskRecord,
  type TaskStart,
} from "../store.js";

/**
 * An in-memory image of a store's runs, changed only by applying `StoreOp`s. The memory store is
 * this image alone; the JSON file store journals each op before applying it and replays the
 * journal on open, so both share one set of semantics. Each op is one commit: a task's result
 * with the next task's claim and the run's end, a reuse of many records, a begin with its plan.
 */
export type StoreOp =
  | { op: "beginRun"; init: BeginRun; at: string }
  | {
      op: "saveTask";
      runId: string;
      task: TaskRecord;
      event: NewEvent;
      at: string;
      fencingToken?: number;
      fencedBy?: string;
      calls?: CallRecord[];
      /** Judged at `at`, after the record is written, exactly as a `claimTask` op would be. */
      next?: NextClaim;
      endRun?: RunEnd;
    }
  /**
   * With `begin`, the run is begun first, exactly as a `beginRun` op. `event` is absent when
   * `tasks` is empty (see `reuseOp`): no reuse, no event.
   */
  | { op: "reuseTasks"; runId: string; tasks: ReusedTask[]; event?: NewEvent; at: string; endRun?: RunEnd; begin?: BeginRun }
  | { op: "setRunStatus"; runId: string; status: RunStatus; error: string | null; event: NewEvent; at: string }
  | { op: "removeTask"; runId: string; task: string; event: NewEvent; at: string }
  | { op: "recordCall"; runId: string; call: CallRecord; fencingToken?: number; fencedBy?: string }
  | { op: "clearCalls"; runId: string; task: string }
  | { op: "importRun"; dump: RunDump; overwrite: boolean }
  | { op: "claimTask"; runId: string; task: string; worker: string; ttlMs: number; at: string; takeOverFrom?: string; start?: TaskStart; seenToken?: number }
  | { op: "heartbeat"; lease: Lease; ttlMs: number; at: string }
  | { op: "releaseTask"; lease: Lease; at: string }
  /** Judged at `at`, the store's clock: a running or paused run, or a live lease, refuses it. */
  | { op: "deleteRun"; runId: string; at: string }
  | { op: "dropJournals"; runId: string; at: string };

/** The op of a reuse: its event only when it reuses a task, its begin and end only when given. */
export function reuseOp(runId: string, tasks: ReusedTask[], event: NewEvent, at: string, options: { begin?: BeginRun; endRun?: RunEnd }): StoreOp {
  const op: StoreOp = { op: "reuseTasks", runId, tasks, at };
  if (tasks.length > 0) op.event = event;
  if (options.begin !== undefined) op.begin = options.begin;
  if (options.endRun !== undefined) op.endRun = options.endRun;
  return op;
}

/** What `check` says of an op: apply it, it changes nothing (a refused claim, an absent task), or a refusal. */
export type Verdict = "apply" | "noop" | Refusal;

export interface RunImage {
  run: Omit<Run, "tasks">;
  tasks: Map<string, TaskRecord>;
  events: RunEvent[];
  calls: Map<string, CallRecord[]>;
}

/** What a claim is judged by: who claims, whom it may take over from, and the token its claimer read. */
interface Claim {
  worker: string;
  takeOverFrom?: string;
  seenToken?: number;
}

/**
 * Whether a claim of a task whose record is `current` is granted at `at` (the store's clock): the
 * token must still be the one the claimer read, and no other worker may hold a lease that has not
 * run out. Judges `claimTask` and a commit's next claim alike.
 */
export function claimGranted(current: TaskRecord | undefined, claim: Claim, at: string): boolean {
  if (claim.seenToken !== undefined && (current?.fencingToken ?? 0) !== claim.seenToken) return false;
  const held = current !== undefined && current.leaseExpiresAt !== null && current.leaseExpiresAt > at && current.worker !== claim.worker && current.worker !== claim.takeOverFrom;
  return !held;
}

/**
 * Why a run cannot be deleted at `at` (the store's clock): it is running or paused, or one of its
 * tasks holds a lease that has not run out. Undefined when it may go.
 */
export function busyOf(status: RunStatus, tasks: Iterable<TaskRecord>, at: string): Busy | undefined {
  if (status === "running" || status === "paused") return busy(status);
  for (const task of tasks) {
    if (task.leaseExpiresAt !== null && task.leaseExpiresAt > at) return busy(status, task.name, task.leaseExpiresAt);
  }
  return undefined;
}

/** UTF-8 bytes of a payload as stored (its JSON text): what a deletion reports it freed. */
export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(encodeJson(value, "a stored payload"));
}

/** The payload bytes of a whole run: inputs, outputs, event data and call responses. */
export function runPayloadBytes(run: { inputs: unknown }, tasks: Iterable<TaskRecord>, events: RunEvent[], calls: Iterable<CallRecord[]>): number {
  let bytes = payloadBytes(run.inputs);
  for (const task of tasks) bytes += payloadBytes(task.output) + payloadBytes(task.structured);
  for (const event of events) bytes += payloadBytes(event.data);
  for (const journal of calls) for (const call of journal) bytes += payloadBytes(call.response);
  return bytes;
}

export class StateImage {
  readonly runs = new Map<string, RunImage>();
  /** The payload bytes the last `deleteRun` or `dropJournals` applied removed. */
  freed = 0;

  /**
   * What applying `op` would do, changing nothing: "apply", "noop" (nothing to change), or the
   * refusal the checked layer words. An op `check` says "apply" to applies whole.
   */
  check(op: StoreOp): Verdict {
    switch (op.op) {
      case "beginRun":
        return this.checkBegin(op.init) ?? "apply";
      case "saveTask":
        return this.fence(op.runId, op.fencedBy ?? op.task.name, op.fencingToken) ?? "apply";
      case "reuseTasks": {
        if (op.begin !== undefined) {
          const refused = this.checkBegin(op.begin);
          if (refused) return refused;
        }
        // A run the begin creates has no records yet: every token read is 0.
        const created = op.begin !== undefined && !this.runs.has(op.runId);
        // Each record is fenced by its own token: any stale one refuses the whole reuse.
        for (const { record, fencingToken } of op.tasks) {
          if (created) {
            if (fencingToken !== 0) return fenced(record.name, 0);
            continue;
          }
          const refused = this.fence(op.runId, record.name, fencingToken);
          if (refused) return refused;
        }
        return created || this.runs.has(op.runId) ? "apply" : noRun;
      }
      case "setRunStatus":
      case "clearCalls":
        return this.runs.has(op.runId) ? "apply" : noRun;
      case "removeTask": {
        const image = this.runs.get(op.runId);
        if (!image) return noRun;
        return image.tasks.has(op.task) ? "apply" : "noop";
      }
      case "recordCall":
        return this.fence(op.runId, op.fencedBy ?? op.call.task, op.fencingToken) ?? "apply";
      case "claimTask": {
        const image = this.runs.get(op.runId);
        if (!image) return noRun;
        return claimGranted(image.tasks.get(op.task), op, op.at) ? "apply" : "noop";
      }
      case "heartbeat":
        return this.fence(op.lease.runId, op.lease.task, op.lease.token) ?? "apply";
      case "releaseTask":
        return this.runs.get(op.lease.runId)?.tasks.get(op.lease.task)?.fencingToken === op.lease.token ? "apply" : "noop";
      case "importRun":
        return this.runs.has(op.dump.run.runId) && !op.overwrite ? exists : "apply";
      case "deleteRun":
      case "dropJournals": {
        const image = this.runs.get(op.runId);
        if (!image) return noRun;
        return busyOf(image.run.status, image.tasks.values(), op.at) ?? "apply";
      }
    }
  }

  /**
   * Applies an op that `check` said "apply" to. Returns the lease it granted — a claim's, or a
   * commit's next claim when that was granted — read from the image once applied.
   */
  apply(op: StoreOp): Lease | undefined {
    switch (op.op) {
      case "beginRun":
        this.begin(op.init, op.at);
        return undefined;
      case "saveTask": {
        const image = this.runs.get(op.runId)!;
        image.tasks.set(op.task.name, structuredClone(op.task));
        for (const call of op.calls ?? []) this.journal(op.runId, call);
        image.run.updatedAt = op.at;
        this.addEvent(op.runId, { ...op.event, task: op.task.name }, op.at);
        const { next } = op;
        const granted = next !== undefined && claimGranted(image.tasks.get(next.task), next, op.at);
        if (granted) this.grant(op.runId, next.task, next.worker, next.ttlMs, op.at, next.start);
        if (op.endRun) this.endRun(op.runId, op.endRun, op.at);
        return granted ? this.lease(op.runId, next.task) : undefined;
      }
      case "reuseTasks": {
        if (op.begin !== undefined) this.begin(op.begin, op.at);
        const image = this.runs.get(op.runId)!;
        for (const { record } of op.tasks) image.tasks.set(record.name, structuredClone(record));
        image.run.updatedAt = op.at;
        if (op.event !== undefined) this.addEvent(op.runId, { ...op.event, task: null }, op.at);
        if (op.endRun) this.endRun(op.runId, op.endRun, op.at);
        return undefined;
      }
      case "setRunStatus":
        this.endRun(op.runId, op, op.at);
        return undefined;
      case "removeTask": {
        const image = this.runs.get(op.runId)!;
        image.tasks.delete(op.task);
        image.calls.delete(op.task);
        image.run.updatedAt = op.at;
        this.addEvent(op.runId, { ...op.event, task: op.task }, op.at);
        return undefined;
      }
      case "recordCall":
        this.journal(op.runId, op.call);
        return undefined;
      case "clearCalls":
        this.runs.get(op.runId)!.calls.delete(op.task);
        return undefined;
      case "claimTask":
        this.grant(op.runId, op.task, op.worker, op.ttlMs, op.at, op.start);
        return this.lease(op.runId, op.task);
      case "heartbeat": {
        const tasks = this.runs.get(op.lease.runId)!.tasks;
        tasks.set(op.lease.task, { ...tasks.get(op.lease.task)!, leaseExpiresAt: isoPlus(op.at, op.ttlMs) });
        return this.lease(op.lease.runId, op.lease.task);
      }
      case "releaseTask": {
        const tasks = this.runs.get(op.lease.runId)!.tasks;
        tasks.set(op.lease.task, { ...tasks.get(op.lease.task)!, leaseExpiresAt: null });
        return undefined;
      }
      case "importRun": {
        const { run, events, calls } = structuredClone(op.dump);
        const { tasks, ...meta } = run;
        const callMap = new Map<string, CallRecord[]>();
        for (const call of calls) callMap.set(call.task, [...(callMap.get(call.task) ?? []), call]);
        for (const list of callMap.values()) list.sort((a, b) => a.position - b.position);
        this.runs.set(run.runId, {
          run: meta,
          tasks: new Map(tasks.map((t) => [t.name, t])),
          events: events.map((e, i) => ({ ...e, seq: i + 1, runId: run.runId })),
          calls: callMap,
        });
        return undefined;
      }
      case "deleteRun": {
        const image = this.runs.get(op.runId)!;
        this.freed = runPayloadBytes(image.run, image.tasks.values(), image.events, image.calls.values());
        this.runs.delete(op.runId);
        return undefined;
      }
      case "dropJournals": {
        const image = this.runs.get(op.runId)!;
        this.freed = 0;
        for (const task of image.tasks.values()) {
          if (task.status !== "completed") continue;
          for (const call of image.calls.get(task.name) ?? []) this.freed += payloadBytes(call.response);
          image.calls.delete(task.name);
        }
        return undefined;
      }
    }
  }

  getRun(runId: string): Run | undefined {
    const image = this.runs.get(runId);
    if (!image) return undefined;
    return structuredClone({ ...image.run, tasks: [...image.tasks.values()] });
  }

  listRuns(): RunSummary[] {
    return [...this.runs.keys()]
      .map((id) => summarize(this.getRun(id)!))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runId < b.runId ? 1 : -1));
  }

  events(runId: string): RunEvent[] {
    return structuredClone(this.runs.get(runId)?.events ?? []);
  }

  /** The lease a task's record holds now, as `claimTask` and `heartbeat` return it. */
  lease(runId: string, task: string): Lease {
    const record = this.runs.get(runId)!.tasks.get(task)!;
    return { runId, task, worker: record.worker!, token: record.fencingToken, expiresAt: record.leaseExpiresAt! };
  }

  calls(runId: string, task: string): CallRecord[] {
    return structuredClone(this.runs.get(runId)?.calls.get(task) ?? []);
  }

  /**
   * The refusal of a write of run `runId` made under `token` (when given), if it is not the
   * current token of the record `fencedBy` (0 when it has none); undefined when it may go ahead.
   */
  private fence(runId: string, fencedBy: string, token: number | undefined): NoRun | Fenced | undefined {
    const image = this.runs.get(runId);
    if (!image) return noRun;
    const current = image.tasks.get(fencedBy)?.fencingToken ?? 0;
    return token !== undefined && current !== token ? fenced(fencedBy, current) : undefined;
  }

  /**
   * Grants a claim `claimGranted` allowed: the task's token grows by one and its record gets the
   * worker and the expiry — on the started record, with its event, when the claim starts the task.
   */
  private grant(runId: string, task: string, worker: string, ttlMs: number, at: string, start: TaskStart | undefined): void {
    const image = this.runs.get(runId)!;
    const record = image.tasks.get(task) ?? newTaskRecord(task);
    const lease = { worker, fencingToken: record.fencingToken + 1, leaseExpiresAt: isoPlus(at, ttlMs) };
    if (start === undefined) {
      image.tasks.set(task, { ...record, ...lease });
      return;
    }
    image.tasks.set(task, { ...structuredClone(start.task), ...lease });
    image.run.updatedAt = at;
    this.addEvent(runId, { ...start.event, task }, at);
  }

  /** The refusal of a begin of a run that is another crew's, or of another kind; undefined when it may go ahead. */
  private checkBegin(init: BeginRun): OtherCrew | OtherKind | undefined {
    const existing = this.runs.get(init.runId);
    if (existing && existing.run.crew !== init.crew && existing.run.crew !== "") return { outcome: "otherCrew", crew: existing.run.crew };
    if (existing && existing.run.kind !== (init.kind ?? "crew")) return { outcome: "otherKind", kind: existing.run.kind };
    return undefined;
  }

  /** Begins a run `checkBegin` allowed: creates it, or sets it running again; appends `run_started` (and `run_planned`). */
  private begin(init: BeginRun, at: string): void {
    const { runId, crew, inputs } = init;
    const existing = this.runs.get(runId);
    if (existing) {
      Object.assign(existing.run, { crew, inputs: { ...inputs }, status: "running", error: null, updatedAt: at });
      existing.run.attempts += 1;
    } else {
      this.runs.set(runId, {
        run: {
          runId,
          crew,
          kind: init.kind ?? "crew",
          parent: structuredClone(init.parent ?? null),
          inputs: { ...inputs },
          status: "running",
          attempts: 1,
          error: null,
          createdAt: at,
          updatedAt: at,
        },
        tasks: new Map(),
        events: [],
        calls: new Map(),
      });
    }
    this.addEvent(runId, { type: "run_started", data: { attempt: this.runs.get(runId)!.run.attempts } }, at);
    if (init.planned !== undefined) this.addEvent(runId, { type: "run_planned", data: init.planned }, at);
  }

  private endRun(runId: string, end: { status: RunStatus; error: string | null; event: NewEvent }, at: string): void {
    const image = this.runs.get(runId)!;
    Object.assign(image.run, { status: end.status, error: end.error, updatedAt: at });
    this.addEvent(runId, end.event, at);
  }

  private journal(runId: string, call: CallRecord): void {
    const journal = this.runs.get(runId)!.calls;
    const kept = (journal.get(call.task) ?? []).filter((c) => c.position !== call.position);
    kept.push(structuredClone(call));
    kept.sort((a, b) => a.position - b.position);
    journal.set(call.task, kept);
  }

  private addEvent(runId: string, event: NewEvent, at: string): void {
    const image = this.runs.get(runId)!;
    image.events.push({ seq: image.events.length + 1, runId, task: event.task ?? null, type: event.type, at, data: structuredClone(event.data ?? null) });
  }
}
