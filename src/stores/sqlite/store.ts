import { chmodSync, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { CrewstateError, isCrewstateError, type ErrorCode } from "../../errors.js";
import { BaseStore, isoPlus } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { busy, exists as runExists, fenced, noRun, ok, type Busy, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind } from "../outcomes.js";
import { SQLITE_APPLICATION_ID, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "./migrations.js";
import { prepareStatements, type CallRow, type EventRow, type RunRow, type RunSummaryRow, type Statements, type TaskRow } from "./statements.js";
import type {
  BeginRun,
  CallRecord,
  Freed,
  ClaimOptions,
  CommitOptions,
  EventType,
  FenceOptions,
  Inputs,
  JsonValue,
  Lease,
  NewEvent,
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
  TaskRecord,
  TaskStatus,
  TokenUsage,
} from "../store.js";
import { newTaskRecord } from "../store.js";

/**
 * How hard a commit waits for the disk (`sqlite:<path>?synchronous=normal|full`).
 *
 * Both run in WAL mode: a commit appends to the `-wal` file, and the database is consistent after
 * any crash. They differ in when the WAL is fsynced:
 * - `normal` (the default): only at checkpoints. An acknowledged commit survives a crash of the
 *   process, but a power loss or OS crash may roll back the commits made since the last
 *   checkpoint — at most SQLite's auto-checkpoint interval, about 1000 pages (4 MB) of WAL.
 * - `full`: at every commit, so an acknowledged commit survives power loss too, for the price of
 *   one fsync per commit — except a claim's: see `doClaimTask`.
 */
export type SqliteSynchronous = "normal" | "full";

const SYNCHRONOUS_LEVEL: Record<SqliteSynchronous, number> = { normal: 1, full: 2 };
const BUSY_TIMEOUT_MS = 5000;
const SQLITE_HEADER = "SQLite format 3\u0000";

export interface SqliteOpenOptions {
  /**
   * Only read: the file must exist and be a crewstate database of the current schema; nothing is
   * migrated, no pragma is set, and no file is created or changed (see `openReadOnly`). Writes
   * fail with STORE_UNAVAILABLE.
   */
  readOnly?: boolean;
}

/**
 * The SQLite store (`sqlite:<path>`, the default): one database file in WAL mode that any number
 * of processes may share. Every write is one `BEGIN IMMEDIATE` transaction, so a writer waits up
 * to `busy_timeout` (5 s) for the lock instead of failing with SQLITE_BUSY; a task commit writes
 * two rows — the task and its event — whatever the size of the run (plus, in the same transaction,
 * the next task's claim and the run's status when it carries them). A claim is one such
 * transaction too, judged by this machine's clock as read once it holds the write lock.
 */
export class SqliteStore extends BaseStore {
  readonly location: string;
  private readonly db: Database.Database;
  private readonly tx: Transactions;

  private constructor(
    db: Database.Database,
    path: string,
    private readonly synchronous: SqliteSynchronous,
  ) {
    super();
    this.db = db;
    this.location = path;
    this.tx = transactions(db, prepareStatements(db), path);
  }

  /**
   * Opens the database at `target` — a file path, optionally followed by `?synchronous=normal|full`
   * — creating it and its folders if needed (folders 0700, file 0600, whatever the umask) and
   * migrating it to the current schema.
   */
  static async open(target: string, options: SqliteOpenOptions = {}): Promise<SqliteStore> {
    const { file, synchronous } = parseTarget(target);
    const path = resolve(file);
    refuseSymlinks(path);
    if (options.readOnly) return new SqliteStore(openReadOnly(path), path, synchronous);
    if (!prepareFile(path)) {
      // An existing file is inspected read-only first: refusing it must write nothing, not even
      // the checkpoint a read-write connection makes when it closes.
      withConnection(path, { readonly: true }, (probe) => checkSchema(probe, path));
    }
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    } catch (error) {
      throw storeError(error, path, "open the database");
    }
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const journal = db.pragma("journal_mode = WAL", { simple: true });
      if (journal !== "wal") {
        throw new CrewstateError(
          "STORE_UNAVAILABLE",
          `${path}: SQLite refused WAL mode (journal_mode is ${String(journal)}); keep the store on a local file system`,
          { path, store: path },
        );
      }
      db.pragma(`synchronous = ${SYNCHRONOUS_LEVEL[synchronous]}`);
      const level = db.pragma("synchronous", { simple: true });
      if (level !== SYNCHRONOUS_LEVEL[synchronous]) {
        throw new CrewstateError("STORE_UNAVAILABLE", `${path}: SQLite did not accept synchronous=${synchronous} (it reports ${String(level)})`, {
          path,
          store: path,
        });
      }
      migrate(db, path);
      return new SqliteStore(db, path, synchronous);
    } catch (error) {
      db.close();
      throw storeError(error, path, "open the database");
    }
  }

  /** @internal For tests and diagnostics: a PRAGMA's value on this store's own connection. */
  pragma(name: "journal_mode" | "synchronous" | "busy_timeout" | "user_version" | "application_id"): unknown {
    return this.db.pragma(name, { simple: true });
  }

  /** SQLite's own consistency check of the file (`PRAGMA integrity_check`): one line per problem, none when sound. */
  integrityProblems(): string[] {
    const lines = this.guard("check the database", undefined, () => this.db.pragma("integrity_check", { simple: false }) as { integrity_check: string }[]);
    const problems = lines.map((row) => row.integrity_check).filter((line) => line !== "ok");
    return problems.map((line) => `${this.location}: integrity_check: ${line}`);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  protected async doBeginRun(init: BeginRun, now: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    return this.guard("begin the run", init.runId, () => this.tx.beginRun.immediate(init, now));
  }

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    return this.guard("read the run", runId, () => this.tx.getRun.deferred(runId));
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    return this.guard("list runs", undefined, () => this.tx.listRuns());
  }

  /**
   * The task's result, its journal entries, the next task's claim (`options.next`, judged by the
   * same claim as `claimTask`'s, on the clock read under the write lock) and the run's status
   * (`options.endRun`): one transaction, fsynced under `synchronous=full` like every commit.
   */
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const row = fromTaskRecord(runId, task);
    const data = json(event.data ?? null);
    const calls = (options.calls ?? []).map((call) => fromCallRecord(runId, call));
    const end = options.endRun && statusChange(options.endRun);
    return this.guard("save the task", runId, () => this.tx.saveTask.immediate(row, event.type, data, now, options, calls, end));
  }

  /** The run's begin (`options.begin`), every record, the event (when a task is reused) and the run's end: one transaction. */
  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, now: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind> {
    const reused = tasks.map(({ record, fencingToken }): [TaskRow, number] => [fromTaskRecord(runId, record), fencingToken]);
    const data = json(event.data ?? null);
    const end = options.endRun && statusChange(options.endRun);
    return this.guard("reuse the tasks", runId, () => this.tx.reuseTasks.immediate(runId, reused, event.type, data, now, options.begin, end));
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<Ok | NoRun> {
    const change = statusChange({ status, error, event });
    return this.guard("set the run status", runId, () => this.tx.setRunStatus.immediate(runId, change, now));
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<Ok<boolean> | NoRun> {
    const data = json(event.data ?? null);
    return this.guard("remove the task", runId, () => this.tx.removeTask.immediate(runId, task, event.type, data, now));
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return this.guard("read events", runId, () => this.tx.events(runId));
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    const row = fromCallRecord(runId, call);
    return this.guard("record the call", runId, () => this.tx.recordCall.immediate(row, options));
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return this.guard("read calls", runId, () => this.tx.calls(runId, task));
  }

  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    return this.guard("clear calls", runId, () => this.tx.clearCalls.immediate(runId, task));
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    const { run, events, calls } = dump;
    const runId = run.runId;
    // Everything is encoded before the transaction: a value that cannot be stored writes nothing.
    const runRow: RunRow = [
      runId,
      json(run.crew),
      json(run.inputs),
      run.status,
      run.attempts,
      json(run.error),
      run.createdAt,
      run.updatedAt,
      events.length, // the imported events do not change updatedAt; later ones do
      run.kind,
      run.parent?.runId ?? null,
      run.parent?.task ?? null,
    ];
    const taskRows = run.tasks.map((task) => fromTaskRecord(runId, task));
    const eventRows = events.map((event, i): EventRow => [
      runId,
      i + 1,
      event.task ?? null,
      event.type,
      event.at,
      encodeJson(event.data ?? null, `data of event ${i + 1} of run "${runId}"`),
    ]);
    const callRows = calls.map((call) => fromCallRecord(runId, call));
    return this.guard("import the run", runId, () => this.tx.importRun.immediate(runRow, taskRows, eventRows, callRows, overwrite));
  }

  /**
   * A claim is not fsynced even under `synchronous=full`. A power loss that drops it drops every
   * later commit too (the WAL replays a prefix) and stops every process sharing this local file, so
   * no worker can be left holding a token the file has forgotten; the task is claimed again after
   * the restart. What a claim starts is redone; what the task commits afterwards is fsynced. (A
   * claim that rides in a task's commit, `CommitOptions.next`, is fsynced with that commit.)
   */
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
    return this.guard("claim the task", runId, () =>
      this.withoutFsync(() => this.tx.claimTask.immediate(runId, task, worker, ttlMs, options)),
    );
  }

  private withoutFsync<T>(body: () => T): T {
    if (this.synchronous !== "full") return body();
    this.db.pragma("synchronous = NORMAL");
    try {
      return body();
    } finally {
      this.db.pragma("synchronous = FULL");
    }
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    return this.guard("renew the lease", lease.runId, () => this.tx.heartbeat.immediate(lease, ttlMs));
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    this.guard("release the task", lease.runId, () => this.tx.releaseTask.immediate(lease));
  }

  /** One immediate transaction: the status and leases are judged by this machine's clock under the write lock. */
  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.guard("delete the run", runId, () => this.tx.deleteRun.immediate(runId));
  }

  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.guard("drop the journals", runId, () => this.tx.dropJournals.immediate(runId));
  }

  /** `VACUUM`: gives the space of deleted rows back to the file system (`crewstate prune --vacuum`). */
  vacuum(): void {
    this.guard("vacuum the database", undefined, () => {
      this.db.exec("VACUUM");
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    });
  }

  /** Overridden to read one snapshot, consistent even while other processes write. */
  protected override async doExportRun(runId: string): Promise<RunDump | undefined> {
    return this.guard("export the run", runId, () => this.tx.exportRun.deferred(runId));
  }

  /** Runs a database operation, turning every failure into a `CrewstateError`. */
  private guard<T>(action: string, runId: string | undefined, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw storeError(error, this.location, action, runId);
    }
  }
}

