import { CrewstateError, FencedOutError, quote } from "../errors.js";
import { checkRunId, checkTaskName, encodeJson } from "./codec.js";
import { outputHashOf } from "../hash.js";
import { checkStoredOutputs } from "./output-check.js";
import { refuseSealedRun, refuseSealed, Sealer, type EncryptionOptions } from "./seal.js";
import type { Busy, Exists, Fenced, NoRun, Ok, OtherCrew, OtherKind } from "./outcomes.js";
import type {
  BeginRun,
  CallRecord,
  Freed,
  ClaimOptions,
  CommitOptions,
  FenceOptions,
  Lease,
  NewEvent,
  NextClaim,
  Run,
  RunDump,
  RunEvent,
  RunKind,
  RunEnd,
  RunParent,
  RunStatus,
  RunSummary,
  ReusedTask,
  ReuseOptions,
  Store,
  TaskRecord,
  TaskStart,
  TokenUsage,
} from "./store.js";

/**
 * The one checked layer above every back end. It checks every argument, normalises what the
 * contract fixes (an event saved with a task names that task; an import names each task once and
 * each journal position once), and words every refusal, so that all stores refuse the same bad
 * input, and report the same conflict, with the same error. Back ends implement the `do*` atomic
 * steps, may assume valid arguments, and report refusals as outcomes (see `./outcomes.ts`).
 */
export abstract class BaseStore implements Store {
  abstract readonly location: string;

  protected abstract doBeginRun(init: BeginRun, now: string): Promise<Ok<Run> | OtherCrew | OtherKind>;
  protected abstract doGetRun(runId: string): Promise<Run | undefined>;
  protected abstract doListRuns(): Promise<RunSummary[]>;
  /** `event.task` is the task's name. The claim of `options.next`, when refused, is `ok(undefined)`. */
  protected abstract doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced>;
  /** With `options.begin`, the run is begun first in the same commit (as `doBeginRun`), and `noRun` cannot be. */
  protected abstract doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, now: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind>;
  protected abstract doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<Ok | NoRun>;
  /** `event.task` is the task's name. */
  protected abstract doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<Ok<boolean> | NoRun>;
  protected abstract doEvents(runId: string): Promise<RunEvent[]>;
  protected abstract doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced>;
  protected abstract doCalls(runId: string, task: string): Promise<CallRecord[]>;
  protected abstract doClearCalls(runId: string, task: string): Promise<Ok | NoRun>;
  /** `dump` names each task once and each (task, position) once. */
  protected abstract doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists>;
  protected abstract doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun>;
  protected abstract doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced>;
  protected abstract doReleaseTask(lease: Lease): Promise<void>;
  /**
   * Deletes the run whole in one commit, unless it is busy — `running` or `paused`, or a task
   * holds a lease that has not run out by the store's clock — judged inside that commit.
   */
  protected abstract doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy>;
  /** Deletes the journals of the run's completed tasks in one commit, refused as `doDeleteRun` is. */
  protected abstract doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy>;
  abstract close(): Promise<void>;

  /** Seals values on the way in and opens them on the way out (encryption at rest); none when off. */
  private sealer: Sealer | undefined;

  /**
   * Turns encryption at rest on (or, with undefined, off) for this handle: every value written
   * from now on is sealed, and sealed values read are opened (see ./seal.ts, docs/encryption.md).
   */
  useEncryption(encryption: EncryptionOptions | Sealer | undefined): this {
    this.sealer = encryption === undefined || encryption instanceof Sealer ? encryption : new Sealer(encryption);
    return this;
  }

  /** With encryption on: turns a plain hash into its keyed form, which is what gets stored. */
  get hasher(): ((hash: string) => string) | undefined {
    return this.sealer?.keyHash;
  }

  /** A stored run opened: its sealed values opened, or KEY_REQUIRED with no key. */
  private opened(run: Run): Run {
    if (this.sealer) return this.sealer.openRun(run, outputHashOf);
    refuseSealedRun(run);
    return run;
  }

  private sealedTask(runId: string, task: TaskRecord): TaskRecord {
    return this.sealer ? this.sealer.sealTask(runId, task) : task;
  }

  private sealedEvent<E extends NewEvent>(runId: string, event: E): E {
    return this.sealer ? this.sealer.sealEvent(runId, event) : event;
  }

