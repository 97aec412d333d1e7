import { randomUUID } from "node:crypto";
import pg from "pg";
import { CrewstateError, FencedOutError, messageOf, quote } from "../../errors.js";
import { BaseStore, fencedOut, kindMismatch } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { redactUrl } from "../../redact.js";
import { migrate, quoteSchema, withClient } from "./migrations.js";
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
  TaskStart,
  TaskStatus,
  TokenUsage,
} from "../store.js";

/**
 * `postgres://user:password@host:port/database[?schema=name]` — state shared by many workers.
 *
 * Tables live in one schema (default `crewstate`), created and migrated on open (see
 * `postgres-migrations.ts`). Every write is one SQL statement — its own transaction, one round
 * trip — that takes the run's row lock first, so writes to one run are serialised and the event
 * sequence has no gaps. Each write carries a fresh idempotency key (`events.op_id`): when the
 * connection drops before the answer arrives, the write is retried once and a retry of a write
 * that did commit changes nothing. Imports are transactions and are retried only when the
 * failure came before COMMIT.
 *
 * Leases are judged by the server's clock (`clock_timestamp()`, read once per statement), never
 * the client's. A claim is one upsert of the task's row whose conflict clause decides, on the
 * latest committed version of the row, whether another worker's lease still runs (and, for a
 * claim naming the token it saw, whether the token still is that); concurrent claims queue on
 * that row, so exactly one wins. A claim's op ID is kept in the row
 * (`tasks.claim_op`) until another write replaces the lease: a claim retried after a lost reply
 * finds its own op ID there and returns the lease it was granted instead of a second token.
 */