// ---- The transactions, built on the statements of `statements.ts`. ----

type Transactions = ReturnType<typeof transactions>;

/**
 * Every operation of the store; writes are transaction functions, to be called `.immediate()`.
 * A write reports a refusal (no run, fenced out, …) as an outcome, found and returned inside its
 * transaction; it checks before it writes, so a refused write commits nothing.
 */
function transactions(db: Database.Database, sql: Statements, location: string) {
  /** A run's tasks in first-recorded order: by id, which SQLite gives each new record. */
  const readTasks = (runId: string): TaskRow[] =>
    sql.tasks
      .all(runId)
      .sort((a, b) => a[0] - b[0])
      .map(([, ...row]) => row);
  const readRun = (runId: string): Run | undefined => {
    const row = sql.run.get(runId);
    return row && toRun(row, readTasks(runId), location);
  };
  /** The seq of the run's next event. */
  const nextSeq = (runId: string): number => (sql.lastSeq.get(runId) ?? 0) + 1;
  const hasRun = (runId: string): boolean => sql.runExists.get(runId) !== undefined;
  /** The token of a record now; 0 when it has none. */
  const tokenOf = (runId: string, task: string): number => sql.taskToken.get(runId, task) ?? 0;
  /** The refusal of a write made under `fencingToken` (when given) unless it is the current token of `fencedBy` (default: the task). */
  const fenceOf = (runId: string, task: string, { fencingToken, fencedBy }: FenceOptions): Fenced | undefined => {
    if (fencingToken === undefined) return undefined;
    const by = fencedBy ?? task;
    const current = tokenOf(runId, by);
    return current === fencingToken ? undefined : fenced(by, current);
  };
  /** Sets the run's status and appends its event. */
  const setStatus = (runId: string, [status, error, eventTask, type, data]: StatusChange, now: string): void => {
    const seq = nextSeq(runId);
    sql.setStatus.run(status, error, now, seq, runId);
    sql.insertEvent.run(runId, seq, eventTask, type, now, data);
  };
  /**
   * The claim, within a transaction that holds the write lock, of a run known to exist: what
   * `claimTask` does, and what a task's commit does for `CommitOptions.next`. The clock is read
   * here, under the lock: no other writer can come between the time a lease is judged by and the
   * change made. Refused (undefined), it changes nothing.
   */
  const claim = (runId: string, task: string, worker: string, ttlMs: number, { takeOverFrom, start, seenToken }: ClaimOptions): Lease | undefined => {
    if (seenToken !== undefined && tokenOf(runId, task) !== seenToken) return undefined;
    const now = new Date().toISOString();
    const expiresAt = isoPlus(now, ttlMs);
    const row = fromTaskRecord(runId, { ...newTaskRecord(task), worker, fencingToken: 1, leaseExpiresAt: expiresAt });
    const granted = sql.claimTask.get(...row, now, takeOverFrom === undefined ? null : json(takeOverFrom));
    if (!granted) return undefined;
    const token = granted[0];
    if (start) {
      sql.upsertTask.run(...fromTaskRecord(runId, { ...start.task, worker, fencingToken: token, leaseExpiresAt: expiresAt }));
      sql.insertEvent.run(runId, nextSeq(runId), task, start.event.type, now, json(start.event.data ?? null));
    }
    return { runId, task, worker, token, expiresAt };
  };
  /** The refusal of a begin of a run that is another crew's, or of another kind; undefined when it may go ahead. */
  const beginRefused = (init: BeginRun): OtherCrew | OtherKind | undefined => {
    const existing = sql.run.get(init.runId);
    if (!existing) return undefined;
    const { crew, kind } = toRun(existing, [], location);
    if (crew !== init.crew && crew !== "") return { outcome: "otherCrew", crew };
    if (kind !== (init.kind ?? "crew")) return { outcome: "otherKind", kind };
    return undefined;
  };
  /** Begins a run `beginRefused` allowed: creates it, or sets it running again; appends `run_started` (and `run_planned`). */
  const begin = (init: BeginRun, now: string): void => {
    const existing = sql.run.get(init.runId);
    const seq = nextSeq(init.runId);
    const last = init.planned === undefined ? seq : seq + 1;
    let attempts = 1;
    if (existing) {
      attempts = existing[4] + 1;
      sql.restartRun.run(json(init.crew), json(init.inputs), attempts, now, last, init.runId);
    } else {
      const parent = init.parent ?? null;
      sql.insertRun.run(init.runId, json(init.crew), json(init.inputs), "running", attempts, "null", now, now, last, init.kind ?? "crew", parent?.runId ?? null, parent?.task ?? null);
    }
    sql.insertEvent.run(init.runId, seq, null, "run_started", now, json({ attempt: attempts }));
    if (init.planned !== undefined) sql.insertEvent.run(init.runId, seq + 1, null, "run_planned", now, json(init.planned));
  };
  const readEvents = (runId: string) => sql.events.all(runId).map((row) => toRunEvent(row, location));
  /** Why the run cannot be deleted now (the clock read under the write lock); undefined when it may. */
  const busyNow = (runId: string, status: string): Busy | undefined => {
    if (status === "running" || status === "paused") return busy(status);
    const leased = sql.liveLease.get(runId, new Date().toISOString());
    return leased && busy(status as RunStatus, leased[0], leased[1]);
  };

  return {
    getRun: db.transaction(readRun),

    listRuns: () => sql.listRuns.all().map((row) => toRunSummary(row, location)),

    events: readEvents,

    calls: (runId: string, task: string) => sql.calls.all(runId, task).map((row) => toCallRecord(row, location)),

    beginRun: db.transaction((init: BeginRun, now: string): Ok<Run> | OtherCrew | OtherKind => {
      const refused = beginRefused(init);
      if (refused) return refused;
      begin(init, now);
      return ok(readRun(init.runId)!);
    }),

    // The event of a task's commit (and of its removal) is about that task: `BaseStore` names it.
    saveTask: db.transaction(
      (row: TaskRow, type: EventType, data: string, now: string, options: CommitOptions, calls: CallRow[], end: StatusChange | undefined): Ok<Lease | undefined> | NoRun | Fenced => {
        const [runId, name] = row;
        if (!hasRun(runId)) return noRun;
        const refused = fenceOf(runId, name, options);
        if (refused) return refused;
        sql.upsertTask.run(...row);
        for (const call of calls) sql.upsertCall.run(...call);
        sql.insertEvent.run(runId, nextSeq(runId), name, type, now, data);
        const next = options.next;
        const lease = next && claim(runId, next.task, next.worker, next.ttlMs, { seenToken: next.seenToken, start: next.start });
        if (end) setStatus(runId, end, now);
        return ok(lease);
      },
    ),

    // The begin and every token are checked before anything is written: one stale record refuses
    // the whole reuse, its begin too. A begin changes no record, so tokens are checked before it.
    reuseTasks: db.transaction(
      (
        runId: string,
        reused: [TaskRow, number][],
        type: EventType,
        data: string,
        now: string,
        init: BeginRun | undefined,
        end: StatusChange | undefined,
      ): Ok | NoRun | Fenced | OtherCrew | OtherKind => {
        if (init === undefined && !hasRun(runId)) return noRun;
        const refused = init && beginRefused(init);
        if (refused) return refused;
        for (const [[, name], token] of reused) {
          const current = tokenOf(runId, name);
          if (current !== token) return fenced(name, current);
        }
        if (init) begin(init, now);
        for (const [row] of reused) sql.upsertTask.run(...row);
        if (reused.length > 0) sql.insertEvent.run(runId, nextSeq(runId), null, type, now, data);
        if (end) setStatus(runId, end, now);
        return ok();
      },
    ),

    setRunStatus: db.transaction((runId: string, change: StatusChange, now: string): Ok | NoRun => {
      if (!hasRun(runId)) return noRun;
      setStatus(runId, change, now);
      return ok();
    }),

    removeTask: db.transaction((runId: string, task: string, type: EventType, data: string, now: string): Ok<boolean> | NoRun => {
      if (!hasRun(runId)) return noRun;
      if (sql.deleteTask.run(runId, task).changes === 0) return ok(false);
      sql.clearCalls.run(runId, task);
      sql.insertEvent.run(runId, nextSeq(runId), task, type, now, data);
      return ok(true);
    }),

    recordCall: db.transaction((row: CallRow, fence: FenceOptions): Ok | NoRun | Fenced => {
      if (!hasRun(row[0])) return noRun;
      const refused = fenceOf(row[0], row[1], fence);
      if (refused) return refused;
      sql.upsertCall.run(...row);
      return ok();
    }),

    clearCalls: db.transaction((runId: string, task: string): Ok | NoRun => {
      if (!hasRun(runId)) return noRun;
      sql.clearCalls.run(runId, task);
      return ok();
    }),

    importRun: db.transaction((run: RunRow, tasks: TaskRow[], events: EventRow[], calls: CallRow[], overwrite: boolean): Ok | Exists => {
      const runId = run[0];
      if (hasRun(runId)) {
        if (!overwrite) return runExists;
        for (const statement of sql.deleteRun) statement.run(runId);
      }
      sql.insertRun.run(...run);
      for (const task of tasks) sql.upsertTask.run(...task);
      for (const event of events) sql.insertEvent.run(...event);
      for (const call of calls) sql.upsertCall.run(...call);
      return ok();
    }),

    claimTask: db.transaction((runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Ok<Lease | undefined> | NoRun => {
      if (!hasRun(runId)) return noRun;
      return ok(claim(runId, task, worker, ttlMs, options));
    }),

    // The lease operations read the clock inside their transaction, holding the write lock.
    heartbeat: db.transaction((lease: Lease, ttlMs: number): Ok<Lease> | NoRun | Fenced => {
      const { runId, task, token } = lease;
      if (!hasRun(runId)) return noRun;
      const renewed = sql.renewLease.get(isoPlus(new Date().toISOString(), ttlMs), runId, task, token);
      if (!renewed) return fenced(task, tokenOf(runId, task));
      const [worker, expiresAt] = renewed;
      return ok({ runId, task, worker: decode<string>(worker, () => `${location}: task "${task}" of run "${runId}"`), token, expiresAt });
    }),

    releaseTask: db.transaction((lease: Lease): void => {
      sql.endLease.run(lease.runId, lease.task, lease.token);
    }),

    deleteRun: db.transaction((runId: string): Ok<Freed> | NoRun | Busy => {
      const status = sql.runStatus.get(runId);
      if (status === undefined) return noRun;
      const refused = busyNow(runId, status);
      if (refused) return refused;
      const bytes = sql.runBytes.get(runId, runId, runId, runId) ?? 0;
      for (const statement of sql.deleteRun) statement.run(runId);
      return ok({ bytes });
    }),

    dropJournals: db.transaction((runId: string): Ok<Freed> | NoRun | Busy => {
      const status = sql.runStatus.get(runId);
      if (status === undefined) return noRun;
      const refused = busyNow(runId, status);
      if (refused) return refused;
      const bytes = sql.completedJournalBytes.get(runId) ?? 0;
      sql.dropCompletedJournals.run(runId, runId);
      return ok({ bytes });
    }),

    exportRun: db.transaction((runId: string): RunDump | undefined => {
      const run = readRun(runId);
      if (!run) return undefined;
      return { run, events: readEvents(runId), calls: sql.exportCalls.all(runId).map((row) => toCallRecord(row, location)) };
    }),
  };
}

/** A run's status change as stored: status, error (json), the event's task, type and data (json). */
type StatusChange = [status: RunStatus, error: string, eventTask: string | null, type: EventType, data: string];

function statusChange({ status, error, event }: RunEnd): StatusChange {
  return [status, json(error), event.task ?? null, event.type, json(event.data ?? null)];
}

// ---- Mapping between rows and public types: one function per row type and direction. ----

function toRun(row: RunRow, tasks: TaskRow[], where: string): Run {
  const [run_id, crew, inputs, status, attempts, error, created_at, updated_at, , kind, parent_run_id, parent_task] = row;
  const at = () => `${where}: run "${run_id}"`;
  return {
    runId: run_id,
    crew: decode<string>(crew, at),
    kind: kind as RunKind,
    parent: toParent(parent_run_id, parent_task),
    inputs: decode<Inputs>(inputs, at),
    status: status as RunStatus,
    attempts,
    error: decode<string | null>(error, at),
    createdAt: created_at,
    updatedAt: updated_at,
    tasks: tasks.map((task) => toTaskRecord(task, where)),
  };
}

function toRunSummary(row: RunSummaryRow, where: string): RunSummary {
  const [run_id, crew, , status, attempts, error, created_at, updated_at, , kind, parent_run_id, parent_task, task_count, completed_count] = row;
  const at = () => `${where}: run "${run_id}"`;
  return {
    runId: run_id,
    crew: decode<string>(crew, at),
    kind: kind as RunKind,
    parent: toParent(parent_run_id, parent_task),
    status: status as RunStatus,
    attempts,
    error: decode<string | null>(error, at),
    createdAt: created_at,
    updatedAt: updated_at,
    taskCount: task_count,
    completedCount: completed_count,
  };
}

function toParent(runId: string | null, task: string | null): RunParent | null {
  return runId === null ? null : { runId, task };
}

function toTaskRecord(row: TaskRow, where: string): TaskRecord {
  const [run_id, name, status, input_hash, output, structured, output_hash, started_at, completed_at, attempts, error, usage, model, worker, fencing_token, lease_expires_at] = row;
  const at = () => `${where}: task "${name}" of run "${run_id}"`;
  return {
    name,
    status: status as TaskStatus,
    inputHash: input_hash,
    output: decode<string | null>(output, at),
    structured: decode<JsonValue>(structured, at),
    outputHash: output_hash,
    startedAt: started_at,
    completedAt: completed_at,
    attempts,
    error: decode<string | null>(error, at),
    usage: decodeUsage(usage, at),
    model: decode<string | null>(model, at),
    worker: decode<string | null>(worker, at),
    fencingToken: fencing_token,
    leaseExpiresAt: lease_expires_at,
  };
}

function fromTaskRecord(runId: string, task: TaskRecord): TaskRow {
  return [
    runId,
    task.name,
    task.status,
    task.inputHash,
    json(task.output),
    json(task.structured),
    task.outputHash,
    task.startedAt,
    task.completedAt,
    task.attempts,
    json(task.error),
    encodeJson(task.usage, `token usage of task "${task.name}" in run "${runId}"`),
    json(task.model),
    json(task.worker),
    task.fencingToken,
    task.leaseExpiresAt,
  ];
}

function toRunEvent(row: EventRow, where: string): RunEvent {
  const [run_id, seq, task, type, at, data] = row;
  return {
    seq,
    runId: run_id,
    task,
    type: type as EventType,
    at,
    data: decode<RunEvent["data"]>(data, () => `${where}: event ${seq} of run "${run_id}"`),
  };
}

function toCallRecord(row: CallRow, where: string): CallRecord {
  const [run_id, task, position, kind, request_hash, response, usage, at] = row;
  const place = () => `${where}: call ${position} of task "${task}" in run "${run_id}"`;
  return {
    task,
    position,
    kind: kind as CallRecord["kind"],
    requestHash: request_hash,
    response: decode<JsonValue>(response, place),
    usage: decodeUsage(usage, place),
    at,
  };
}

function fromCallRecord(runId: string, call: CallRecord): CallRow {
  return [
    runId,
    call.task,
    call.position,
    call.kind,
    call.requestHash,
    json(call.response),
    encodeJson(call.usage, `token usage of call ${call.position} of task "${call.task}"`),
    call.at,
  ];
}

/**
 * JSON text of a string, null, or a value `BaseStore` has already checked with `encodeJson` —
 * without walking it a second time.
 */
function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** Parses a JSON column; bad text raises `decodeJson`'s shared CORRUPT_STATE error. */
function decode<T>(text: string, where: () => string): T {
  if (text === "null") return null as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return decodeJson<T>(text, where());
  }
}