  private sealedEnd(runId: string, end: RunEnd | undefined): RunEnd | undefined {
    if (!this.sealer || end === undefined) return end;
    return { ...end, error: this.sealer.sealRunError(runId, end.error), event: this.sealer.sealEvent(runId, end.event) };
  }

  private sealedStart(runId: string, start: TaskStart | undefined): TaskStart | undefined {
    if (!this.sealer || start === undefined) return start;
    return { task: this.sealer.sealTask(runId, start.task), event: this.sealer.sealEvent(runId, { ...start.event, task: start.task.name }) };
  }

  /** The clock that stamps records; stores with a server clock override it. */
  protected now(): string {
    return new Date().toISOString();
  }

  async beginRun(init: BeginRun): Promise<Run> {
    const begin = checkBegin(init);
    // A run sealed with a key this handle lacks is refused before anything is written.
    const before = await this.doGetRun(begin.runId);
    if (before) this.opened(before);
    const outcome = await this.doBeginRun(this.sealedBegin(begin), this.now());
    if (outcome.outcome !== "ok") throw this.mismatch(outcome, begin);
    return this.checkOutputs(this.opened(outcome.value));
  }

  /** A begin as stored: its inputs and plan sealed when encryption is on. */
  private sealedBegin(begin: BeginRun): BeginRun {
    if (!this.sealer) return begin;
    const sealed: BeginRun = { ...begin, inputs: this.sealer.sealInputs(begin.runId, begin.inputs) };
    if (begin.planned !== undefined) sealed.planned = this.sealer.sealEvent(begin.runId, { type: "run_planned", task: null, data: begin.planned }).data!;
    return sealed;
  }

  /** The refusal of a begin of a run that is another crew's, or of another kind. */
  private mismatch(outcome: OtherCrew | OtherKind, init: BeginRun): CrewstateError {
    const context = { runId: init.runId, store: this.location };
    if (outcome.outcome === "otherCrew") {
      return new CrewstateError("RUN_MISMATCH", `run ${quote(init.runId)} belongs to crew ${quote(outcome.crew)}, not ${quote(init.crew)}; use another run ID`, context);
    }
    return new CrewstateError("RUN_MISMATCH", `run ${quote(init.runId)} is a ${outcome.kind} run, not a ${init.kind ?? "crew"} run; use another run ID`, context);
  }

  async getRun(runId: string): Promise<Run | undefined> {
    const run = await this.doGetRun(checkRunId(runId));
    return run && this.checkOutputs(this.opened(run));
  }

  /**
   * Every run leaves the store through here: a task whose stored output no longer matches its
   * output hash is CORRUPT_STATE. The JSON store, whose file people edit by hand, overrides it.
   */
  protected checkOutputs(run: Run): Run {
    return checkStoredOutputs(run, this.location);
  }

  async listRuns(): Promise<RunSummary[]> {
    const runs = await this.doListRuns();
    const sealer = this.sealer;
    // Names, statuses and times stay readable; a sealed error shows as such without the key.
    const open = (r: RunSummary): string => {
      if (!sealer) return sealedText(r.error!);
      try {
        return sealer.openJson(r.error, { runId: r.runId, task: "", field: "error" }) as string;
      } catch {
        return sealedText(r.error!); // another key's: the list still shows the run
      }
    };
    return runs.map((r) => (r.error === null ? r : { ...r, error: open(r) }));
  }

  async saveTask(runId: string, task: TaskRecord, event: NewEvent, options: CommitOptions = {}): Promise<Lease | undefined> {
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
    if (options.next !== undefined) {
      checkNextClaim(options.next, runId);
      if (options.next.task === task.name) throw new CrewstateError("INVALID_INPUT", `a commit of task ${quote(task.name)} cannot claim that same task next`, { runId, task: task.name });
    }
    if (options.endRun !== undefined) checkRunEnd(options.endRun);
    let sealedOptions = options;
    if (this.sealer) {
      const sealer = this.sealer;
      sealedOptions = { ...options, calls: options.calls?.map((c) => sealer.sealCall(runId, c)), endRun: this.sealedEnd(runId, options.endRun) };
      if (options.next !== undefined) sealedOptions.next = { ...options.next, start: this.sealedStart(runId, options.next.start)! };
    }
    const outcome = await this.doSaveTask(runId, this.sealedTask(runId, task), this.sealedEvent(runId, { ...event, task: task.name }), this.now(), sealedOptions);
    return this.valueOf(outcome, runId, "commit", task.name, options);
  }

