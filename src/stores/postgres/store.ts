import { randomUUID } from "node:crypto";
import pg from "pg";
import { CrewstateError, quote } from "../../errors.js";
import { BaseStore } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { busy, exists, fenced, noRun, ok, type Busy, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind } from "../outcomes.js";
import { oneLine, unavailable, withReconnect, type Connection } from "../reconnect.js";
import { redactUrl } from "../../redact.js";
import { migrate, quoteSchema, withClient } from "./migrations.js";
import { statements, type Statement, type Statements } from "./statements.js";
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
  TaskStart,
  TaskStatus,
  TokenUsage,
} from "../store.js";

/**
 * `postgres://user:password@host:port/database[?schema=name]` — state shared by many workers.
 *
 * Tables live in one schema (default `crewstate`), created and migrated on open (see
 * `migrations.ts`). Every write is one SQL statement (`statements.ts`) — its own transaction, one
 * round trip — that takes the run's row lock first, so writes to one run are serialised and the
 * event sequence has no gaps. A task's result, the claim of the task after it (with its started
 * record and event) and the run's end are one statement; so are many reused records. Each write carries a fresh idempotency key (`events.op_id`): when the
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
 * finds its own op ID there and returns the lease it was granted instead of a second token; a
 * commit's claim of the next task carries the commit's op ID, so a retried commit does the same.
 * A lost connection is retried once by `withReconnect` (`../reconnect.ts`).
 */
export class PostgresStore extends BaseStore {
  readonly location: string;
  private readonly sql: Statements;
  private closed = false;
  /** The store's connection as `withReconnect` sees it. */
  private readonly connection: Connection;

  private constructor(
    private readonly pool: pg.Pool,
    location: string,
    readonly schema: string,
  ) {
    super();
    this.location = location;
    this.sql = statements(quoteSchema(schema, location));
    const store = this;
    this.connection = {
      location,
      server: "PostgreSQL",
      get closed() {
        return store.closed;
      },
      isConnectionError,
      // Let the pool notice the other connections that died with this one before retrying.
      reconnected: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return !store.closed;
      },
      mapError: (error) => mapError(error, location),
    };
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
      await withReconnect(store.connection, () => migrate(pool, schema, location, { readOnly: openOptions.readOnly === true }), true);
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

  protected async doBeginRun(init: BeginRun, now: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    const result = await this.write<BeginRow>(this.sql.beginRun, beginParams(init, now, timeOrderedId()));
    if (result && !result.done && !result.written) {
      const refused = await this.beginRefusal(init, result);
      if (refused) return refused;
    }
    const run = await this.doGetRun(init.runId);
    if (!run) {
      throw new CrewstateError("STORE_UNAVAILABLE", `run ${quote(init.runId)} was removed from ${this.location} by another writer as it was begun`, { runId: init.runId, store: this.location });
    }
    return ok(run);
  }