/** A usage column; one written without a cost (before costs were kept) reads as cost unknown. */
function decodeUsage(text: string, where: () => string): TokenUsage | null {
  const usage = decode<TokenUsage | null>(text, where);
  if (usage !== null && usage.costUsd === undefined) usage.costUsd = null;
  return usage;
}

// ---- Opening: the target, the file, the schema version, migrations. ----

function parseTarget(target: string): { file: string; synchronous: SqliteSynchronous } {
  const shown = `sqlite:${target}`;
  const mark = target.indexOf("?");
  const file = mark === -1 ? target : target.slice(0, mark);
  if (file.length === 0) {
    throw new CrewstateError("UNKNOWN_STORE", `store URL "${shown}" names no file: write sqlite:<path>`, { store: shown });
  }
  let synchronous: SqliteSynchronous = "normal";
  for (const [key, value] of new URLSearchParams(mark === -1 ? "" : target.slice(mark + 1))) {
    if (key === "synchronous" && (value === "normal" || value === "full")) {
      synchronous = value;
    } else {
      throw new CrewstateError(
        "UNKNOWN_STORE",
        key === "synchronous"
          ? `store URL "${shown}" has synchronous=${JSON.stringify(value)}; use synchronous=normal or synchronous=full`
          : `store URL "${shown}" has an unsupported option ${JSON.stringify(key)}; the supported option is synchronous=normal|full`,
        { store: shown },
      );
    }
  }
  return { file, synchronous };
}