  async reuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, options: ReuseOptions = {}): Promise<void> {
    checkRunId(runId);
    const begin = options.begin === undefined ? undefined : checkBegin(options.begin);
    if (begin !== undefined && begin.runId !== runId) {
      throw new CrewstateError("INVALID_INPUT", `a reuse in run ${quote(runId)} cannot begin run ${quote(begin.runId)}`, { runId });
    }
    const names = new Set<string>();
    for (const { record, fencingToken } of tasks) {
      checkTaskRecord(record);
      checkToken(fencingToken, `the reuse of task ${quote(record.name)}`, 0);
      if (names.has(record.name)) throw new CrewstateError("INVALID_INPUT", `a reuse names task ${quote(record.name)} twice`, { runId, task: record.name });
      names.add(record.name);
    }
    encodeJson(event.data ?? null, "event data of a reuse");
    if (options.endRun !== undefined) checkRunEnd(options.endRun);
    if (tasks.length === 0 && options.endRun === undefined && begin === undefined) return;
    const sealed = this.sealer ? tasks.map((t) => ({ ...t, record: this.sealedTask(runId, t.record) })) : tasks;
    const sealedOptions: ReuseOptions = { ...options, begin: begin && this.sealedBegin(begin) };
    if (options.endRun !== undefined) sealedOptions.endRun = this.sealedEnd(runId, options.endRun)!;
    const outcome = await this.doReuseTasks(runId, sealed, this.sealedEvent(runId, { ...event, task: null }), this.now(), sealedOptions);
    if (outcome.outcome === "fenced") {
      const read = tasks.find((t) => t.record.name === outcome.task)?.fencingToken;
      throw fencedOut("reuse", runId, outcome.task, undefined, read, outcome.current, this.location);
    }
    if (outcome.outcome === "otherCrew" || outcome.outcome === "otherKind") throw this.mismatch(outcome, begin!);
    this.valueOf(outcome, runId, "reuse", "", {});
  }

  async setRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent): Promise<void> {
    checkRunId(runId);
    checkRunEnd({ status, error, event });
    const end = this.sealedEnd(runId, { status, error, event })!;
    this.valueOf(await this.doSetRunStatus(runId, status, end.error, end.event, this.now()), runId, "status", "", {});
  }

  async removeTask(runId: string, task: string, event: NewEvent): Promise<boolean> {
    checkRunId(runId);
    checkTaskName(task);
    encodeJson(event.data ?? null, `event data of task ${quote(task)}`);
    return this.valueOf(await this.doRemoveTask(runId, task, this.sealedEvent(runId, { ...event, task }), this.now()), runId, "removal", task, {});
  }

  async events(runId: string): Promise<RunEvent[]> {
    const events = await this.doEvents(checkRunId(runId));
    const sealer = this.sealer;
    if (sealer) return events.map((e) => sealer.openEvent(e));
    for (const e of events) refuseSealed(e.data, { runId, task: e.task ?? "", field: "event data" });
    return events;
  }

  async recordCall(runId: string, call: CallRecord, options: FenceOptions = {}): Promise<void> {
    checkRunId(runId);
    checkCall(call);
    if (options.fencedBy !== undefined) checkTaskName(options.fencedBy);
    const stored = this.sealer ? this.sealer.sealCall(runId, call) : call;
    this.valueOf(await this.doRecordCall(runId, stored, options), runId, "journal entry", call.task, options);
  }

  async calls(runId: string, task: string): Promise<CallRecord[]> {
    const calls = await this.doCalls(checkRunId(runId), checkTaskName(task));
    const sealer = this.sealer;
    if (sealer) return calls.map((c) => sealer.openCall(runId, c));
    for (const c of calls) refuseSealed(c.response, { runId, task, field: "journal" });
    return calls;
  }

  async clearCalls(runId: string, task: string): Promise<void> {
    this.valueOf(await this.doClearCalls(checkRunId(runId), checkTaskName(task)), runId, "clear", task, {});
  }

  async claimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions = {}): Promise<Lease | undefined> {
    checkRunId(runId);
    checkTaskName(task);
    checkWorker(worker);
    if (options.takeOverFrom !== undefined) checkWorker(options.takeOverFrom);
    if (options.seenToken !== undefined) checkToken(options.seenToken, `a claim of task ${quote(task)}`, 0);
    if (options.start !== undefined) checkStart(options.start, task, runId);
    const sealedOptions = options.start === undefined || !this.sealer ? options : { ...options, start: this.sealedStart(runId, options.start)! };
    return this.valueOf(await this.doClaimTask(runId, task, worker, checkTtl(ttlMs), sealedOptions), runId, "claim", task, {});
  }

  async heartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    checkLease(lease);
    const outcome = await this.doHeartbeat(lease, checkTtl(ttlMs));
    return this.valueOf(outcome, lease.runId, "heartbeat", lease.task, { fencingToken: lease.token });
  }

  async releaseTask(lease: Lease): Promise<void> {
    checkLease(lease);
    return this.doReleaseTask(lease);
  }

  async deleteRun(runId: string): Promise<Freed> {
    return this.busyOrValue(await this.doDeleteRun(checkRunId(runId)), runId, "deleted");
  }

  async dropJournals(runId: string): Promise<Freed> {
    return this.busyOrValue(await this.doDropJournals(checkRunId(runId)), runId, "have its journals dropped");
  }

  private busyOrValue(outcome: Ok<Freed> | NoRun | Busy, runId: string, what: string): Freed {
    if (outcome.outcome !== "busy") return this.valueOf(outcome, runId, what, "", {});
    const context = { runId, store: this.location, status: outcome.status, ...(outcome.task === null ? {} : { task: outcome.task }) };
    const why =
      outcome.task === null
        ? `it is ${outcome.status}`
        : `task ${quote(outcome.task)} holds a lease until ${outcome.expiresAt} (a worker may still commit it)`;
    throw new CrewstateError("RUN_BUSY", `run ${quote(runId)} cannot be ${what}: ${why}`, context);
  }

  async importRun(dump: RunDump, options: { overwrite?: boolean } = {}): Promise<void> {
    checkRunId(dump.run.runId);
    checkInputs(dump.run.inputs, dump.run.runId);
    const kind = checkKind(dump.run.kind ?? "crew", dump.run.runId);
    const parent = checkParent(dump.run.parent ?? null, dump.run.runId);
    for (const task of dump.run.tasks) checkTaskRecord(task);
    for (const call of dump.calls) checkCall(call);
    for (const event of dump.events) encodeJson(event.data, `data of event ${event.seq} of run ${quote(dump.run.runId)}`);
    const normalised: RunDump = { ...dump, run: { ...dump.run, kind, parent, tasks: onceEach(dump.run.tasks) }, calls: lastCallAtEachPosition(dump.calls) };
    // Values already sealed (a dump moving between stores as it is) stay as they are.
    const outcome = await this.doImportRun(this.sealer ? this.sealer.sealDump(normalised) : normalised, options.overwrite === true);
    if (outcome.outcome === "exists") {
      throw new CrewstateError("RUN_EXISTS", `run ${quote(dump.run.runId)} already exists in ${this.location}; pass --overwrite to replace it`, {
        runId: dump.run.runId,
        store: this.location,
      });
    }
  }

  /**
   * A whole run, its values opened. With `sealed`, its values as stored — sealed ones stay sealed
   * (what `crewstate export` writes unless `--decrypt`, and what `migrate` moves).
   */
  async exportRun(runId: string, options: { sealed?: boolean } = {}): Promise<RunDump | undefined> {
    const dump = await this.doExportRun(checkRunId(runId));
    if (!dump || options.sealed === true) return dump;
    const run = this.checkOutputs(this.opened(dump.run));
    const sealer = this.sealer;
    if (!sealer) {
      for (const e of dump.events) refuseSealed(e.data, { runId, task: e.task ?? "", field: "event data" });
      for (const c of dump.calls) refuseSealed(c.response, { runId, task: c.task, field: "journal" });
      return { ...dump, run };
    }
    return { run, events: dump.events.map((e) => sealer.openEvent(e)), calls: dump.calls.map((c) => sealer.openCall(runId, c)) };
  }

  /** Reads a whole run as stored; stores that can read it in one snapshot override this. */
  protected async doExportRun(runId: string): Promise<RunDump | undefined> {
    const run = await this.doGetRun(runId);
    if (!run) return undefined;
    const events = await this.doEvents(runId);
    const calls: CallRecord[] = [];
    for (const task of run.tasks) calls.push(...(await this.doCalls(runId, task.name)));
    return { run, events, calls };
  }

  /** The value of an outcome; a refusal becomes its error (`what` of `task`, fenced as `fence` says). */
  private valueOf<T>(outcome: Ok<T> | NoRun | Fenced, runId: string, what: string, task: string, fence: FenceOptions): T {
    switch (outcome.outcome) {
      case "ok":
        return outcome.value;
      case "noRun":
        throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${this.location}`, { runId, store: this.location });
      case "fenced":
        throw fencedOut(what, runId, task, fence.fencedBy, fence.fencingToken, outcome.current, this.location);
    }
  }
}

/** A sealed value as shown without its key. */
function sealedText(value: string): string {
  return /^cs1:/.test(value) ? "(sealed)" : value;
}

/** An import's tasks with each name once: in its first place, with its last record. */
function onceEach(tasks: TaskRecord[]): TaskRecord[] {
  const byName = new Map<string, TaskRecord>();
  for (const task of tasks) byName.set(task.name, task);
  const seen = new Set<string>();
  return tasks.filter((t) => !seen.has(t.name) && seen.add(t.name)).map((t) => byName.get(t.name)!);
}

/** An import's journal with each (task, position) once: the later entry wins, as with `recordCall`. */
function lastCallAtEachPosition(calls: CallRecord[]): CallRecord[] {
  const byKey = new Map<string, CallRecord>();
  for (const call of calls) {
    const key = JSON.stringify([call.task, call.position]);
    byKey.delete(key);
    byKey.set(key, call);
  }
  return [...byKey.values()];
}

function checkStart(start: TaskStart, task: string, runId: string): void {
  checkTaskRecord(start.task);
  if (start.task.name !== task) {
    throw new CrewstateError("INVALID_INPUT", `a claim of task ${quote(task)} cannot start task ${quote(start.task.name)}`, { runId, task });
  }
  encodeJson(start.event.data ?? null, `event data of task ${quote(task)}`);
}

function checkNextClaim(next: NextClaim, runId: string): void {
  checkTaskName(next.task);
  checkWorker(next.worker);
  checkTtl(next.ttlMs);
  checkToken(next.seenToken, `a claim of task ${quote(next.task)}`, 0);
  checkStart(next.start, next.task, runId);
}

const RUN_STATUSES: readonly RunStatus[] = ["running", "completed", "failed", "paused"];

function checkRunEnd(end: RunEnd): void {
  if (!RUN_STATUSES.includes(end.status)) {
    throw new CrewstateError("INVALID_INPUT", `run status ${quote(end.status)} is not one of ${RUN_STATUSES.join(", ")}`);
  }
  if (end.error !== null && typeof end.error !== "string") throw new CrewstateError("INVALID_INPUT", "a run's error is text or null");
  if (end.event.task != null) checkTaskName(end.event.task);
  encodeJson(end.event.data ?? null, "event data");
}

function checkToken(token: unknown, what: string, min: number): void {
  if (!Number.isInteger(token) || (token as number) < min) {
    throw new CrewstateError("INVALID_INPUT", `${what} names token ${String(token)}; tokens are whole numbers from ${min}`);
  }
}

/** A begin's arguments checked, with its kind and parent filled in. */
function checkBegin(init: BeginRun): BeginRun {
  checkRunId(init.runId);
  if (typeof init.crew !== "string" || init.crew.length === 0) {
    throw new CrewstateError("INVALID_DEFINITION", "a run needs a crew name", { runId: init.runId });
  }
  checkInputs(init.inputs, init.runId);
  const kind = checkKind(init.kind ?? "crew", init.runId);
  const parent = checkParent(init.parent ?? null, init.runId);
  if (init.planned !== undefined) encodeJson(init.planned, `the plan of run ${quote(init.runId)}`);
  return { ...init, kind, parent };
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
  checkToken(lease.token, `lease of task ${quote(lease.task)}`, 1);
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
