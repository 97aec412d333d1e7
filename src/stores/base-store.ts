import { CrewstateError, FencedOutError, quote } from "../errors.js";
import { checkRunId, checkTaskName, encodeJson } from "./codec.js";
import { checkStoredOutputs } from "./output-check.js";
import type {
  BeginRun,
  CallRecord,
  ClaimOptions,
  CommitOptions,
  FenceOptions,
  Lease,
  NewEvent,
  Run,
  RunDump,
  RunEvent,
  RunKind,
  RunParent,
  RunStatus,
  RunSummary,
  Store,
  TaskRecord,
  TokenUsage,
} from "./store.js";

/**
 * Checks every argument once, for every store, so that all stores refuse the same bad input with
 * the same error; back ends implement the `do*` primitives and may assume valid arguments.
 */
export abstract class BaseStore implements Store {
  abstract readonly location: string;

  protected abstract doBeginRun(init: BeginRun, now: string): Promise<Run>;
  protected abstract doGetRun(runId: string): Promise<Run | undefined>;
  protected abstract doListRuns(): Promise<RunSummary[]>;
  protected abstract doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<void>;
  protected abstract doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<void>;
  protected abstract doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<boolean>;
  protected abstract doEvents(runId: string): Promise<RunEvent[]>;
  protected abstract doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void>;
  protected abstract doCalls(runId: string, task: string): Promise<CallRecord[]>;
  protected abstract doClearCalls(runId: string, task: string): Promise<void>;
  protected abstract doImportRun(dump: RunDump, overwrite: boolean): Promise<void>;
  protected abstract doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined>;
  protected abstract doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease>;
  protected abstract doReleaseTask(lease: Lease): Promise<void>;
  abstract close(): Promise<void>;

  /** The clock that stamps records; stores with a server clock override it. */
  protected now(): string {
    return new Date().toISOString();
  }

  async beginRun(init: BeginRun): Promise<Run> {
    checkRunId(init.runId);
    if (typeof init.crew !== "string" || init.crew.length === 0) {
      throw new CrewstateError("INVALID_DEFINITION", "a run needs a crew name", { runId: init.runId });
    }
    checkInputs(init.inputs, init.runId);
    const kind = checkKind(init.kind ?? "crew", init.runId);
    const parent = checkParent(init.parent ?? null, init.runId);
    return this.checkOutputs(await this.doBeginRun({ ...init, kind, parent }, this.now()));
  }

  async getRun(runId: string): Promise<Run | undefined> {
    const run = await this.doGetRun(checkRunId(runId));
    return run && this.checkOutputs(run);
  }

  /**
   * Every run leaves the store through here: a task whose stored output no longer matches its
   * output hash is CORRUPT_STATE. The JSON store, whose file people edit by hand, overrides it.
   */
  protected checkOutputs(run: Run): Run {
    return checkStoredOutputs(run, this.location);
  }

  async listRuns(): Promise<RunSummary[]> {
    return this.doListRuns();
  }

  async saveTask(runId: string, task: TaskRecord, event: NewEvent, options: CommitOptions = {}): Promise<void> {
    checkRunId(runId);
    checkTaskRecord(task);
    if (options.fencedBy !== undefined) checkTaskName(options.fencedBy);
    encodeJson(event.data ?? null, `event data of task ${quote(task.name)}`);
    for (const call of options.calls ?? []) {
      if (call.task !== task.name) {
        throw new CrewstateError("INVALID_INPUT", `a commit of task ${quote(task.name)} cannot journal a call of task ${quote(call.task)}`, { runId, task: task.name });
      }
      checkCall(call);
    }
    return this.doSaveTask(runId, task, event, this.now(), options);
  }