export class PostgresStore extends BaseStore {
  readonly location: string;
  private readonly sql: Statements;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    location: string,
    readonly schema: string,
  ) {
    super();
    this.location = location;
    this.sql = statements(quoteSchema(schema, location));
  }

  /** Connects, creates or migrates the schema, and refuses a schema newer than this code. */
  /** With `readOnly`, the schema must exist at the current version: nothing is created or migrated. */
  static async open(url: string, openOptions: { readOnly?: boolean } = {}): Promise<PostgresStore> {
    const location = redactUrl(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new CrewstateError("UNKNOWN_STORE", `store URL ${quote(location)} is not a valid URL: write postgres://user@host:port/database[?schema=name], with any / ? # @ % in the password percent-encoded (or the password in PGPASSWORD)`, { store: location }, { cause: error });
    }
    const schema = parsed.searchParams.get("schema") ?? "crewstate";
    quoteSchema(schema, location);
    parsed.searchParams.delete("schema");
    // Server settings from the URL (`?options=-c …`) are kept, and ours added to them.
    const options = parsed.searchParams.get("options");
    parsed.searchParams.delete("options");

    const pool = new pg.Pool({
      connectionString: parsed.toString(),
      application_name: "crewstate",
      // Every statement looks rows up by primary key, so the generic plan is always the right
      // one; this saves re-planning the commit statement on each call.
      options: `${options ? `${options} ` : ""}-c plan_cache_mode=force_generic_plan`,
      max: 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 10_000,
      keepAlive: true,
      allowExitOnIdle: true,
    });
    // An idle client whose connection dies (server restart, pg_terminate_backend) is dropped by
    // the pool, which then emits this; the next operation simply takes a fresh connection.
    pool.on("error", () => undefined);

    const store = new PostgresStore(pool, location, schema);
    try {
      await store.attempt(() => migrate(pool, schema, location, { readOnly: openOptions.readOnly === true }), true);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // --- writes: one statement each, idempotent through their op ID ---

  protected async doBeginRun(init: BeginRun, now: string): Promise<Run> {
    const crew = encodeJson(init.crew, `crew name of run ${quote(init.runId)}`);
    const result = await this.write<{ done: boolean; written: boolean }>(this.sql.beginRun, [
      init.runId,
      crew,
      encodeJson(init.inputs, `inputs of run ${quote(init.runId)}`),
      now,
      init.kind ?? "crew",
      init.parent?.runId ?? null,
      init.parent?.task ?? null,
    ]);
    if (result && !result.done && !result.written) {
      const other = await this.read<{ crew: string; kind: RunKind }>(this.sql.runCrew, [init.runId]);
      const theirs = other[0] ? decodeJson<string>(other[0].crew, `the crew of run ${quote(init.runId)}`) : "";
      if (other[0] && (theirs === init.crew || theirs === "")) throw kindMismatch(init.runId, other[0].kind, init.kind ?? "crew", this.location);
      throw new CrewstateError(
        "RUN_MISMATCH",
        `run ${quote(init.runId)} belongs to crew "${theirs}", not ${quote(init.crew)}; use another run ID`,
        { runId: init.runId, store: this.location },
      );
    }
    const run = await this.doGetRun(init.runId);
    if (!run) throw this.runNotFound(init.runId);
    return run;
  }

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<void> {
    const row = toTaskRow(task, runId);
    const ev = eventParams({ ...event, task: task.name });
    // Of two calls at one position the later wins, as with recordCall one by one (one upsert cannot touch a row twice).
    const calls = [...new Map((options.calls ?? []).map((c) => [c.position, c])).values()];
    const fencedBy = options.fencedBy === undefined || options.fencedBy === task.name ? null : options.fencedBy;
    const values = [runId, row.name, ...recordParams(row), row.worker, row.fencing_token, row.lease_expires_at, options.fencingToken ?? null, now, ...ev, fencedBy];
    const result = await this.write<{ done: boolean; found: boolean; written: boolean }>(
      calls.length === 0 ? this.sql.saveTask : this.sql.saveTaskWithCalls,
      calls.length === 0 ? values : [...values, ...callArrays(calls, runId)],
    );
    if (!result || result.done || result.written) return;
    if (!result.found) throw this.runNotFound(runId);
    throw await this.fencedOut("commit", runId, task.name, options);
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<void> {
    const result = await this.write<{ done: boolean; written: boolean }>(this.sql.setRunStatus, [
      runId,
      status,
      jsonOrNull(error, `error of run ${quote(runId)}`),
      now,
      ...eventParams(event),
    ]);
    if (result && !result.done && !result.written) throw this.runNotFound(runId);
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<boolean> {
    const result = await this.write<{ done: boolean; found: boolean; removed: boolean }>(this.sql.removeTask, [
      runId,
      task,
      now,
      ...eventParams({ ...event, task }),
    ]);
    if (!result || result.done) return true;
    if (!result.found) throw this.runNotFound(runId);
    return result.removed;
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void> {
    // An upsert of the same row: safe to retry as it is.
    const rows = await this.read<{ found: boolean; written: boolean }>(this.sql.recordCall, [
      runId,
      ...callParams(call, runId),
      options.fencingToken ?? null,
      options.fencedBy ?? null,
    ]);
    const row = rows[0]!;
    if (row.written) return;
    if (!row.found) throw this.runNotFound(runId);
    throw await this.fencedOut("journal entry", runId, call.task, options);
  }

  protected async doClearCalls(runId: string, task: string): Promise<void> {
    const rows = await this.read<{ found: boolean }>(this.sql.clearCalls, [runId, task]);
    if (!rows[0]?.found) throw this.runNotFound(runId);
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<void> {
    const { run, events, calls } = dump;
    const runId = run.runId;
    // A name given twice keeps its first place and its last record, as in the reference store.
    const tasks = [...new Map(run.tasks.map((t) => [t.name, t])).values()].map((t) => toTaskRow(t, runId));
    const eventRows = events.map((e) => eventParams(e));
    const runRow = [
      runId,
      encodeJson(run.crew, `crew name of run ${quote(runId)}`),
      encodeJson(run.inputs, `inputs of run ${quote(runId)}`),
      run.status,
      run.attempts,
      jsonOrNull(run.error, `error of run ${quote(runId)}`),
      plainText(run.createdAt, "creation time", runId),
      plainText(run.updatedAt, "update time", runId),
      run.kind,
      run.parent?.runId ?? null,
      run.parent?.task ?? null,
      events.length,
    ];
    const column = <K extends keyof TaskRow>(key: K) => tasks.map((t) => t[key]);
    await this.transaction(async (client) => {
      const existing = await client.query(this.sql.lockRun, [runId]);
      if (existing.rowCount && !overwrite) {
        throw new CrewstateError("RUN_EXISTS", `run ${quote(runId)} already exists in ${this.location}; pass --overwrite to replace it`, {
          runId,
          store: this.location,
        });
      }
      await client.query(this.sql.deleteRun, [runId]);
      await client.query(this.sql.insertRun, runRow);
      if (tasks.length > 0) {
        await client.query(this.sql.importTasks, [
          runId,
          column("name"),
          column("status"),
          column("input_hash"),
          column("output"),
          column("structured"),
          column("output_hash"),
          column("started_at"),
          column("completed_at"),
          column("attempts"),
          column("error"),
          column("input_tokens"),
          column("output_tokens"),
          column("cost_usd").map(floatParam),
          column("model"),
          column("worker"),
          column("fencing_token"),
          column("lease_expires_at"),
        ]);
      }
      if (events.length > 0) {
        await client.query(this.sql.importEvents, [
          runId,
          eventRows.map((e) => e[0]),
          eventRows.map((e) => e[1]),
          events.map((e) => plainText(e.at, "event time", runId)),
          eventRows.map((e) => e[2]),
        ]);
      }
      if (calls.length > 0) {
        await client.query(this.sql.importCalls, [runId, ...callArrays(calls, runId)]);
      }
    });
  }

  // --- leases: one statement each, by the server's clock ---

  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined> {
    // One op ID for every attempt: a retry that finds it in the row returns the lease already granted.
    const claim = [
      runId,
      plainText(task, "task name", runId),
      jsonOrNull(worker, "worker ID"),
      ttlMs,
      options.takeOverFrom === undefined ? null : jsonOrNull(options.takeOverFrom, "worker ID"),
      timeOrderedId(),
      options.seenToken ?? null,
    ];
    const rows = options.start === undefined ? await this.read<ClaimRow>(this.sql.claimTask, claim) : await this.claimStart(claim, runId, options.start);
    const row = rows[0]!;
    if (!row.found) throw this.runNotFound(runId);
    if (row.token === null || row.expires_at === null) return undefined;
    return { runId, task, worker, token: Number(row.token), expiresAt: row.expires_at };
  }

  /** A claim that, once granted, writes `start`'s record under its lease and appends its event, as a commit at `this.now()`. */
  private async claimStart(claim: unknown[], runId: string, start: TaskStart): Promise<ClaimRow[]> {
    const task = toTaskRow(start.task, runId);
    const values = [...claim, this.now(), ...eventParams({ ...start.event, task: task.name }), ...recordParams(task)];
    try {
      return await this.read<ClaimRow>(this.sql.claimStart, values);
    } catch (error) {
      // A retry that raced its own first attempt, still committing, fails on the op ID: that attempt
      // was granted, and the claim run once more finds its event and returns its lease.
      if (!isOwnOpConflict(error)) throw error;
      return this.read<ClaimRow>(this.sql.claimStart, values);
    }
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    // Setting the expiry to now + TTL again is harmless, so a retry after a lost reply is safe.
    const rows = await this.read<{ found: boolean; worker: string | null; expires_at: string | null; current: string | null }>(this.sql.heartbeat, [
      lease.runId,
      plainText(lease.task, "task name", lease.runId),
      lease.token,
      ttlMs,
    ]);
    const row = rows[0]!;
    if (!row.found) throw this.runNotFound(lease.runId);
    if (row.expires_at === null) {
      throw new FencedOutError(
        `heartbeat of task ${quote(lease.task)} in run ${quote(lease.runId)} carries fencing token ${lease.token}, but the current token is ${row.current ?? 0}`,
        { runId: lease.runId, task: lease.task, store: this.location },
      );
    }
    const worker = row.worker === null ? lease.worker : decodeJson<string>(row.worker, `the worker of task ${quote(lease.task)} of run ${quote(lease.runId)}`);
    return { runId: lease.runId, task: lease.task, worker, token: lease.token, expiresAt: row.expires_at };
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    // Clearing an expiry twice is the same as once: safe to retry.
    await this.read(this.sql.releaseTask, [lease.runId, plainText(lease.task, "task name", lease.runId), lease.token]);
  }

  // --- reads: always safe to retry ---

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    const runs = await this.read<RunRow>(this.sql.getRun, [runId]);
    if (runs.length === 0) return undefined;
    const tasks = await this.read<TaskRow>(this.sql.getTasks, [runId]);
    return toRun(runs[0]!, tasks);
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    return (await this.read<SummaryRow>(this.sql.listRuns, [])).map(toSummary);
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return (await this.read<EventRow>(this.sql.getEvents, [runId])).map(toEvent);
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return (await this.read<CallRow>(this.sql.getCalls, [runId, task])).map(toCall);
  }

  /** The whole run from one snapshot, in four queries rather than one per task. */
  protected override async doExportRun(runId: string): Promise<RunDump | undefined> {
    return this.attempt(
      () =>
        withClient(this.pool, (client) =>
          inTransaction(client, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", async () => {
            const runs = await client.query<RunRow>(this.sql.getRun, [runId]);
            if (runs.rows.length === 0) return undefined;
            const tasks = await client.query<TaskRow>(this.sql.getTasks, [runId]);
            const events = await client.query<EventRow>(this.sql.getEvents, [runId]);
            const calls = await client.query<CallRow>(this.sql.getRunCalls, [runId]);
            return { run: toRun(runs.rows[0]!, tasks.rows), events: events.rows.map(toEvent), calls: calls.rows.map(toCall) };
          }),
        ),
      true,
    );
  }

  // --- plumbing ---

  /** Runs a read (or an idempotent write) with one retry after a connection failure. */
  private async read<R extends pg.QueryResultRow>(statement: Statement, values: unknown[]): Promise<R[]> {
    return this.attempt(async () => (await this.pool.query<R>({ ...statement, values })).rows, true);
  }

  /**
   * Runs one write statement whose last parameter is a fresh op ID. A retry after a dropped
   * connection is safe: the statement does nothing when an event with that op ID exists, and a
   * retry racing a still-committing first attempt fails on the op ID's unique index — which also
   * means the write landed. Returns undefined in that case.
   */
  private async write<R extends pg.QueryResultRow>(statement: Statement, values: unknown[]): Promise<R | undefined> {
    const op = timeOrderedId();
    try {
      return (await this.read<R>(statement, [...values, op]))[0];
    } catch (error) {
      if (isOwnOpConflict(error)) return undefined;
      throw error;
    }
  }

  /**
   * Runs `body` in a transaction. A connection failure before COMMIT was sent proves nothing was
   * committed, so the whole transaction is retried once; a failure during COMMIT is ambiguous and
   * surfaces as `STORE_UNAVAILABLE`.
   */
  private async transaction(body: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    let committing = false;
    await this.attempt(async () => {
      if (committing) throw this.unavailable(new Error("the connection failed during COMMIT; the write may or may not have been applied"));
      await withClient(this.pool, (client) => inTransaction(client, "BEGIN", () => body(client), () => (committing = true)));
    }, true);
  }

  /** Runs `fn`, retrying once after a connection failure when `retry`; maps failures to shared codes. */
  private async attempt<T>(fn: () => Promise<T>, retry: boolean): Promise<T> {
    if (this.closed) throw this.unavailable(new Error("the store is closed"));
    try {
      return await fn();
    } catch (error) {
      if (!isConnectionError(error)) throw this.mapError(error);
      if (!retry || this.closed) throw this.unavailable(error);
      // Let the pool notice the other connections that died with this one before retrying.
      await new Promise((resolve) => setTimeout(resolve, 20));
      try {
        return await fn();
      } catch (again) {
        throw isConnectionError(again) ? this.unavailable(again) : this.mapError(again);
      }
    }
  }

  private mapError(error: unknown): unknown {
    if (!isPgError(error)) return error;
    if (error.code === "23514" || error.code === "22P02" || error.code === "22003") {
      // A CHECK constraint (an unknown status or kind) or a number that is not a storable integer.
      return new CrewstateError("INVALID_INPUT", `PostgreSQL store ${this.location} refused a value: ${oneLine(error)}`, { store: this.location, sqlState: error.code }, { cause: error });
    }
    if (error.code === "23505" && error.table === "runs") {
      return new CrewstateError("RUN_EXISTS", `the run was created in ${this.location} by another writer during this import; pass --overwrite to replace it`, { store: this.location }, { cause: error });
    }
    return new CrewstateError("STORE_UNAVAILABLE", `PostgreSQL store ${this.location} failed: ${oneLine(error)}`, { store: this.location, sqlState: error.code }, { cause: error });
  }

  private unavailable(error: unknown): CrewstateError {
    if (error instanceof CrewstateError) return error;
    return new CrewstateError(
      "STORE_UNAVAILABLE",
      `PostgreSQL store ${this.location} is unavailable: ${oneLine(error)}; check that the server is running and the URL is right`,
      { store: this.location },
      { cause: error },
    );
  }

  private runNotFound(runId: string): CrewstateError {
    return new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${this.location}`, { runId, store: this.location });
  }

  /** The refusal of a `what` of `task` made under `fence`, naming the current token of the record it is fenced by. */
  private async fencedOut(what: string, runId: string, task: string, fence: FenceOptions): Promise<FencedOutError> {
    const current = await this.read<{ fencing_token: string }>(this.sql.taskToken, [runId, fence.fencedBy ?? task]);
    return fencedOut(what, runId, task, fence.fencedBy, fence.fencingToken, current[0]?.fencing_token ?? 0, this.location);
  }
}

/** `body` between `begin` and COMMIT, rolled back when it fails before COMMIT is sent. */
async function inTransaction<T>(client: pg.PoolClient, begin: string, body: () => Promise<T>, beforeCommit?: () => void): Promise<T> {
  let committing = false;
  try {
    await client.query(begin);
    const result = await body();
    committing = true;
    beforeCommit?.();
    await client.query("COMMIT");
    return result;
  } catch (error) {
    if (!committing) await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

// --- stored rows (snake_case) and their mapping to the public types ---

interface RunRow {
  run_id: string;
  crew: string;
  inputs: string;
  status: RunStatus;
  attempts: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  kind: RunKind;
  parent_run_id: string | null;
  parent_task: string | null;
}

type SummaryRow = Omit<RunRow, "inputs"> & { task_count: number; completed_count: number };

interface TaskRow {
  name: string;
  status: TaskStatus;
  input_hash: string | null;
  output: string | null;
  structured: string | null;
  output_hash: string | null;
  started_at: string | null;
  completed_at: string | null;
  attempts: number;
  error: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** double precision: pg returns it as a number. */
  cost_usd: number | null;
  model: string | null;
  worker: string | null;
  /** bigint: pg returns it as a string. */
  fencing_token: string;
  lease_expires_at: string | null;
}

interface ClaimRow {
  found: boolean;
  /** bigint: pg returns it as a string. */
  token: string | null;
  expires_at: string | null;
}

interface EventRow {
  run_id: string;
  seq: number;
  task: string | null;
  type: EventType;
  at: string;
  data: string | null;
}

interface CallRow {
  task: string;
  position: number;
  kind: "model" | "tool";
  request_hash: string;
  response: string;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  at: string;
}

function toRun(row: RunRow, tasks: TaskRow[]): Run {
  const where = `run ${quote(row.run_id)}`;
  return {
    runId: row.run_id,
    crew: decodeJson<string>(row.crew, `the crew of ${where}`),
    kind: row.kind,
    parent: parentOf(row),
    inputs: decodeJson<Inputs>(row.inputs, `the inputs of ${where}`),
    status: row.status,
    attempts: row.attempts,
    error: row.error === null ? null : decodeJson<string>(row.error, `the error of ${where}`),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    tasks: tasks.map((t) => toTask(t, row.run_id)),
  };
}

function toSummary(row: SummaryRow): RunSummary {
  return {
    runId: row.run_id,
    crew: decodeJson<string>(row.crew, `the crew of run ${quote(row.run_id)}`),
    kind: row.kind,
    parent: parentOf(row),
    status: row.status,
    attempts: row.attempts,
    error: row.error === null ? null : decodeJson<string>(row.error, `the error of run ${quote(row.run_id)}`),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    taskCount: row.task_count,
    completedCount: row.completed_count,
  };
}

function parentOf(row: Pick<RunRow, "parent_run_id" | "parent_task">): RunParent | null {
  return row.parent_run_id === null ? null : { runId: row.parent_run_id, task: row.parent_task };
}

function toTask(row: TaskRow, runId: string): TaskRecord {
  const where = `task ${quote(row.name)} of run ${quote(runId)}`;
  return {
    name: row.name,
    status: row.status,
    inputHash: row.input_hash,
    output: row.output === null ? null : decodeJson<string>(row.output, `the output of ${where}`),
    structured: row.structured === null ? null : decodeJson(row.structured, `the structured output of ${where}`),
    outputHash: row.output_hash,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    attempts: row.attempts,
    error: row.error === null ? null : decodeJson<string>(row.error, `the error of ${where}`),
    usage: usageOf(row.input_tokens, row.output_tokens, row.cost_usd),
    model: row.model === null ? null : decodeJson<string>(row.model, `the model of ${where}`),
    worker: row.worker === null ? null : decodeJson<string>(row.worker, `the worker of ${where}`),
    fencingToken: Number(row.fencing_token),
    leaseExpiresAt: row.lease_expires_at,
  };
}

function toTaskRow(task: TaskRecord, runId: string): TaskRow {
  const where = `task ${quote(task.name)}`;
  return {
    name: task.name,
    status: task.status,
    input_hash: plainTextOrNull(task.inputHash, `input hash of ${where}`, runId),
    output: jsonOrNull(task.output, `output of ${where}`),
    structured: jsonOrNull(task.structured, `structured output of ${where}`),
    output_hash: plainTextOrNull(task.outputHash, `output hash of ${where}`, runId),
    started_at: plainTextOrNull(task.startedAt, `start time of ${where}`, runId),
    completed_at: plainTextOrNull(task.completedAt, `completion time of ${where}`, runId),
    attempts: task.attempts,
    error: jsonOrNull(task.error, `error of ${where}`),
    input_tokens: task.usage?.inputTokens ?? null,
    output_tokens: task.usage?.outputTokens ?? null,
    cost_usd: task.usage?.costUsd ?? null,
    model: jsonOrNull(task.model, `model of ${where}`),
    worker: jsonOrNull(task.worker, `worker of ${where}`),
    fencing_token: String(task.fencingToken),
    lease_expires_at: plainTextOrNull(task.leaseExpiresAt, `lease expiry of ${where}`, runId),
  };
}

function toEvent(row: EventRow): RunEvent {
  return {
    seq: row.seq,
    runId: row.run_id,
    task: row.task,
    type: row.type,
    at: row.at,
    data: row.data === null ? null : decodeJson<{ [key: string]: JsonValue }>(row.data, `event ${row.seq} of run ${quote(row.run_id)}`),
  };
}

function toCall(row: CallRow): CallRecord {
  return {
    task: row.task,
    position: row.position,
    kind: row.kind,
    requestHash: row.request_hash,
    response: decodeJson(row.response, `call ${row.position} of task ${quote(row.task)}`),
    usage: usageOf(row.input_tokens, row.output_tokens, row.cost_usd),
    at: row.at,
  };
}

function usageOf(inputTokens: number | null, outputTokens: number | null, costUsd: number | null): TokenUsage | null {
  return inputTokens === null || outputTokens === null ? null : { inputTokens, outputTokens, costUsd };
}

/**
 * A double as a statement parameter, in text: pg would send -0 as "0". `String` gives the
 * shortest text that reads back as the same double, and PostgreSQL (extra_float_digits ≥ 1, the
 * default since 12) prints it back that way, so a cost round-trips exactly.
 */
function floatParam(value: number | null): string | null {
  if (value === null) return null;
  return Object.is(value, -0) ? "-0" : String(value);
}

/** The record's fields that are not its name or lease, as statement parameters (in `recordColumns` order). */
function recordParams(row: TaskRow): unknown[] {
  return [
    row.status,
    row.input_hash,
    row.output,
    row.structured,
    row.output_hash,
    row.started_at,
    row.completed_at,
    row.attempts,
    row.error,
    row.input_tokens,
    row.output_tokens,
    floatParam(row.cost_usd),
    row.model,
  ];
}

/** A journal entry as statement parameters (in `callColumns` order). */
function callParams(call: CallRecord, runId: string): unknown[] {
  return [
    call.task,
    call.position,
    call.kind,
    plainText(call.requestHash, "request hash", runId),
    encodeJson(call.response, `call ${call.position} of task ${quote(call.task)}`),
    call.usage?.inputTokens ?? null,
    call.usage?.outputTokens ?? null,
    floatParam(call.usage?.costUsd ?? null),
    plainText(call.at, "call time", runId),
  ];
}

/** At least one journal entry as statement parameters: an array per column (in `callColumns` order). */
function callArrays(calls: CallRecord[], runId: string): unknown[][] {
  const rows = calls.map((call) => callParams(call, runId));
  return rows[0]!.map((_, i) => rows.map((row) => row[i]));
}

/** [task, type, data] of an event, as statement parameters. */
function eventParams(event: NewEvent): [string | null, EventType, string | null] {
  const task = event.task ?? null;
  const what = `event data${task ? ` of task ${quote(task)}` : ""}`;
  return [
    task === null ? null : plainText(task, `the task of an event`, ""),
    plainText(event.type, "an event type", "") as EventType,
    event.data == null ? null : encodeJson(event.data, what),
  ];
}

function jsonOrNull(value: JsonValue | null, what: string): string | null {
  return value === null ? null : encodeJson(value, what);
}

// PostgreSQL `text` cannot hold NUL, and a lone surrogate would silently become U+FFFD in UTF-8.
const NOT_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A machine-made string kept as plain text (hashes, times, names of event types): refused if PostgreSQL would change it. */
function plainText(value: string, what: string, runId: string): string {
  if (typeof value !== "string" || NOT_TEXT.test(value)) {
    const where = runId ? ` in run ${quote(runId)}` : "";
    throw new CrewstateError("INVALID_INPUT", `${what}${where} must be a string without NUL characters or lone surrogates`, runId ? { runId } : {});
  }
  return value;
}

function plainTextOrNull(value: string | null, what: string, runId: string): string | null {
  return value === null ? null : plainText(value, what, runId);
}

/**
 * A UUID whose first 48 bits are the time in ms (as UUIDv7), so op IDs of consecutive writes sit
 * next to each other in the `events_op_id_unique` index instead of all over it.
 */
function timeOrderedId(): string {
  const time = Date.now().toString(16).padStart(12, "0");
  // A random v4 UUID "xxxxxxxx-xxxx-4xxx-yxxx-…" keeps its last 74 random bits and its variant.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

// --- errors ---

interface PgError extends Error {
  code?: string;
  constraint?: string;
  table?: string;
}

function isPgError(error: unknown): error is PgError & { code: string } {
  return error instanceof Error && typeof (error as PgError).code === "string" && /^[0-9A-Z]{5}$/.test((error as PgError).code!);
}

/** Whether a write failed on its op ID's unique index, that is, the same write already landed (seen through `mapError`'s wrapping). */
function isOwnOpConflict(error: unknown): boolean {
  const cause = error instanceof CrewstateError ? error.cause : error;
  return isPgError(cause) && cause.code === "23505" && cause.constraint === "events_op_id_unique";
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: the server is starting up
  "53300", // too_many_connections
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "3D000", // the database does not exist
]);
const CONNECTION_MESSAGE = /connection terminated|not queryable|timeout exceeded when trying to connect|connection timeout|terminating connection|server closed the connection|the store is closed|cannot use a pool after calling end/i;

/** Whether `error` means the connection (not the statement) failed. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof CrewstateError) return error.code === "STORE_UNAVAILABLE";
  if (!(error instanceof Error)) return false;
  const code = (error as PgError).code;
  if (code && (CONNECTION_CODES.has(code) || code.startsWith("08"))) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return CONNECTION_MESSAGE.test(error.message);
}

/** One line about a failure; Node's AggregateError (several addresses refused) has an empty message. */
function oneLine(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return oneLine(error.errors[0]);
  const text = messageOf(error);
  const code = (error as PgError | undefined)?.code;
  if (text.length > 0) return text;
  return code ?? "unknown error";
}

// --- SQL: built once per store; the schema is the only thing spliced in, validated and quoted ---

interface Statement {
  name: string;
  text: string;
}
type Statements = ReturnType<typeof statements>;

function statements(s: string) {
  const named = (name: string, text: string): Statement => ({ name: `crewstate_${name}`, text });
  // A task's record but its name and lease; `recordParams` gives their values in this order.
  const recordColumns =
    "status, input_hash, output, structured, output_hash, started_at, completed_at, attempts, error, input_tokens, output_tokens, cost_usd, model";
  const taskColumns = `name, ${recordColumns}, worker, fencing_token, lease_expires_at`;
  const fromExcluded = (columns: string) => columns.split(", ").map((c) => `${c} = excluded.${c}`).join(", ");
  // A timestamptz as the store contract's ISO-8601 UTC text with milliseconds (as `Date.toISOString`).
  const iso = (ts: string) => `to_char((${ts}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  // The server's clock, read once per statement, to the millisecond (what an ISO string can hold).
  const clock = `clock AS MATERIALIZED (SELECT date_trunc('milliseconds', clock_timestamp()) AS now)`;
  const runColumns = "run_id, crew, inputs, status, attempts, error, created_at, updated_at, kind, parent_run_id, parent_task";
  // A journal entry but its run; `callParams` gives their values in this order, `callArrays` as arrays of `callTypes`.
  const callColumns = "task, position, kind, request_hash, response, input_tokens, output_tokens, cost_usd, at";
  const callTypes = ["text", "integer", "text", "text", "text", "integer", "integer", "double precision", "text"];
  const replaceCall = `ON CONFLICT (run_id, task, position) DO UPDATE SET ${fromExcluded(callColumns.replace("task, position, ", ""))}`;
  // The upsert into run $1's journal of the entries in the arrays from $`first` on (when `when` holds).
  const insertCalls = (first: number, when?: string) => `
         INSERT INTO ${s}.calls (run_id, ${callColumns})
         SELECT $1, ${callColumns}
         FROM unnest(${callTypes.map((type, i) => `$${first + i}::${type}[]`).join(", ")}) AS u(${callColumns})${when ? `
         WHERE ${when}` : ""}
         ${replaceCall}`;
  // $1 run, $2..$18 the task row, $19 the fencing token required (or NULL), $20 now,
  // $21..$23 event task, type, data, $24 the record whose token $19 must be (NULL: the task's own),
  // then with `calls` $25..$33 the journal entries (callArrays), and last the op. Replacing the
  // record ends any claim's retry window. The entries are written only with the record: not when
  // fenced out, nor on a retry. Fenced by another record, the check locks that record's row as
  // recordCall's does.
  const saveTask = (name: string, calls: boolean) => {
    const op = calls ? "$34" : "$25";
    return named(
      name,
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = ${op}::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done) FOR NO KEY UPDATE
       ), task AS (
         INSERT INTO ${s}.tasks AS t (run_id, ${taskColumns})
         SELECT run_id, $2, $3, $4, $5, $6, $7, $8, $9, $10::integer, $11, $12::integer, $13::integer, $14::double precision, $15, $16, $17::bigint, $18
         FROM run
         WHERE $19::bigint IS NULL
            OR ($24::text IS NULL AND ($19::bigint = 0 OR EXISTS (SELECT 1 FROM ${s}.tasks WHERE run_id = $1 AND name = $2)))
            OR ($24::text IS NOT NULL
                AND $19::bigint = coalesce((SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $24::text FOR SHARE), 0))
         ON CONFLICT (run_id, name) DO UPDATE
           SET ${fromExcluded(recordColumns)}, worker = excluded.worker, fencing_token = excluded.fencing_token,
               lease_expires_at = excluded.lease_expires_at, claim_op = NULL
           WHERE $19::bigint IS NULL OR $24::text IS NOT NULL OR t.fencing_token = $19::bigint
         RETURNING 1
       ), ${calls ? `journal AS (${insertCalls(25, "EXISTS (SELECT 1 FROM task)")}
       ), ` : ""}bump AS (
         UPDATE ${s}.runs SET event_count = event_count + 1, updated_at = $20
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM task)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $21, $22, $20, $23, ${op}::uuid FROM bump
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM bump) AS written`,
    );
  };
  // The upsert of a claim ($1 run, $2 task, $3 worker, $4 TTL, $5 the worker to take over from,
  // $6 op, $7 the token the claimer saw, or NULL) that writes `columns` = `values` as well as the
  // lease, in a row `run` and `clock` give (`set` updates them in an existing row). With a token
  // seen, a new row is tried only for 0 or when a row is there to conflict with, and an existing
  // row is taken only while its token is still that one. The conflict clause sees the latest
  // committed row, so of concurrent claims exactly one passes it; the others wait for that one and
  // find its lease running (or its token moved on). A retry that finds its own op ID in the row
  // passes whatever the lease and token, having moved the token itself.
  const claim = (columns: string, values: string, set: string) => `
         INSERT INTO ${s}.tasks AS t (run_id, name, ${columns}, worker, fencing_token, lease_expires_at, claim_op)
         SELECT run.run_id, $2, ${values}, $3, 1, ${iso("clock.now + $4::integer * interval '1 millisecond'")}, $6::uuid
         FROM run, clock
         WHERE $7::bigint IS NULL OR $7::bigint = 0
            OR EXISTS (SELECT 1 FROM ${s}.tasks WHERE run_id = $1 AND name = $2)
         ON CONFLICT (run_id, name) DO UPDATE
           SET ${set}worker = excluded.worker,
               fencing_token = CASE WHEN t.claim_op = excluded.claim_op THEN t.fencing_token ELSE t.fencing_token + 1 END,
               lease_expires_at = CASE WHEN t.claim_op = excluded.claim_op THEN t.lease_expires_at ELSE excluded.lease_expires_at END,
               claim_op = excluded.claim_op
           WHERE t.claim_op = excluded.claim_op
              OR (($7::bigint IS NULL OR t.fencing_token = $7::bigint)
                  AND (t.lease_expires_at IS NULL
                       OR t.lease_expires_at COLLATE "C" <= (SELECT ${iso("now")} FROM clock) COLLATE "C"
                       OR t.worker = excluded.worker
                       OR t.worker = $5))
         RETURNING fencing_token, lease_expires_at
       `;
  return {
    // $1 run, $2 crew, $3 inputs, $4 now, $5 kind, $6 $7 parent run and task, $8 op. An existing
    // run keeps its kind (another is a mismatch) and its parent.
    beginRun: named(
      "begin_run",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $8::uuid
       ), up AS (
         INSERT INTO ${s}.runs AS r (run_id, crew, inputs, status, attempts, error, created_at, updated_at, event_count, kind, parent_run_id, parent_task)
         SELECT $1, $2, $3, 'running', 1, NULL, $4, $4, 1, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM done)
         ON CONFLICT (run_id) DO UPDATE
           SET crew = excluded.crew, inputs = excluded.inputs, status = 'running', attempts = r.attempts + 1,
               error = NULL, updated_at = excluded.updated_at, event_count = r.event_count + 1
           WHERE (r.crew = excluded.crew OR r.crew = '""') AND r.kind = excluded.kind
         RETURNING attempts, event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, NULL, 'run_started', $4, '{"attempt":' || attempts || '}', $8::uuid FROM up
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM up) AS written`,
    ),
    runCrew: named("run_crew", `SELECT crew, kind FROM ${s}.runs WHERE run_id = $1`),
    saveTask: saveTask("save_task", false),
    saveTaskWithCalls: saveTask("save_task_calls", true),
    taskToken: named("task_token", `SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $2`),
    // $1 run, $2 task, $3 worker (JSON), $4 TTL in ms, $5 the worker to take over from (JSON, or NULL), $6 op,
    // $7 the token seen (or NULL).
    // The run's key-share lock keeps the run from being replaced under the claim without
    // serialising claims with commits. A new row is a pending record; an existing one keeps every
    // field but the lease's.
    claimTask: named(
      "claim_task",
      `WITH ${clock}, run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR KEY SHARE
       ), claim AS (${claim("status, attempts", "'pending', 0", "")})
       SELECT EXISTS (SELECT 1 FROM run) AS found, (SELECT fencing_token FROM claim) AS token,
              (SELECT lease_expires_at FROM claim) AS expires_at`,
    ),
    // $1..$7 as claimTask, $8 now, $9..$11 event task, type, data, $12..$24 the started record
    // (recordColumns). Granted, the claim is a commit: it takes the run's row lock first, as
    // saveTask does, writes the record under the claim's lease and appends the event. A retry
    // whose event is already there returns the lease it was granted and appends nothing.
    claimStart: named(
      "claim_start",
      `WITH ${clock}, done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $6::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR NO KEY UPDATE
       ), claim AS (${claim(
         recordColumns,
         "$12, $13, $14, $15, $16, $17, $18, $19::integer, $20, $21::integer, $22::integer, $23::double precision, $24",
         `${fromExcluded(recordColumns)}, `,
       )}), bump AS (
         UPDATE ${s}.runs SET event_count = event_count + 1, updated_at = $8
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM claim) AND NOT EXISTS (SELECT 1 FROM done)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $9, $10, $8, $11, $6::uuid FROM bump
       )
       SELECT EXISTS (SELECT 1 FROM run) AS found, (SELECT fencing_token FROM claim) AS token,
              (SELECT lease_expires_at FROM claim) AS expires_at`,
    ),
    // $1 run, $2 task, $3 token, $4 TTL in ms. The current token is for the message of a refusal.
    heartbeat: named(
      "heartbeat",
      `WITH ${clock}, renewed AS (
         UPDATE ${s}.tasks SET lease_expires_at = ${iso("clock.now + $4::integer * interval '1 millisecond'")}
         FROM clock
         WHERE run_id = $1 AND name = $2 AND fencing_token = $3::bigint
         RETURNING worker, lease_expires_at
       )
       SELECT EXISTS (SELECT 1 FROM ${s}.runs WHERE run_id = $1) AS found,
              (SELECT worker FROM renewed) AS worker, (SELECT lease_expires_at FROM renewed) AS expires_at,
              (SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $2) AS current`,
    ),
    // $1 run, $2 task, $3 token: a stale token matches no row, so it does nothing.
    releaseTask: named(
      "release_task",
      `UPDATE ${s}.tasks SET lease_expires_at = NULL, claim_op = NULL
       WHERE run_id = $1 AND name = $2 AND fencing_token = $3::bigint`,
    ),
    // $1 run, $2 status, $3 error, $4 now, $5..$7 event task, type, data, $8 op
    setRunStatus: named(
      "set_run_status",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $8::uuid
       ), run AS (
         UPDATE ${s}.runs SET status = $2, error = $3, updated_at = $4, event_count = event_count + 1
         WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $5, $6, $4, $7, $8::uuid FROM run
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS written`,
    ),
    // $1 run, $2 task, $3 now, $4..$6 event task, type, data, $7 op
    removeTask: named(
      "remove_task",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $7::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done) FOR NO KEY UPDATE
       ), removed AS (
         DELETE FROM ${s}.tasks WHERE run_id = (SELECT run_id FROM run) AND name = $2 RETURNING 1
       ), journal AS (
         DELETE FROM ${s}.calls WHERE run_id = $1 AND task = $2 AND EXISTS (SELECT 1 FROM removed)
       ), bump AS (
         UPDATE ${s}.runs SET event_count = event_count + 1, updated_at = $3
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM removed)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $4, $5, $3, $6, $7::uuid FROM bump
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM bump) AS removed`,
    ),
    // $1 run, $2 task, $3 position, $4 kind, $5 request hash, $6 response, $7 $8 tokens, $9 cost, $10 at,
    // $11 the fencing token required (or NULL), $12 the record it must be the token of (NULL: the
    // call's task). The check locks the task's row (FOR SHARE waits for
    // a claim in flight and reads its token), so a claim that replaces the lease comes before the
    // entry or after it, never between the check and the write.
    recordCall: named(
      "record_call",
      `WITH run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR KEY SHARE
       ), written AS (
         INSERT INTO ${s}.calls (run_id, ${callColumns})
         SELECT run_id, $2, $3::integer, $4, $5, $6, $7::integer, $8::integer, $9::double precision, $10
         FROM run
         WHERE $11::bigint IS NULL
            OR $11::bigint = coalesce((SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = coalesce($12::text, $2) FOR SHARE), 0)
         ${replaceCall}
         RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM written) AS written`,
    ),
    clearCalls: named(
      "clear_calls",
      `WITH cleared AS (DELETE FROM ${s}.calls WHERE run_id = $1 AND task = $2)
       SELECT EXISTS (SELECT 1 FROM ${s}.runs WHERE run_id = $1) AS found`,
    ),
    getRun: named("get_run", `SELECT ${runColumns} FROM ${s}.runs WHERE run_id = $1`),
    getTasks: named("get_tasks", `SELECT ${taskColumns} FROM ${s}.tasks WHERE run_id = $1 ORDER BY position`),
    listRuns: named(
      "list_runs",
      `SELECT r.run_id, r.crew, r.status, r.attempts, r.error, r.created_at, r.updated_at, r.kind, r.parent_run_id, r.parent_task,
              coalesce(t.task_count, 0)::integer AS task_count, coalesce(t.completed_count, 0)::integer AS completed_count
       FROM ${s}.runs r
       LEFT JOIN (
         SELECT run_id, count(*) AS task_count, count(*) FILTER (WHERE status IN ('completed', 'skipped')) AS completed_count
         FROM ${s}.tasks GROUP BY run_id
       ) t ON t.run_id = r.run_id
       ORDER BY r.created_at DESC, r.run_id DESC`,
    ),
    getEvents: named("get_events", `SELECT run_id, seq, task, type, at, data FROM ${s}.events WHERE run_id = $1 ORDER BY seq`),
    getCalls: named(
      "get_calls",
      `SELECT task, position, kind, request_hash, response, input_tokens, output_tokens, cost_usd, at
       FROM ${s}.calls WHERE run_id = $1 AND task = $2 ORDER BY position`,
    ),
    // The journals of the run's recorded tasks, in task order (what `exportRun` promises).
    getRunCalls: named(
      "get_run_calls",
      `SELECT c.task, c.position, c.kind, c.request_hash, c.response, c.input_tokens, c.output_tokens, c.cost_usd, c.at
       FROM ${s}.calls c JOIN ${s}.tasks t ON t.run_id = c.run_id AND t.name = c.task
       WHERE c.run_id = $1 ORDER BY t.position, c.position`,
    ),
    lockRun: named("lock_run", `SELECT 1 FROM ${s}.runs WHERE run_id = $1 FOR UPDATE`),
    deleteRun: named(
      "delete_run",
      `WITH tasks AS (DELETE FROM ${s}.tasks WHERE run_id = $1),
            events AS (DELETE FROM ${s}.events WHERE run_id = $1),
            calls AS (DELETE FROM ${s}.calls WHERE run_id = $1)
       DELETE FROM ${s}.runs WHERE run_id = $1`,
    ),
    insertRun: named(
      "insert_run",
      `INSERT INTO ${s}.runs (${runColumns}, event_count) VALUES ($1, $2, $3, $4, $5::integer, $6, $7, $8, $9, $10, $11, $12::integer)`,
    ),
    importTasks: named(
      "import_tasks",
      `INSERT INTO ${s}.tasks (run_id, ${taskColumns})
       SELECT $1, ${taskColumns} FROM unnest(
         $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::integer[],
         $11::text[], $12::integer[], $13::integer[], $14::double precision[], $15::text[], $16::text[], $17::bigint[], $18::text[]
       ) WITH ORDINALITY AS u(${taskColumns}, ord)
       ORDER BY ord`,
    ),
    importEvents: named(
      "import_events",
      `INSERT INTO ${s}.events (run_id, seq, task, type, at, data)
       SELECT $1, ord, task, type, at, data
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(task, type, at, data, ord)`,
    ),
    // $1 run, $2..$10 the entries (callArrays)
    importCalls: named("import_calls", insertCalls(2)),
  };
}