/** The files SQLite keeps next to the database, each of which it would write through a link. */
export const SQLITE_COMPANIONS = ["-wal", "-shm", "-journal"] as const;

/**
 * Refuses a database or companion file that is a symbolic link: SQLite would follow it and write
 * outside the store's folder. Checked before anything is opened, so nothing is written.
 */
function refuseSymlinks(path: string): void {
  for (const file of [path, ...SQLITE_COMPANIONS.map((suffix) => path + suffix)]) {
    let link = false;
    try {
      link = lstatSync(file).isSymbolicLink();
    } catch {
      // Missing (or unreadable, which opening reports): not a link.
    }
    if (link) {
      throw new CrewstateError(
        "STORE_UNAVAILABLE",
        `${file} is a symbolic link; the SQLite store refuses to follow links for its files (nothing was written) — point sqlite: at the real file`,
        { path: file, store: path },
      );
    }
  }
}

/**
 * Creates the missing parent folders (0700) and the file (0600), whatever the umask, returning
 * true when it created the file; refuses an existing file that is not a SQLite database before
 * SQLite can touch it.
 */
function prepareFile(path: string): boolean {
  const unavailable = (error: unknown, what: string) =>
    new CrewstateError("STORE_UNAVAILABLE", `cannot ${what} ${path}: ${(error as Error).message}`, { path, store: path }, { cause: error });
  const missing: string[] = [];
  for (let dir = dirname(path); !exists(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, 0o700);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw unavailable(error, "create the folder of");
    }
  }
  try {
    const fd = openSync(path, "wx", 0o600);
    try {
      fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw unavailable(error, "create");
  }
  readHeader(path);
  return false;
}