  async setRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent): Promise<void> {
    checkRunId(runId);
    encodeJson(event.data ?? null, "event data");
    return this.doSetRunStatus(runId, status, error, event, this.now());
  }

  async removeTask(runId: string, task: string, event: NewEvent): Promise<boolean> {
    return this.doRemoveTask(checkRunId(runId), checkTaskName(task), event, this.now());
  }

  async events(runId: string): Promise<RunEvent[]> {
    return this.doEvents(checkRunId(runId));
  }

  async recordCall(runId: string, call: CallRecord, options: FenceOptions = {}): Promise<void> {
    checkRunId(runId);
    checkCall(call);
    if (options.fencedBy !== undefined) checkTaskName(options.fencedBy);
    return this.doRecordCall(runId, call, options);
  }

  async calls(runId: string, task: string): Promise<CallRecord[]> {
    return this.doCalls(checkRunId(runId), checkTaskName(task));
  }

  async clearCalls(runId: string, task: string): Promise<void> {
    return this.doClearCalls(checkRunId(runId), checkTaskName(task));
  }

  async claimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions = {}): Promise<Lease | undefined> {
    checkRunId(runId);
    checkTaskName(task);
    checkWorker(worker);
    if (options.takeOverFrom !== undefined) checkWorker(options.takeOverFrom);
    if (options.seenToken !== undefined && (!Number.isInteger(options.seenToken) || options.seenToken < 0)) {
      throw new CrewstateError("INVALID_INPUT", `a claim of task ${quote(task)} names token ${options.seenToken}; tokens are whole numbers from 0`, { runId, task });
    }
    if (options.start !== undefined) {
      checkTaskRecord(options.start.task);
      if (options.start.task.name !== task) {
        throw new CrewstateError("INVALID_INPUT", `a claim of task ${quote(task)} cannot start task ${quote(options.start.task.name)}`, { runId, task });
      }
      encodeJson(options.start.event.data ?? null, `event data of task ${quote(task)}`);
    }
    return this.doClaimTask(runId, task, worker, checkTtl(ttlMs), options);
  }

  async heartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    checkLease(lease);
    return this.doHeartbeat(lease, checkTtl(ttlMs));
  }

  async releaseTask(lease: Lease): Promise<void> {
    checkLease(lease);
    return this.doReleaseTask(lease);
  }

  async importRun(dump: RunDump, options: { overwrite?: boolean } = {}): Promise<void> {
    checkRunId(dump.run.runId);
    checkInputs(dump.run.inputs, dump.run.runId);
    const kind = checkKind(dump.run.kind ?? "crew", dump.run.runId);
    const parent = checkParent(dump.run.parent ?? null, dump.run.runId);
    dump = { ...dump, run: { ...dump.run, kind, parent } };
    for (const task of dump.run.tasks) checkTaskRecord(task);
    for (const call of dump.calls) checkCall(call);
    for (const event of dump.events) encodeJson(event.data, `data of event ${event.seq} of run ${quote(dump.run.runId)}`);
    return this.doImportRun(dump, options.overwrite === true);
  }

  async exportRun(runId: string): Promise<RunDump | undefined> {
    const dump = await this.doExportRun(checkRunId(runId));
    if (dump) this.checkOutputs(dump.run);
    return dump;
  }

  /** Reads a whole run; stores that can read it in one snapshot override this. */
  protected async doExportRun(runId: string): Promise<RunDump | undefined> {
    const run = await this.getRun(runId);
    if (!run) return undefined;
    const events = await this.events(runId);
    const calls: CallRecord[] = [];
    for (const task of run.tasks) calls.push(...(await this.calls(runId, task.name)));
    return { run, events, calls };
  }
}

function checkInputs(inputs: unknown, runId: string): void {
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
    throw new CrewstateError("INVALID_INPUT", `inputs of run ${quote(runId)} must be an object of JSON values`, { runId });
  }
  encodeJson(inputs, `inputs of run ${quote(runId)}`);
}

function checkKind(kind: unknown, runId: string): RunKind {
  if (kind !== "crew" && kind !== "flow") {
    throw new CrewstateError("INVALID_INPUT", `run ${quote(runId)} has kind ${quote(kind)}; a run is a "crew" or a "flow" run`, { runId });
  }
  return kind;
}

/** A parent names a valid run ID and, when not null, a valid task name; returned as a copy. */
function checkParent(parent: RunParent | null, runId: string): RunParent | null {
  if (parent === null) return null;
  if (typeof parent !== "object") {
    throw new CrewstateError("INVALID_INPUT", `the parent of run ${quote(runId)} must be {runId, task} or null`, { runId });
  }
  checkRunId(parent.runId);
  if (parent.task !== null) checkTaskName(parent.task);
  return { runId: parent.runId, task: parent.task };
}

