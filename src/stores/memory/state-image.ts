import { CrewstateError, FencedOutError, quote } from "../errors.js";
import { fencedOut, isoPlus, kindMismatch, summarize } from "./base-store.js";
import { newTaskRecord, type BeginRun, type CallRecord, type Lease, type NewEvent, type Run, type RunDump, type RunEvent, type RunStatus, type RunSummary, type TaskRecord, type TaskStart } from "./store.js";

/**
 * An in-memory image of a store's runs, changed only by applying `StoreOp`s. The memory store is
 * this image alone; the JSON file store journals each op before applying it and replays the
 * journal on open, so both share one set of semantics.
 */
export type StoreOp =
  | { op: "beginRun"; init: BeginRun; at: string }
  | { op: "saveTask"; runId: string; task: TaskRecord; event: NewEvent; at: string; fencingToken?: number; fencedBy?: string; calls?: CallRecord[] }
  | { op: "setRunStatus"; runId: string; status: RunStatus; error: string | null; event: NewEvent; at: string }
  | { op: "removeTask"; runId: string; task: string; event: NewEvent; at: string }
  | { op: "recordCall"; runId: string; call: CallRecord; fencingToken?: number; fencedBy?: string }
  | { op: "clearCalls"; runId: string; task: string }
  | { op: "importRun"; dump: RunDump; overwrite: boolean }
  | { op: "claimTask"; runId: string; task: string; worker: string; ttlMs: number; at: string; takeOverFrom?: string; start?: TaskStart; seenToken?: number }
  | { op: "heartbeat"; lease: Lease; ttlMs: number; at: string }
  | { op: "releaseTask"; lease: Lease; at: string };

export interface RunImage {
  run: Omit<Run, "tasks">;
  tasks: Map<string, TaskRecord>;
  events: RunEvent[];
  calls: Map<string, CallRecord[]>;
}

export class StateImage {
  readonly runs = new Map<string, RunImage>();

  constructor(private readonly storeName: string) {}

  /** Throws what applying `op` would refuse, changing nothing; returns false for a no-op. */
  check(op: StoreOp): boolean {
    switch (op.op) {
      case "beginRun": {
        const existing = this.runs.get(op.init.runId);
        if (existing && existing.run.crew !== op.init.crew && existing.run.crew !== "") {
          throw new CrewstateError(
            "RUN_MISMATCH",
            `run ${quote(op.init.runId)} belongs to crew ${quote(existing.run.crew)}, not ${quote(op.init.crew)}; use another run ID`,
            { runId: op.init.runId, store: this.storeName },
          );
        }
        const kind = op.init.kind ?? "crew";
        if (existing && existing.run.kind !== kind) throw kindMismatch(op.init.runId, existing.run.kind, kind, this.storeName);
        return true;
      }
      case "saveTask":
        this.checkFence(op.runId, op.task.name, op.fencedBy, op.fencingToken, "commit");
        return true;
      case "setRunStatus":
        this.require(op.runId);
        return true;
      case "removeTask":
        return this.require(op.runId).tasks.has(op.task);
      case "recordCall":
        this.checkFence(op.runId, op.call.task, op.fencedBy, op.fencingToken, "journal entry");
        return true;
      case "clearCalls":
        this.require(op.runId);
        return true;
      case "claimTask": {
        const current = this.require(op.runId).tasks.get(op.task);
        if (op.seenToken !== undefined && (current?.fencingToken ?? 0) !== op.seenToken) return false;
        const held =
          current !== undefined &&
          current.leaseExpiresAt !== null &&
          current.leaseExpiresAt > op.at &&
          current.worker !== op.worker &&
          current.worker !== op.takeOverFrom;
        return !held;
      }
      case "heartbeat": {
        const current = this.require(op.lease.runId).tasks.get(op.lease.task);
        if ((current?.fencingToken ?? 0) !== op.lease.token) {
          throw new FencedOutError(
            `heartbeat of task ${quote(op.lease.task)} in run ${quote(op.lease.runId)} carries fencing token ${op.lease.token}, but the current token is ${current?.fencingToken ?? 0}`,
            { runId: op.lease.runId, task: op.lease.task, store: this.storeName },
          );
        }
        return true;
      }
      case "releaseTask":
        return this.runs.get(op.lease.runId)?.tasks.get(op.lease.task)?.fencingToken === op.lease.token;
      case "importRun":
        if (this.runs.has(op.dump.run.runId) && !op.overwrite) {
          throw new CrewstateError(
            "RUN_EXISTS",
            `run ${quote(op.dump.run.runId)} already exists in ${this.storeName}; pass --overwrite to replace it`,
            { runId: op.dump.run.runId, store: this.storeName },
          );
        }
        return true;
    }
  }