  /** Why a begin (`beginRun`'s statement) was refused: the run is there. Its row, when the statement's snapshot was too early to see it, is read again. */
  private async beginRefusal(init: BeginRun, result: BeginRow): Promise<OtherCrew | OtherKind | undefined> {
    const other = result.crew !== null && result.kind !== null ? { crew: result.crew, kind: result.kind } : (await this.query<{ crew: string; kind: RunKind }>(this.sql.runCrew, [init.runId]))[0];
    if (!other) return undefined;
    const theirs = decodeJson<string>(other.crew, `the crew of run ${quote(init.runId)}`);
    if (theirs === init.crew || theirs === "") return { outcome: "otherKind", kind: other.kind };
    return { outcome: "otherCrew", crew: theirs };
  }

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const row = toTaskRow(task, runId);
    // Of two calls at one position the later wins, as with recordCall one by one (one upsert cannot touch a row twice).
    const calls = [...new Map((options.calls ?? []).map((c) => [c.position, c])).values()];
    const fencedBy = options.fencedBy === undefined || options.fencedBy === task.name ? null : options.fencedBy;
    const { next, endRun } = options;
    const values: unknown[] = [runId, row.name, ...recordParams(row), row.worker, row.fencing_token, row.lease_expires_at, options.fencingToken ?? null, now, ...eventParams(event), fencedBy, timeOrderedId()];
    if (calls.length > 0) values.push(...callArrays(calls, runId));
    if (next) {
      const start = toTaskRow(next.start.task, runId);
      values.push(start.name, jsonOrNull(next.worker, "worker ID"), next.ttlMs, next.seenToken, ...eventParams({ ...next.start.event, task: next.task }), ...recordParams(start));
    }
    if (endRun) values.push(...runEndParams(endRun, runId));
    // With a claim, a retry racing its own first attempt runs once more to read the lease it was granted.
    const result = await this.write<CommitRow>(this.sql.commit({ calls: calls.length > 0, next: next !== undefined, end: endRun !== undefined }), values, next !== undefined);
    if (!result) return ok(undefined);
    if (!result.done && !result.found) return noRun;
    if (!result.done && !result.written) {
      const checked = options.fencedBy ?? task.name;
      return fenced(checked, await this.currentToken(runId, checked, result.current, options.fencingToken));
    }
    const token = result.done ? result.kept_token : result.token;
    const expiresAt = result.done ? result.kept_expires_at : result.expires_at;
    if (!next || token == null || expiresAt == null) return ok(undefined);
    return ok({ runId, task: next.task, worker: next.worker, token: Number(token), expiresAt });
  }

  /**
   * One statement; with `options.begin`, one transaction of `beginRun`'s statement (its op ID on
   * `run_started`) then this one (skipped when it has nothing to write), rolled back when a record
   * is fenced. A retry of a transaction that did commit finds the begin's op and changes nothing,
   * so even a failure during COMMIT is retried.
   */
  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, now: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind> {
    const rows = tasks.map((t) => toTaskRow(t.record, runId));
    const values: unknown[] = [
      runId,
      now,
      ...eventParams(event),
      timeOrderedId(),
      ...taskColumns(rows),
      tasks.map((t) => String(t.fencingToken)),
    ];
    if (options.endRun) values.push(...runEndParams(options.endRun, runId));
    const statement = options.endRun ? this.sql.reuseTasksEnd : this.sql.reuseTasks;
    if (options.begin) return this.beginThenReuse(options.begin, now, tasks.length > 0 || options.endRun !== undefined ? { ...statement, values } : undefined);
    let result: ReuseRow | undefined;
    try {
      result = await this.write<ReuseRow>(statement, values);
    } catch (error) {
      // A row made by another writer after the statement's snapshot failed its token check in the
      // upsert, which aborted the statement: run again, it sees that row now.
      if (!isRaced(error)) throw error;
      result = await this.write<ReuseRow>(statement, values);
    }
    if (!result || result.done) return ok();
    if (!result.found) return noRun;
    if (result.fenced_task !== null) return fenced(result.fenced_task, Number(result.current ?? 0));
    return ok();
  }

  private async beginThenReuse(init: BeginRun, now: string, reuse: pg.QueryConfig | undefined): Promise<Ok | Fenced | OtherCrew | OtherKind> {
    const begin = beginParams(init, now, timeOrderedId());
    const attempt = () =>
      this.transaction<Ok | Fenced | { outcome: "refused"; begun: BeginRow }>(
        async (client) => {
          const begun = (await client.query<BeginRow>({ ...this.sql.beginRun, values: begin })).rows[0]!;
          if (begun.done) return ok();
          if (!begun.written) return { outcome: "refused", begun };
          if (!reuse) return ok();
          const result = (await client.query<ReuseRow>(reuse)).rows[0]!;
          // Thrown to roll the begin back; `refusal` makes it the outcome.
          if (result.fenced_task !== null) throw fenced(result.fenced_task, Number(result.current ?? 0));
          return ok();
        },
        (error) => (isFencedOutcome(error) ? error : undefined),
        true,
      );
    let outcome;
    try {
      outcome = await attempt();
    } catch (error) {
      // As for a reuse alone: a row another writer made after the statement's snapshot; run again.
      if (!isRaced(error)) throw error;
      outcome = await attempt();
    }
    if (outcome.outcome !== "refused") return outcome;
    const refused = await this.beginRefusal(init, outcome.begun);
    if (refused) return refused;
    throw new CrewstateError("STORE_UNAVAILABLE", `run ${quote(init.runId)} was removed from ${this.location} by another writer as it was begun`, { runId: init.runId, store: this.location });
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<Ok | NoRun> {
    const result = await this.write<{ done: boolean; written: boolean }>(this.sql.setRunStatus, [
      runId,
      status,
      jsonOrNull(error, `error of run ${quote(runId)}`),
      now,
      ...eventParams(event),
      timeOrderedId(),
    ]);
    return result && !result.done && !result.written ? noRun : ok();
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<Ok<boolean> | NoRun> {
    const result = await this.write<{ done: boolean; found: boolean; removed: boolean }>(this.sql.removeTask, [runId, task, now, ...eventParams(event), timeOrderedId()]);
    if (!result || result.done) return ok(true);
    if (!result.found) return noRun;
    return ok(result.removed);
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    // An upsert of the same row: safe to retry as it is.
    const rows = await this.query<{ found: boolean; written: boolean; current: string | null }>(this.sql.recordCall, [
      runId,
      ...callParams(call, runId),
      options.fencingToken ?? null,
      options.fencedBy ?? null,
    ]);
    const row = rows[0]!;
    if (row.written) return ok();
    if (!row.found) return noRun;
    const checked = options.fencedBy ?? call.task;
    return fenced(checked, await this.currentToken(runId, checked, row.current, options.fencingToken));
  }

  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    const rows = await this.query<{ found: boolean }>(this.sql.clearCalls, [runId, task]);
    return rows[0]?.found ? ok() : noRun;
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    const { run, events, calls } = dump;
    const runId = run.runId;
    const tasks = run.tasks.map((t) => toTaskRow(t, runId));
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
    return this.transaction<Ok | Exists>(async (client) => {
      const existing = await client.query(this.sql.lockRun, [runId]);
      if (existing.rowCount && !overwrite) return exists;
      await client.query(this.sql.deleteRun, [runId]);
      await client.query(this.sql.insertRun, runRow);
      if (tasks.length > 0) {
        await client.query(this.sql.importTasks, [runId, ...taskColumns(tasks)]);
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
      return ok();
    }, (error) =>
      // The run was created by another writer during this import.
      isPgError(error) && error.code === "23505" && error.table === "runs" ? exists : undefined,
    );
  }

  // --- leases: one statement each, by the server's clock ---

  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
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
    const rows = options.start === undefined ? await this.query<ClaimRow>(this.sql.claimTask, claim) : await this.claimStart(claim, runId, options.start);
    const row = rows[0]!;
    if (!row.found) return noRun;
    if (row.token === null || row.expires_at === null) return ok(undefined);
    return ok({ runId, task, worker, token: Number(row.token), expiresAt: row.expires_at });
  }

  /** A claim that, once granted, writes `start`'s record under its lease and appends its event, as a commit at `this.now()`. */
  private async claimStart(claim: unknown[], runId: string, start: TaskStart): Promise<ClaimRow[]> {
    const task = toTaskRow(start.task, runId);
    const values = [...claim, this.now(), ...eventParams({ ...start.event, task: task.name }), ...recordParams(task)];
    try {
      return await this.query<ClaimRow>(this.sql.claimStart, values);
    } catch (error) {
      // A retry that raced its own first attempt, still committing, fails on the op ID: that attempt
      // was granted, and the claim run once more finds its event and returns its lease.
      if (!isOwnOpConflict(error)) throw error;
      return this.query<ClaimRow>(this.sql.claimStart, values);
    }
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    // Setting the expiry to now + TTL again is harmless, so a retry after a lost reply is safe.
    const rows = await this.query<{ found: boolean; worker: string | null; expires_at: string | null; current: string | null }>(this.sql.heartbeat, [
      lease.runId,
      plainText(lease.task, "task name", lease.runId),
      lease.token,
      ttlMs,
    ]);
    const row = rows[0]!;
    if (!row.found) return noRun;
    if (row.expires_at === null) return fenced(lease.task, await this.currentToken(lease.runId, lease.task, row.current, lease.token));
    const worker = row.worker === null ? lease.worker : decodeJson<string>(row.worker, `the worker of task ${quote(lease.task)} of run ${quote(lease.runId)}`);
    return ok({ runId: lease.runId, task: lease.task, worker, token: lease.token, expiresAt: row.expires_at });
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    // Clearing an expiry twice is the same as once: safe to retry.
    await this.query(this.sql.releaseTask, [lease.runId, plainText(lease.task, "task name", lease.runId), lease.token]);
  }

  // --- reads: always safe to retry ---

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    const runs = await this.query<RunRow>(this.sql.getRun, [runId]);
    if (runs.length === 0) return undefined;
    const tasks = await this.query<TaskRow>(this.sql.getTasks, [runId]);
    return toRun(runs[0]!, tasks);
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    return (await this.query<SummaryRow>(this.sql.listRuns, [])).map(toSummary);
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return (await this.query<EventRow>(this.sql.getEvents, [runId])).map(toEvent);
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return (await this.query<CallRow>(this.sql.getCalls, [runId, task])).map(toCall);
  }

  /** The whole run from one snapshot, in four queries rather than one per task. */
  protected override async doExportRun(runId: string): Promise<RunDump | undefined> {
    return withReconnect(
      this.connection,
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

  /**
   * One transaction that locks the run's row, judges it (its status; any lease still running by
   * the server's clock) and deletes it whole. Retried only when the failure came before COMMIT.
   */
  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.deletion(runId, async (client) => {
      const bytes = (await client.query<{ bytes: string | null }>({ ...this.sql.runBytes, values: [runId] })).rows[0]?.bytes;
      await client.query({ ...this.sql.deleteRun, values: [runId] });
      return Number(bytes ?? 0);
    });
  }

  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.deletion(runId, async (client) => {
      const bytes = (await client.query<{ bytes: string | null }>({ ...this.sql.dropCompletedJournals, values: [runId] })).rows[0]?.bytes;
      return Number(bytes ?? 0);
    });
  }

  private async deletion(runId: string, remove: (client: pg.PoolClient) => Promise<number>): Promise<Ok<Freed> | NoRun | Busy> {
    return this.transaction(async (client): Promise<Ok<Freed> | NoRun | Busy> => {
      const run = (await client.query<{ status: RunStatus }>({ ...this.sql.lockRunStatus, values: [runId] })).rows[0];
      if (!run) return noRun;
      if (run.status === "running" || run.status === "paused") return busy(run.status);
      const leased = (await client.query<{ name: string; lease_expires_at: string }>({ ...this.sql.liveLease, values: [runId] })).rows[0];
      if (leased) return busy(run.status, leased.name, leased.lease_expires_at);
      return ok({ bytes: await remove(client) });
    });
  }

  // --- plumbing ---

  /** Runs a read (or an idempotent write) with one retry after a connection failure. */
  private async query<R extends pg.QueryResultRow>(statement: Statement, values: unknown[]): Promise<R[]> {
    return withReconnect(this.connection, async () => (await this.pool.query<R>({ ...statement, values })).rows, true);
  }

  /**
   * Runs one write statement that carries a fresh op ID among `values`. A retry after a dropped
   * connection is safe: the statement does nothing when an event with that op ID exists, and a
   * retry racing a still-committing first attempt fails on the op ID's unique index — which also
   * means the write landed. Returns undefined in that case, unless `rerun`: then the statement is
   * run once more, finds its op's event and reports what the write did (the lease it granted).
   */
  private async write<R extends pg.QueryResultRow>(statement: Statement, values: unknown[], rerun = false): Promise<R | undefined> {
    try {
      return (await this.query<R>(statement, values))[0];
    } catch (error) {
      if (!isOwnOpConflict(error)) throw error;
      return rerun ? (await this.query<R>(statement, values))[0] : undefined;
    }
  }

  /**
   * Runs `body` in a transaction. A connection failure before COMMIT was sent proves nothing was
   * committed, so the whole transaction is retried once; a failure during COMMIT is ambiguous and
   * surfaces as `STORE_UNAVAILABLE` — unless the transaction is `idempotent` (a retry of one that
   * committed changes nothing). `refusal` turns a failure of the transaction's own into its
   * outcome (undefined: it stays a failure).
   */
  private async transaction<T>(body: (client: pg.PoolClient) => Promise<T>, refusal: (error: unknown) => T | undefined = () => undefined, idempotent = false): Promise<T> {
    let committing = false;
    return withReconnect(
      this.connection,
      async () => {
        if (committing && !idempotent) throw unavailable(this.connection, new Error("the connection failed during COMMIT; the write may or may not have been applied"));
        try {
          return await withClient(this.pool, (client) => inTransaction(client, "BEGIN", () => body(client), () => (committing = true)));
        } catch (error) {
          const outcome = refusal(error);
          if (outcome === undefined) throw error;
          return outcome;
        }
      },
      true,
    );
  }

  /**
   * The token now of the record a refused write was fenced by, as its statement read it; read
   * again when that read, from the statement's snapshot, is older than the row the check saw
   * (it shows the very token the write carried).
   */
  private async currentToken(runId: string, task: string, read: string | null, carried: number | undefined): Promise<number> {
    const current = Number(read ?? 0);
    if (current !== carried) return current;
    const again = await this.query<{ fencing_token: string }>(this.sql.taskToken, [runId, task]);
    return Number(again[0]?.fencing_token ?? 0);
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

/** What a commit reports; bigints come back as strings. */
interface CommitRow {
  /** The commit's op was there: a retry of a commit that landed. */
  done: boolean;
  found: boolean;
  written: boolean;
  /** Refused: the token now of the record it was fenced by (from the statement's snapshot). */
  current: string | null;
  /** The next claim's lease, when granted now. */
  token?: string | null;
  expires_at?: string | null;
  /** The lease the next claim was granted by this commit's first attempt (its op in the row). */
  kept_token?: string | null;
  kept_expires_at?: string | null;
}

interface BeginRow {
  done: boolean;
  written: boolean;
  /** Refused: the run's crew (JSON) and kind, when the statement's snapshot saw the run. */
  crew: string | null;
  kind: RunKind | null;
}

interface ReuseRow {
  done: boolean;
  found: boolean;
  /** The first record whose token is not the one it was read with, and its token now. */
  fenced_task: string | null;
  current: string | null;
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

/** [status, error, event task, type, data] of a run's end, as statement parameters. */
/** `beginRun`'s parameters: $1 run, $2 crew, $3 inputs, $4 now, $5 kind, $6 $7 parent, $8 op, $9 plan. */
function beginParams(init: BeginRun, now: string, op: string): unknown[] {
  return [
    init.runId,
    encodeJson(init.crew, `crew name of run ${quote(init.runId)}`),
    encodeJson(init.inputs, `inputs of run ${quote(init.runId)}`),
    now,
    init.kind ?? "crew",
    init.parent?.runId ?? null,
    init.parent?.task ?? null,
    op,
    init.planned === undefined ? null : encodeJson(init.planned, `the plan of run ${quote(init.runId)}`),
  ];
}

function isFencedOutcome(error: unknown): error is Fenced {
  return typeof error === "object" && error !== null && (error as Fenced).outcome === "fenced";
}

function runEndParams(end: RunEnd, runId: string): unknown[] {
  return [end.status, jsonOrNull(end.error, `error of run ${quote(runId)}`), ...eventParams(end.event)];
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

/** A failure of the store's own making (not the connection's) as the error the store gives. */
function mapError(error: unknown, location: string): unknown {
  if (!isPgError(error)) return error;
  if (error.code === "23514" || error.code === "22P02" || error.code === "22003") {
    // A CHECK constraint (an unknown status or kind) or a number that is not a storable integer.
    return new CrewstateError("INVALID_INPUT", `PostgreSQL store ${location} refused a value: ${oneLine(error)}`, { store: location, sqlState: error.code }, { cause: error });
  }
  return new CrewstateError("STORE_UNAVAILABLE", `PostgreSQL store ${location} failed: ${oneLine(error)}`, { store: location, sqlState: error.code }, { cause: error });
}

/** Whether a reuse aborted itself (division by zero) on a row that another writer made after its snapshot. */
function isRaced(error: unknown): boolean {
  const cause = error instanceof CrewstateError ? error.cause : error;
  return isPgError(cause) && cause.code === "22012";
}

/** Task rows as one array per column, in the order the bulk statements (`unnest`) take them. */
function taskColumns(rows: TaskRow[]): unknown[][] {
  const column = <K extends keyof TaskRow>(key: K) => rows.map((r) => r[key]);
  return [
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
  ];
}