/** Refuses an existing file that is not a SQLite database (an empty file is a new one). */
function readHeader(path: string): void {
  const header = Buffer.alloc(SQLITE_HEADER.length);
  let read: number;
  try {
    if (!statSync(path).isFile()) throw new Error("it is not a regular file");
    const fd = openSync(path, "r");
    try {
      read = readSync(fd, header, 0, header.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new CrewstateError("STORE_UNAVAILABLE", `cannot read ${path}: ${(error as Error).message}`, { path, store: path }, { cause: error });
  }
  if (read > 0 && header.subarray(0, read).toString("latin1") !== SQLITE_HEADER) {
    throw new CrewstateError(
      "CORRUPT_STATE",
      `${path} is not a SQLite database (it does not start with the SQLite header); it was left unchanged — move it away or choose another path`,
      { path, store: path },
    );
  }
}

/**
 * A connection that cannot change anything in the store's folder. A read-only SQLite connection
 * to a WAL database still creates the `-wal` and `-shm` files when they are missing, so when
 * there is no `-wal` (no process has the database open, and the file holds every commit) the
 * file is read into memory and served from there; otherwise the files are already there, and a
 * read-only connection shares them.
 */
function openReadOnly(path: string): Database.Database {
  if (!exists(path)) {
    throw new CrewstateError("STORE_NOT_FOUND", `store sqlite:${path} does not exist (nothing has run there yet)`, { path, store: path });
  }
  readHeader(path);
  let db: Database.Database;
  try {
    db = exists(`${path}-wal`) ? new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS }) : new Database(snapshotOf(path), { readonly: true });
  } catch (error) {
    throw storeError(error, path, "open the database to read");
  }
  try {
    checkSchema(db, path);
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version < SQLITE_SCHEMA_VERSION) {
      throw new CrewstateError(
        "UNSUPPORTED_SCHEMA_VERSION",
        `${path} has schema version ${version}, older than version ${SQLITE_SCHEMA_VERSION} this crewstate reads; a command that writes (such as crewstate run) migrates it — it was not changed`,
        { path, store: path, version, supported: SQLITE_SCHEMA_VERSION },
      );
    }
    return db;
  } catch (error) {
    db.close();
    throw storeError(error, path, "open the database to read");
  }
}