  /** Applies an op that `check` accepted. */
  apply(op: StoreOp): void {
    switch (op.op) {
      case "beginRun": {
        const { runId, crew, inputs } = op.init;
        const existing = this.runs.get(runId);
        if (existing) {
          Object.assign(existing.run, { crew, inputs: { ...inputs }, status: "running", error: null, updatedAt: op.at });
          existing.run.attempts += 1;
        } else {
          this.runs.set(runId, {
            run: {
              runId,
              crew,
              kind: op.init.kind ?? "crew",
              parent: structuredClone(op.init.parent ?? null),
              inputs: { ...inputs },
              status: "running",
              attempts: 1,
              error: null,
              createdAt: op.at,
              updatedAt: op.at,
            },
            tasks: new Map(),
            events: [],
            calls: new Map(),
          });
        }
        this.addEvent(runId, { type: "run_started", data: { attempt: this.runs.get(runId)!.run.attempts } }, op.at);
        return;
      }
      case "saveTask": {
        const image = this.runs.get(op.runId)!;
        image.tasks.set(op.task.name, structuredClone(op.task));
        for (const call of op.calls ?? []) this.journal(op.runId, call);
        image.run.updatedAt = op.at;
        this.addEvent(op.runId, { ...op.event, task: op.task.name }, op.at);
        return;
      }
      case "setRunStatus": {
        const image = this.runs.get(op.runId)!;
        Object.assign(image.run, { status: op.status, error: op.error, updatedAt: op.at });
        this.addEvent(op.runId, op.event, op.at);
        return;
      }
      case "removeTask": {
        const image = this.runs.get(op.runId)!;
        image.tasks.delete(op.task);
        image.calls.delete(op.task);
        image.run.updatedAt = op.at;
        this.addEvent(op.runId, { ...op.event, task: op.task }, op.at);
        return;
      }
      case "recordCall":
        this.journal(op.runId, op.call);
        return;
      case "clearCalls":
        this.runs.get(op.runId)!.calls.delete(op.task);
        return;
      case "claimTask": {
        const tasks = this.runs.get(op.runId)!.tasks;
        const record = tasks.get(op.task) ?? newTaskRecord(op.task);
        const lease = { worker: op.worker, fencingToken: record.fencingToken + 1, leaseExpiresAt: isoPlus(op.at, op.ttlMs) };
        if (op.start === undefined) {
          tasks.set(op.task, { ...record, ...lease });
          return;
        }
        tasks.set(op.task, { ...structuredClone(op.start.task), ...lease });
        this.runs.get(op.runId)!.run.updatedAt = op.at;
        this.addEvent(op.runId, { ...op.start.event, task: op.task }, op.at);
        return;
      }
      case "heartbeat": {
        const tasks = this.runs.get(op.lease.runId)!.tasks;
        tasks.set(op.lease.task, { ...tasks.get(op.lease.task)!, leaseExpiresAt: isoPlus(op.at, op.ttlMs) });
        return;
      }
      case "releaseTask": {
        const tasks = this.runs.get(op.lease.runId)!.tasks;
        tasks.set(op.lease.task, { ...tasks.get(op.lease.task)!, leaseExpiresAt: null });
        return;
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
        return;
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

  /** Refuses a write made under `token` (when given) unless it is the current token of `fencedBy` (default: the task). */
  private checkFence(runId: string, task: string, fencedBy: string | undefined, token: number | undefined, what: string): void {
    const current = this.require(runId).tasks.get(fencedBy ?? task)?.fencingToken ?? 0;
    if (token !== undefined && current !== token) throw fencedOut(what, runId, task, fencedBy, token, current, this.storeName);
  }

  private require(runId: string): RunImage {
    const image = this.runs.get(runId);
    if (!image) {
      throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${this.storeName}`, { runId, store: this.storeName });
    }
    return image;
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