/** Token counts are whole and not negative; a cost is a finite, non-negative number or null. */
function checkUsage(usage: TokenUsage | null, what: string): void {
  if (usage === null) return;
  const tokens = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  const cost = usage.costUsd === null || (typeof usage.costUsd === "number" && Number.isFinite(usage.costUsd) && usage.costUsd >= 0);
  if (typeof usage !== "object" || !tokens(usage.inputTokens) || !tokens(usage.outputTokens) || !cost) {
    throw new CrewstateError("INVALID_INPUT", `${what} is not valid usage: token counts are whole numbers ≥ 0 and the cost a number ≥ 0 or null`);
  }
}

function checkCall(call: CallRecord): void {
  checkTaskName(call.task);
  encodeJson(call.response, `call ${call.position} of task ${quote(call.task)}`);
  checkUsage(call.usage, `usage of call ${call.position} of task ${quote(call.task)}`);
}

function checkTaskRecord(task: TaskRecord): void {
  checkTaskName(task.name);
  checkUsage(task.usage, `usage of task ${quote(task.name)}`);
  encodeJson(task.output, `output of task ${quote(task.name)}`);
  encodeJson(task.structured, `structured output of task ${quote(task.name)}`);
}

const MAX_TTL_MS = 24 * 60 * 60 * 1000;

function checkTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw new CrewstateError("INVALID_INPUT", `a lease TTL must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}, got ${ttlMs}`);
  }
  return ttlMs;
}

function checkWorker(worker: unknown): void {
  if (typeof worker !== "string" || worker.length === 0 || worker.length > 200 || /[\u0000-\u001f]/.test(worker)) {
    throw new CrewstateError("INVALID_INPUT", `worker ID ${JSON.stringify(worker)} is not valid: use 1-200 printable characters`);
  }
}

function checkLease(lease: Lease): void {
  checkRunId(lease.runId);
  checkTaskName(lease.task);
  checkWorker(lease.worker);
  if (typeof lease.expiresAt !== "string" || Number.isNaN(Date.parse(lease.expiresAt))) {
    throw new CrewstateError("INVALID_INPUT", `lease of task ${quote(lease.task)} has no valid expiry time`);
  }
  if (!Number.isInteger(lease.token) || lease.token < 1) {
    throw new CrewstateError("INVALID_INPUT", `lease of task ${quote(lease.task)} has token ${lease.token}; tokens are whole numbers from 1`);
  }
}

/**
 * The refusal of a write (`what`) of `task` made under `token` when the current token of the record
 * it is fenced by — `fencedBy`, or the task itself — is `current`.
 */
export function fencedOut(what: string, runId: string, task: string, fencedBy: string | undefined, token: number | undefined, current: number | string, store: string): FencedOutError {
  const context = { runId, task, store, ...(fencedBy === undefined ? {} : { fencedBy }) };
  if (fencedBy === undefined || fencedBy === task) {
    return new FencedOutError(`${what} of task ${quote(task)} in run ${quote(runId)} carries fencing token ${token}, but the current token is ${current}`, context);
  }
  return new FencedOutError(
    `${what} of task ${quote(task)} in run ${quote(runId)} is fenced by ${quote(fencedBy)}: it carries fencing token ${token}, but the current token of ${quote(fencedBy)} is ${current}`,
    context,
  );
}

/** The refusal of a begin of `runId` as a run of `kind` when the run is of kind `existing`. */
export function kindMismatch(runId: string, existing: RunKind, kind: RunKind, store: string): CrewstateError {
  return new CrewstateError("RUN_MISMATCH", `run ${quote(runId)} is a ${existing} run, not a ${kind} run; use another run ID`, { runId, store });
}

/** The time `ms` after an ISO timestamp, as an ISO timestamp. */
export function isoPlus(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

/** Turns a full run into its summary row. */
export function summarize(run: Run): RunSummary {
  const { tasks, inputs: _inputs, ...rest } = run;
  return {
    ...rest,
    taskCount: tasks.length,
    completedCount: tasks.filter((t) => t.status === "completed" || t.status === "skipped").length,
  };
}