/**
 * The database file's bytes, read until two reads in a row see the same size and modification
 * time (a checkpoint by another process in between would tear the copy), marked as a rollback
 * journal database: an in-memory copy cannot be in WAL mode, and the file holds every commit.
 */
function snapshotOf(path: string): Buffer {
  for (let attempt = 0; ; attempt++) {
    const before = statSync(path, { bigint: true });
    const bytes = readFileSync(path);
    const after = statSync(path, { bigint: true });
    if ((before.mtimeNs === after.mtimeNs && before.size === after.size) || attempt === 4) {
      if (bytes.length >= 20 && bytes[18] === 2 && bytes[19] === 2) {
        bytes[18] = 1;
        bytes[19] = 1;
      }
      return bytes;
    }
  }
}

/** Runs `body` on a connection of its own, mapping every failure, and closes it. */
function withConnection<T>(path: string, options: Database.Options, body: (db: Database.Database) => T): T {
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS, ...options });
  } catch (error) {
    throw storeError(error, path, "open the database");
  }
  try {
    return body(db);
  } catch (error) {
    throw storeError(error, path, "open the database");
  } finally {
    db.close();
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    // Anything but "missing" is left for the next step to report.
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/** Refuses another application's database and a schema newer than this code; only reads. */
function checkSchema(db: Database.Database, path: string): void {
  // One read transaction, so all three reads see the same snapshot: read one by one, they could
  // straddle another process's first migration and take a half-seen crewstate file for a foreign one.
  const { version, application, objects } = db.transaction(() => ({
    version: db.pragma("user_version", { simple: true }) as number,
    application: db.pragma("application_id", { simple: true }) as number,
    objects: db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get() as number,
  }))();
  const foreign = version === 0 ? application !== 0 || objects > 0 : application !== SQLITE_APPLICATION_ID;
  if (foreign) {
    throw new CrewstateError(
      "CORRUPT_STATE",
      `${path} is a SQLite database of another application (application_id ${application}, user_version ${version}); it was left unchanged — choose another path`,
      { path, store: path },
    );
  }
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new CrewstateError(
      "UNSUPPORTED_SCHEMA_VERSION",
      `${path} has schema version ${version}, but this crewstate knows versions up to ${SQLITE_SCHEMA_VERSION}; upgrade crewstate to open it (the file was not changed)`,
      { path, store: path, version, supported: SQLITE_SCHEMA_VERSION },
    );
  }
}

