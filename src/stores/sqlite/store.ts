import { chmodSync, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { CrewstateError, FencedOutError, isCrewstateError, type ErrorCode } from "../../errors.js";
import { BaseStore, fencedOut, isoPlus, kindMismatch } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { SQLITE_APPLICATION_ID, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "./migrations.js";
import type {
  BeginRun,
  CallRecord,
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
  RunParent,
  RunStatus,
  RunSummary,
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

// ---- Stored rows. Statements read and write them as arrays (better-sqlite3's `raw` mode, about
// twice as fast as objects for wide rows), so each row type is a labelled tuple whose order is
// that of its column list. Which columns hold JSON text: see `migrations.ts`. ----

const RUN_COLUMNS = "run_id, crew, inputs, status, attempts, error, created_at, updated_at, updated_seq, kind, parent_run_id, parent_task";
/** Reads a run with its effective `updated_at`: the last event's time if it came later. */
const RUN_READ_COLUMNS = RUN_COLUMNS.replace(/(\w+)/g, "r.$1").replace(
  "r.updated_at",
  "coalesce((SELECT e.at FROM events e WHERE e.run_id = r.run_id AND e.seq > r.updated_seq ORDER BY e.seq DESC LIMIT 1), r.updated_at)",
);
type RunRow = [
  run_id: string,
  crew: string,
  inputs: string,
  status: string,
  attempts: number,
  error: string,
  created_at: string,
  updated_at: string,
  updated_seq: number,
  kind: string,
  parent_run_id: string | null,
  parent_task: string | null,
];
/** A run with its task counts, as `listRuns` reads it. */
type RunSummaryRow = [...RunRow, task_count: number, completed_count: number];

const TASK_COLUMNS =
  "run_id, name, status, input_hash, output, structured, output_hash, started_at, completed_at, attempts, error, usage, model, worker, fencing_token, lease_expires_at";
type TaskRow = [
  run_id: string,
  name: string,
  status: string,
  input_hash: string | null,
  output: string,
  structured: string,
  output_hash: string | null,
  started_at: string | null,
  completed_at: string | null,
  attempts: number,
  error: string,
  usage: string,
  model: string,
  worker: string,
  fencing_token: number,
  lease_expires_at: string | null,
];

const EVENT_COLUMNS = "run_id, seq, task, type, at, data";
type EventRow = [run_id: string, seq: number, task: string | null, type: string, at: string, data: string];

const CALL_COLUMNS = "run_id, task, position, kind, request_hash, response, usage, at";
type CallRow = [run_id: string, task: string, position: number, kind: string, request_hash: string, response: string, usage: string, at: string];

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
 * two rows — the task and its event — whatever the size of the run. A claim is one such
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

  protected async doBeginRun(init: BeginRun, now: string): Promise<Run> {
    return this.guard("begin the run", init.runId, () => this.tx.beginRun.immediate(init, now));
  }

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    return this.guard("read the run", runId, () => this.tx.getRun.deferred(runId));
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    return this.guard("list runs", undefined, () => this.tx.listRuns());
  }

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<void> {
    const row = fromTaskRecord(runId, task);
    const data = json(event.data ?? null);
    const calls = (options.calls ?? []).map((call) => fromCallRecord(runId, call));
    this.guard("save the task", runId, () => this.tx.saveTask.immediate(row, event.type, data, now, options, calls));
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<void> {
    const data = json(event.data ?? null);
    this.guard("set the run status", runId, () =>
      this.tx.setRunStatus.immediate(runId, status, json(error), event.task ?? null, event.type, data, now),
    );
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<boolean> {
    const data = json(event.data ?? null);
    return this.guard("remove the task", runId, () => this.tx.removeTask.immediate(runId, task, event.type, data, now));
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return this.guard("read events", runId, () => this.tx.events(runId));
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void> {
    const row = fromCallRecord(runId, call);
    this.guard("record the call", runId, () => this.tx.recordCall.immediate(row, options));
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return this.guard("read calls", runId, () => this.tx.calls(runId, task));
  }

  protected async doClearCalls(runId: string, task: string): Promise<void> {
    this.guard("clear calls", runId, () => this.tx.clearCalls.immediate(runId, task));
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<void> {
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
    this.guard("import the run", runId, () => this.tx.importRun.immediate(runRow, taskRows, eventRows, callRows, overwrite));
  }

  /**
   * A claim is not fsynced even under `synchronous=full`. A power loss that drops it drops every
   * later commit too (the WAL replays a prefix) and stops every process sharing this local file, so
   * no worker can be left holding a token the file has forgotten; the task is claimed again after
   * the restart. What a claim starts is redone; what the task commits afterwards is fsynced.
   */
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined> {
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

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    return this.guard("renew the lease", lease.runId, () => this.tx.heartbeat.immediate(lease, ttlMs));
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    this.guard("release the task", lease.runId, () => this.tx.releaseTask.immediate(lease));
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

// ---- Statements (prepared once per connection) and the transactions built on them. ----

function prepareStatements(db: Database.Database) {
  const taskUpdates = TASK_COLUMNS.split(", ")
    .filter((column) => column !== "run_id" && column !== "name")
    .map((column) => `${column} = excluded.${column}`)
    .join(", ");
  const c = (columns: string) =>
    columns
      .split(", ")
      .map((column) => `c.${column}`)
      .join(", ");
  return {
    run: db.prepare<[string], RunRow>(`SELECT ${RUN_READ_COLUMNS} FROM runs r WHERE r.run_id = ?`).raw(),
    runExists: db.prepare<[string], number>("SELECT 1 FROM runs WHERE run_id = ?").pluck(),
    listRuns: db
      .prepare<[], RunSummaryRow>(
        `SELECT ${RUN_READ_COLUMNS}, count(t.id), coalesce(sum(t.status IN ('completed', 'skipped')), 0)
         FROM runs r LEFT JOIN tasks t ON t.run_id = r.run_id
         GROUP BY r.run_id ORDER BY r.created_at DESC, r.run_id DESC`,
      )
      .raw(),
    insertRun: db.prepare<RunRow>(`INSERT INTO runs (${RUN_COLUMNS}) VALUES (${marks(RUN_COLUMNS)})`),
    restartRun: db.prepare<[crew: string, inputs: string, attempts: number, now: string, seq: number, runId: string]>(
      "UPDATE runs SET crew = ?, inputs = ?, status = 'running', error = 'null', attempts = ?, updated_at = ?, updated_seq = ? WHERE run_id = ?",
    ),
    setStatus: db.prepare<[status: string, error: string, now: string, seq: number, runId: string]>(
      "UPDATE runs SET status = ?, error = ?, updated_at = ?, updated_seq = ? WHERE run_id = ?",
    ),
    lastSeq: db.prepare<[string], number>("SELECT seq FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1").pluck(),
    // Unsorted: SQLite would sort whole rows in a temporary b-tree; `readTasks` sorts by id instead
    // (and a second index just for the order would cost every new task a third b-tree write).
    tasks: db.prepare<[string], [id: number, ...TaskRow]>(`SELECT id, ${TASK_COLUMNS} FROM tasks WHERE run_id = ?`).raw(),
    taskToken: db.prepare<[runId: string, name: string], number>("SELECT fencing_token FROM tasks WHERE run_id = ? AND name = ?").pluck(),
    upsertTask: db.prepare<TaskRow>(
      `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${marks(TASK_COLUMNS)}) ON CONFLICT (run_id, name) DO UPDATE SET ${taskUpdates}`,
    ),
    deleteTask: db.prepare<[runId: string, name: string]>("DELETE FROM tasks WHERE run_id = ? AND name = ?"),
    // A claim in one statement: a new task gets a pending record holding token 1; an existing one
    // gets the next token, the worker and the expiry — unless another worker's lease still runs
    // (expiry after now; ISO-8601 UTC text compares in time order), when nothing changes and no
    // row comes back. Worker IDs are compared as their JSON text, which is what the column holds.
    claimTask: db
      .prepare<[...TaskRow, now: string, takeOverFrom: string | null], [fencing_token: number]>(
        `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${marks(TASK_COLUMNS)})
         ON CONFLICT (run_id, name) DO UPDATE SET
           worker = excluded.worker, fencing_token = tasks.fencing_token + 1, lease_expires_at = excluded.lease_expires_at
         WHERE tasks.lease_expires_at IS NULL OR tasks.lease_expires_at <= ? OR tasks.worker = excluded.worker OR tasks.worker = ?
         RETURNING fencing_token`,
      )
      .raw(),
    renewLease: db
      .prepare<[expiresAt: string, runId: string, name: string, token: number], [worker: string, lease_expires_at: string]>(
        "UPDATE tasks SET lease_expires_at = ? WHERE run_id = ? AND name = ? AND fencing_token = ? RETURNING worker, lease_expires_at",
      )
      .raw(),
    endLease: db.prepare<[runId: string, name: string, token: number]>(
      "UPDATE tasks SET lease_expires_at = NULL WHERE run_id = ? AND name = ? AND fencing_token = ?",
    ),
    insertEvent: db.prepare<EventRow>(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (${marks(EVENT_COLUMNS)})`),
    events: db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY seq`).raw(),
    upsertCall: db.prepare<CallRow>(
      `INSERT INTO calls (${CALL_COLUMNS}) VALUES (${marks(CALL_COLUMNS)})
       ON CONFLICT (run_id, task, position) DO UPDATE SET
         kind = excluded.kind, request_hash = excluded.request_hash, response = excluded.response, usage = excluded.usage, at = excluded.at`,
    ),
    calls: db.prepare<[runId: string, task: string], CallRow>(`SELECT ${CALL_COLUMNS} FROM calls WHERE run_id = ? AND task = ? ORDER BY position`).raw(),
    // What `BaseStore.exportRun` would collect: the journals of recorded tasks, in task order.
    exportCalls: db
      .prepare<[string], CallRow>(
        `SELECT ${c(CALL_COLUMNS)} FROM calls c JOIN tasks t ON t.run_id = c.run_id AND t.name = c.task
         WHERE c.run_id = ? ORDER BY t.id, c.position`,
      )
      .raw(),
    clearCalls: db.prepare<[runId: string, task: string]>("DELETE FROM calls WHERE run_id = ? AND task = ?"),
    deleteRun: ["calls", "events", "tasks", "runs"].map((table) => db.prepare<[string]>(`DELETE FROM ${table} WHERE run_id = ?`)),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
type Transactions = ReturnType<typeof transactions>;

/** Every operation of the store; writes are transaction functions, to be called `.immediate()`. */
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
  const requireRun = (runId: string): void => {
    if (sql.runExists.get(runId) === undefined) throw runNotFound(runId, location);
  };
  /** Refuses a write made under `fencingToken` (when given) unless it is the current token of `fencedBy` (default: the task). */
  const checkFence = (runId: string, task: string, { fencingToken, fencedBy }: FenceOptions, what: string): void => {
    if (fencingToken === undefined) return;
    const current = sql.taskToken.get(runId, fencedBy ?? task) ?? 0;
    if (current !== fencingToken) throw fencedOut(what, runId, task, fencedBy, fencingToken, current, location);
  };
  const readEvents = (runId: string) => sql.events.all(runId).map((row) => toRunEvent(row, location));

  return {
    getRun: db.transaction(readRun),

    listRuns: () => sql.listRuns.all().map((row) => toRunSummary(row, location)),

    events: readEvents,

    calls: (runId: string, task: string) => sql.calls.all(runId, task).map((row) => toCallRecord(row, location)),

    beginRun: db.transaction((init: BeginRun, now: string): Run => {
      const existing = sql.run.get(init.runId);
      const seq = nextSeq(init.runId);
      let attempts = 1;
      if (existing) {
        const { crew, kind } = toRun(existing, [], location);
        if (crew !== init.crew && crew !== "") {
          throw new CrewstateError("RUN_MISMATCH", `run "${init.runId}" belongs to crew "${crew}", not "${init.crew}"; use another run ID`, {
            runId: init.runId,
            store: location,
          });
        }
        if (kind !== (init.kind ?? "crew")) throw kindMismatch(init.runId, kind, init.kind ?? "crew", location);
        attempts = existing[4] + 1;
        sql.restartRun.run(json(init.crew), json(init.inputs), attempts, now, seq, init.runId);
      } else {
        const parent = init.parent ?? null;
        sql.insertRun.run(init.runId, json(init.crew), json(init.inputs), "running", attempts, "null", now, now, seq, init.kind ?? "crew", parent?.runId ?? null, parent?.task ?? null);
      }
      sql.insertEvent.run(init.runId, seq, null, "run_started", now, json({ attempt: attempts }));
      return readRun(init.runId)!;
    }),

    // The event of a task's commit (and of its removal) is about that task, whatever it names.
    saveTask: db.transaction((row: TaskRow, type: EventType, data: string, now: string, fence: FenceOptions, calls: CallRow[]) => {
      const [runId, name] = row;
      requireRun(runId);
      checkFence(runId, name, fence, "commit");
      sql.upsertTask.run(...row);
      for (const call of calls) sql.upsertCall.run(...call);
      sql.insertEvent.run(runId, nextSeq(runId), name, type, now, data);
    }),

    setRunStatus: db.transaction(
      (runId: string, status: RunStatus, error: string, eventTask: string | null, type: EventType, data: string, now: string) => {
        requireRun(runId);
        const seq = nextSeq(runId);
        sql.setStatus.run(status, error, now, seq, runId);
        sql.insertEvent.run(runId, seq, eventTask, type, now, data);
      },
    ),

    removeTask: db.transaction((runId: string, task: string, type: EventType, data: string, now: string): boolean => {
      requireRun(runId);
      if (sql.deleteTask.run(runId, task).changes === 0) return false;
      sql.clearCalls.run(runId, task);
      sql.insertEvent.run(runId, nextSeq(runId), task, type, now, data);
      return true;
    }),

    recordCall: db.transaction((row: CallRow, fence: FenceOptions) => {
      requireRun(row[0]);
      checkFence(row[0], row[1], fence, "journal entry");
      sql.upsertCall.run(...row);
    }),

    clearCalls: db.transaction((runId: string, task: string) => {
      requireRun(runId);
      sql.clearCalls.run(runId, task);
    }),

    importRun: db.transaction((run: RunRow, tasks: TaskRow[], events: EventRow[], calls: CallRow[], overwrite: boolean) => {
      const runId = run[0];
      if (sql.runExists.get(runId) !== undefined) {
        if (!overwrite) {
          throw new CrewstateError("RUN_EXISTS", `run "${runId}" already exists in ${location}; pass --overwrite to replace it`, {
            runId,
            store: location,
          });
        }
        for (const statement of sql.deleteRun) statement.run(runId);
      }
      sql.insertRun.run(...run);
      for (const task of tasks) sql.upsertTask.run(...task);
      for (const event of events) sql.insertEvent.run(...event);
      for (const call of calls) sql.upsertCall.run(...call);
    }),

    // The lease operations read the clock inside their transaction, holding the write lock: no
    // other writer can come between the time a lease is judged by and the change made.
    claimTask: db.transaction(
      (runId: string, task: string, worker: string, ttlMs: number, { takeOverFrom, start, seenToken }: ClaimOptions): Lease | undefined => {
        requireRun(runId);
        if (seenToken !== undefined && (sql.taskToken.get(runId, task) ?? 0) !== seenToken) return undefined;
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
      },
    ),

    heartbeat: db.transaction((lease: Lease, ttlMs: number): Lease => {
      const { runId, task, token } = lease;
      requireRun(runId);
      const renewed = sql.renewLease.get(isoPlus(new Date().toISOString(), ttlMs), runId, task, token);
      if (!renewed) {
        const current = sql.taskToken.get(runId, task) ?? 0;
        throw new FencedOutError(
          `heartbeat of task "${task}" in run "${runId}" carries fencing token ${token}, but the current token is ${current}`,
          { runId, task, store: location },
        );
      }
      const [worker, expiresAt] = renewed;
      return { runId, task, worker: decode<string>(worker, () => `${location}: task "${task}" of run "${runId}"`), token, expiresAt };
    }),

    releaseTask: db.transaction((lease: Lease): void => {
      sql.endLease.run(lease.runId, lease.task, lease.token);
    }),

    exportRun: db.transaction((runId: string): RunDump | undefined => {
      const run = readRun(runId);
      if (!run) return undefined;
      return { run, events: readEvents(runId), calls: sql.exportCalls.all(runId).map((row) => toCallRecord(row, location)) };
    }),
  };
}

function marks(columns: string): string {
  return columns
    .split(", ")
    .map(() => "?")
    .join(", ");
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

function runNotFound(runId: string, where: string): CrewstateError {
  return new CrewstateError("RUN_NOT_FOUND", `run "${runId}" not found in ${where}`, { runId, store: where });
}

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
