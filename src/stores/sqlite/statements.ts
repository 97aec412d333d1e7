import type Database from "better-sqlite3";

/**
 * The SQLite store's statements, as a list: each prepared once per connection by
 * `prepareStatements`, and the stored row types they read and write. The store (`store.ts`) builds
 * its transactions on them; the schema they run against is `migrations.ts`.
 */

// ---- Stored rows. Statements read and write them as arrays (better-sqlite3's `raw` mode, about
// twice as fast as objects for wide rows), so each row type is a labelled tuple whose order is
// that of its column list. Which columns hold JSON text: see `migrations.ts`. ----

const RUN_COLUMNS = "run_id, crew, inputs, status, attempts, error, created_at, updated_at, updated_seq, kind, parent_run_id, parent_task";
/** Reads a run with its effective `updated_at`: the last event's time if it came later. */
const RUN_READ_COLUMNS = RUN_COLUMNS.replace(/(\w+)/g, "r.$1").replace(
  "r.updated_at",
  "coalesce((SELECT e.at FROM events e WHERE e.run_id = r.run_id AND e.seq > r.updated_seq ORDER BY e.seq DESC LIMIT 1), r.updated_at)",
);
export type RunRow = [
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
export type RunSummaryRow = [...RunRow, task_count: number, completed_count: number];

const TASK_COLUMNS =
  "run_id, name, status, input_hash, output, structured, output_hash, started_at, completed_at, attempts, error, usage, model, worker, fencing_token, lease_expires_at";
export type TaskRow = [
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
export type EventRow = [run_id: string, seq: number, task: string | null, type: string, at: string, data: string];

const CALL_COLUMNS = "run_id, task, position, kind, request_hash, response, usage, at";
export type CallRow = [run_id: string, task: string, position: number, kind: string, request_hash: string, response: string, usage: string, at: string];

/**
 * What the store uses of a prepared statement taking parameters `P` and reading rows `R`: a
 * better-sqlite3 statement, under a type of our own (better-sqlite3's cannot be named in the
 * package's declarations).
 */
export interface Statement<P extends unknown[], R = unknown> {
  run(...params: P): Database.RunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

export function prepareStatements(db: Database.Database) {
  /** A statement that reads rows as arrays (better-sqlite3's `raw` mode), one value per row, or only writes. */
  const rows = <P extends unknown[], R>(sql: string): Statement<P, R> => db.prepare<P, R>(sql).raw();
  const value = <P extends unknown[], R>(sql: string): Statement<P, R> => db.prepare<P, R>(sql).pluck();
  const write = <P extends unknown[]>(sql: string): Statement<P> => db.prepare<P>(sql);

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
    run: rows<[string], RunRow>(`SELECT ${RUN_READ_COLUMNS} FROM runs r WHERE r.run_id = ?`),
    runExists: value<[string], number>("SELECT 1 FROM runs WHERE run_id = ?"),
    listRuns: rows<[], RunSummaryRow>(
      `SELECT ${RUN_READ_COLUMNS}, count(t.id), coalesce(sum(t.status IN ('completed', 'skipped')), 0)
       FROM runs r LEFT JOIN tasks t ON t.run_id = r.run_id
       GROUP BY r.run_id ORDER BY r.created_at DESC, r.run_id DESC`,
    ),
    insertRun: write<RunRow>(`INSERT INTO runs (${RUN_COLUMNS}) VALUES (${marks(RUN_COLUMNS)})`),
    restartRun: write<[crew: string, inputs: string, attempts: number, now: string, seq: number, runId: string]>(
      "UPDATE runs SET crew = ?, inputs = ?, status = 'running', error = 'null', attempts = ?, updated_at = ?, updated_seq = ? WHERE run_id = ?",
    ),
    setStatus: write<[status: string, error: string, now: string, seq: number, runId: string]>(
      "UPDATE runs SET status = ?, error = ?, updated_at = ?, updated_seq = ? WHERE run_id = ?",
    ),
    lastSeq: value<[string], number>("SELECT seq FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1"),
    // Unsorted: SQLite would sort whole rows in a temporary b-tree; `readTasks` sorts by id instead
    // (and a second index just for the order would cost every new task a third b-tree write).
    tasks: rows<[string], [id: number, ...TaskRow]>(`SELECT id, ${TASK_COLUMNS} FROM tasks WHERE run_id = ?`),
    taskToken: value<[runId: string, name: string], number>("SELECT fencing_token FROM tasks WHERE run_id = ? AND name = ?"),
    upsertTask: write<TaskRow>(
      `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${marks(TASK_COLUMNS)}) ON CONFLICT (run_id, name) DO UPDATE SET ${taskUpdates}`,
    ),
    deleteTask: write<[runId: string, name: string]>("DELETE FROM tasks WHERE run_id = ? AND name = ?"),
    // A claim in one statement: a new task gets a pending record holding token 1; an existing one
    // gets the next token, the worker and the expiry — unless another worker's lease still runs
    // (expiry after now; ISO-8601 UTC text compares in time order), when nothing changes and no
    // row comes back. Worker IDs are compared as their JSON text, which is what the column holds.
    claimTask: rows<[...TaskRow, now: string, takeOverFrom: string | null], [fencing_token: number]>(
      `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${marks(TASK_COLUMNS)})
       ON CONFLICT (run_id, name) DO UPDATE SET
         worker = excluded.worker, fencing_token = tasks.fencing_token + 1, lease_expires_at = excluded.lease_expires_at
       WHERE tasks.lease_expires_at IS NULL OR tasks.lease_expires_at <= ? OR tasks.worker = excluded.worker OR tasks.worker = ?
       RETURNING fencing_token`,
    ),
    renewLease: rows<[expiresAt: string, runId: string, name: string, token: number], [worker: string, lease_expires_at: string]>(
      "UPDATE tasks SET lease_expires_at = ? WHERE run_id = ? AND name = ? AND fencing_token = ? RETURNING worker, lease_expires_at",
    ),
    endLease: write<[runId: string, name: string, token: number]>(
      "UPDATE tasks SET lease_expires_at = NULL WHERE run_id = ? AND name = ? AND fencing_token = ?",
    ),
    insertEvent: write<EventRow>(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (${marks(EVENT_COLUMNS)})`),
    events: rows<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY seq`),
    upsertCall: write<CallRow>(
      `INSERT INTO calls (${CALL_COLUMNS}) VALUES (${marks(CALL_COLUMNS)})
       ON CONFLICT (run_id, task, position) DO UPDATE SET
         kind = excluded.kind, request_hash = excluded.request_hash, response = excluded.response, usage = excluded.usage, at = excluded.at`,
    ),
    calls: rows<[runId: string, task: string], CallRow>(`SELECT ${CALL_COLUMNS} FROM calls WHERE run_id = ? AND task = ? ORDER BY position`),
    // What `BaseStore.exportRun` would collect: the journals of recorded tasks, in task order.
    exportCalls: rows<[string], CallRow>(
      `SELECT ${c(CALL_COLUMNS)} FROM calls c JOIN tasks t ON t.run_id = c.run_id AND t.name = c.task
       WHERE c.run_id = ? ORDER BY t.id, c.position`,
    ),
    clearCalls: write<[runId: string, task: string]>("DELETE FROM calls WHERE run_id = ? AND task = ?"),
    runStatus: value<[string], string>("SELECT status FROM runs WHERE run_id = ?"),
    // ISO-8601 UTC text compares in time order, as in claimTask.
    liveLease: rows<[runId: string, now: string], [name: string, lease_expires_at: string]>(
      "SELECT name, lease_expires_at FROM tasks WHERE run_id = ? AND lease_expires_at > ? ORDER BY id LIMIT 1",
    ),
    // The UTF-8 bytes of the run's stored payloads: inputs, outputs, event data, call responses.
    runBytes: value<[string, string, string, string], number>(
      `SELECT (SELECT length(CAST(inputs AS BLOB)) FROM runs WHERE run_id = ?)
            + (SELECT coalesce(sum(length(CAST(output AS BLOB)) + length(CAST(structured AS BLOB))), 0) FROM tasks WHERE run_id = ?)
            + (SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) FROM events WHERE run_id = ?)
            + (SELECT coalesce(sum(length(CAST(response AS BLOB))), 0) FROM calls WHERE run_id = ?)`,
    ),
    completedJournalBytes: value<[string], number>(
      `SELECT coalesce(sum(length(CAST(c.response AS BLOB))), 0) FROM calls c JOIN tasks t ON t.run_id = c.run_id AND t.name = c.task
       WHERE c.run_id = ? AND t.status = 'completed'`,
    ),
    dropCompletedJournals: write<[runId: string, runId: string]>(
      "DELETE FROM calls WHERE run_id = ? AND task IN (SELECT name FROM tasks WHERE run_id = ? AND status = 'completed')",
    ),
    deleteRun: ["calls", "events", "tasks", "runs"].map((table) => write<[string]>(`DELETE FROM ${table} WHERE run_id = ?`)),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

function marks(columns: string): string {
  return columns
    .split(", ")
    .map(() => "?")
    .join(", ");
}