/** Applies the missing migrations, each in one immediate transaction with its version bump. */
function migrate(db: Database.Database, path: string): void {
  for (let target = 1; target <= SQLITE_SCHEMA_VERSION; target++) {
    db.transaction(() => {
      // Re-read under the write lock: another process may have migrated in the meantime.
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > SQLITE_SCHEMA_VERSION) checkSchema(db, path);
      if (version >= target) return;
      db.exec(SQLITE_MIGRATIONS[target]!);
      db.pragma(`user_version = ${target}`);
    }).immediate();
  }
}

// ---- Errors: every better-sqlite3 failure becomes a CrewstateError here, and only here. ----

function storeError(error: unknown, path: string, action: string, runId?: string): CrewstateError {
  if (isCrewstateError(error)) return error;
  const sqliteCode = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  let code: ErrorCode = "STORE_UNAVAILABLE";
  let hint = "check that the file and its folder exist and are readable and writable";
  if (typeof sqliteCode === "string") {
    if (sqliteCode.startsWith("SQLITE_BUSY") || sqliteCode.startsWith("SQLITE_LOCKED")) {
      code = "STORE_LOCKED";
      hint = `another process held the database for more than ${BUSY_TIMEOUT_MS} ms`;
    } else if (sqliteCode === "SQLITE_NOTADB" || sqliteCode.startsWith("SQLITE_CORRUPT")) {
      code = "CORRUPT_STATE";
      hint = "the file is damaged; restore it from a backup or move it away (it was not changed)";
    } else if (sqliteCode.startsWith("SQLITE_READONLY")) {
      hint = "the store was opened read-only";
    } else if (sqliteCode === "SQLITE_TOOBIG") {
      code = "PAYLOAD_TOO_LARGE";
      hint = "the value exceeds SQLite's size limit";
    } else if (sqliteCode === "SQLITE_FULL") {
      hint = "the disk is full";
    }
  } else if (/connection is not open/.test(message)) {
    hint = "the store was closed";
  }
  const shownCode = typeof sqliteCode === "string" ? ` (${sqliteCode})` : "";
  return new CrewstateError(
    code,
    `${path}: cannot ${action}: ${message}${shownCode}; ${hint}`,
    runId === undefined ? { path, store: path } : { path, store: path, runId },
    { cause: error },
  );
}
