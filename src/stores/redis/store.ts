import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { CrewstateError, messageOf, quote } from "../../errors.js";
import { BaseStore, fencedOut, kindMismatch } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { redactUrl } from "../../redact.js";
import { SCRIPTS, type ScriptName } from "./scripts.js";
import { newTaskRecord } from "../store.js";
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
} from "../store.js";

/** The layout of the keys (see `scripts.ts`); bump with a migration when it changes. */
export const REDIS_SCHEMA_VERSION = 1;

/** How long a retry waits for the connection to come back. */
const RECONNECT_WAIT_MS = 2_000;
/** A command without an answer for this long counts as a lost connection (a silent partition). */
const COMMAND_TIMEOUT_MS = 30_000;
/**
 * How long a write's idempotency key is kept: longer than the latest retry of that write can come
 * (a command timeout plus the wait for a reconnection), short enough that the keys of a busy
 * store stay few.
 */
const OP_TTL_SECONDS = 120;

/**
 * `redis://[user:password@]host:port[/db][?prefix=p]` — state shared by many workers. Other query
 * parameters are ioredis options, as ioredis itself reads them.
 *
 * Keys live under a prefix (default `crewstate:`); the layout is described in `scripts.ts`.
 * Each mutating operation is one Lua script, so its checks and writes are atomic and take one
 * round trip. Writes carry an idempotency key, so after a dropped connection a write is retried
 * once and a retry of a write that was applied does nothing; a claim retried that way returns
 * the lease it was granted (kept under its key) instead of taking a second token. Leases are
 * judged by the server's clock (TIME inside the script), never this process's.
 *
 * Retrying is this class's decision alone: ioredis neither queues commands while disconnected nor
 * resends the ones whose reply a dropped connection swallowed (so nothing is applied behind the
 * caller's back after it was told the store is unavailable). A command in flight when the
 * connection closes fails at once; the retry waits for ioredis to reconnect, up to
 * `RECONNECT_WAIT_MS`, so an outage surfaces as `STORE_UNAVAILABLE` within seconds, never a hang.
 *
 * Durability is the server's: with Redis's default `appendfsync everysec` an acknowledged commit
 * can be lost in a power failure; use `appendfsync always` where that matters.
 */
export class RedisStore extends BaseStore {
  readonly location: string;
  private closed = false;
  /** Rejecters of the commands awaiting an answer, failed when the connection closes. */
  private readonly inflight = new Set<(error: Error) => void>();
  /** Why the connection last failed, until it is ready again. */
  private connectionError: Error | undefined;

  private constructor(
    private readonly redis: Redis,
    location: string,
    readonly prefix: string,
  ) {
    super();
    this.location = location;
  }

  /** Connects and checks (or, in an empty prefix, records) the schema version. */
  /** With `readOnly`, the prefix must hold state of the current version: no version key is written. */
  static async open(url: string, options: { readOnly?: boolean } = {}): Promise<RedisStore> {
    const location = redactUrl(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new CrewstateError("UNKNOWN_STORE", `store URL ${quote(location)} is not a valid URL: write redis://[user:password@]host:port[/db][?prefix=p], with any / ? # @ % in the password percent-encoded`, { store: location }, { cause: error });
    }
    const prefix = parsed.searchParams.get("prefix") ?? "crewstate:";
    if (prefix.length === 0 || prefix.length > 200 || /[\u0000-\u001f\u007f]/.test(prefix)) {
      throw new CrewstateError("UNKNOWN_STORE", `key prefix ${JSON.stringify(prefix.slice(0, 80))} in store URL ${quote(location)} is not valid: use 1-200 printable characters`, { store: location });
    }
    parsed.searchParams.delete("prefix");

    const redis = new Redis(parsed.toString(), {
      lazyConnect: true,
      // CLIENT LIST shows who is who; `?connectionName=` (like any ioredis option) overrides it.
      connectionName: parsed.searchParams.get("connectionName") ?? "crewstate",
      connectTimeout: 5_000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // No queueing while disconnected and no resending of unanswered commands (see above)…
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      // …but keep reconnecting in the background, so the next operation finds a connection.
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    });
    for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
    const store = new RedisStore(redis, location, prefix);
    // Connection errors reach the caller through the command that failed (keeping the socket's
    // own reason, such as ECONNREFUSED); an unhandled 'error' event would only be printed.
    redis.on("error", (error: Error) => (store.connectionError = error));
    redis.on("ready", () => (store.connectionError = undefined));
    // ioredis forgets (without settling) the commands a closed connection left unanswered.
    redis.on("close", () => store.abandonInflight());
    try {
      await store.attempt(() => redis.connect(), false);
      await store.checkSchema(options.readOnly === true);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async checkSchema(readOnly: boolean): Promise<void> {
    const [outcome, found] = readOnly
      ? ["found", await this.attempt(() => this.redis.get(this.key("version")), true)]
      : await this.script("crewstateOpen", [this.key("version")], [REDIS_SCHEMA_VERSION]);
    if (outcome === "created") return;
    if (found === null) {
      throw new CrewstateError("STORE_NOT_FOUND", `Redis prefix "${this.prefix}" at ${this.location} holds no crewstate state (nothing has run there yet)`, { store: this.location, prefix: this.prefix });
    }
    const version = Number(found);
    if (version === REDIS_SCHEMA_VERSION) return;
    if (Number.isInteger(version) && version > REDIS_SCHEMA_VERSION) {
      throw new CrewstateError(
        "UNSUPPORTED_SCHEMA_VERSION",
        `Redis prefix ${quote(this.prefix)} at ${this.location} has crewstate schema version ${version}, newer than version ${REDIS_SCHEMA_VERSION} this crewstate knows; upgrade crewstate or use another prefix`,
        { store: this.location, prefix: this.prefix, found: version, supported: REDIS_SCHEMA_VERSION },
      );
    }
    throw new CrewstateError(
      "CORRUPT_STATE",
      `Redis prefix ${quote(this.prefix)} at ${this.location} has an unknown crewstate schema version ${JSON.stringify(String(found).slice(0, 40))}`,
      { store: this.location, prefix: this.prefix },
    );
  }

  // --- keys ---

  private key(name: string): string {
    return this.prefix + name;
  }

  private runKeys(runId: string) {
    const base = `${this.prefix}run:${runId}`;
    return {
      meta: base,
      tasks: `${base}:tasks`,
      order: `${base}:order`,
      leases: `${base}:leases`,
      completed: `${base}:completed`,
      events: `${base}:events`,
      journals: `${base}:journals`,
      callsPrefix: `${base}:calls:`,
      calls: (task: string) => `${base}:calls:${task}`,
    };
  }

  private opKey(): string {
    return `${this.prefix}op:${randomUUID()}`;
  }

  // --- writes: one script each ---

  protected async doBeginRun(init: BeginRun, now: string): Promise<Run> {
    const k = this.runKeys(init.runId);
    const [outcome, crew] = await this.script(
      "crewstateBeginRun",
      [k.meta, this.key("runs"), k.events, this.opKey()],
      [init.runId, encodeJson(init.crew, `crew name of run ${quote(init.runId)}`), encodeJson(init.inputs, `inputs of run ${quote(init.runId)}`), now, creationScore(now), init.kind ?? "crew", parentEntry(init.parent ?? null), OP_TTL_SECONDS],
    );
    if (outcome === "kind_mismatch") throw kindMismatch(init.runId, crew as RunKind, init.kind ?? "crew", this.location);
    if (outcome === "mismatch") {
      const theirs = decodeJson<string>(crew ?? '""', `the crew of run ${quote(init.runId)}`);
      throw new CrewstateError("RUN_MISMATCH", `run ${quote(init.runId)} belongs to crew ${quote(theirs)}, not ${quote(init.crew)}; use another run ID`, {
        runId: init.runId,
        store: this.location,
      });
    }
    const run = await this.doGetRun(init.runId);
    if (!run) throw this.runNotFound(init.runId);
    return run;
  }

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<void> {
    const k = this.runKeys(runId);
    const [outcome, current] = await this.script(
      "crewstateSaveTask",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, k.calls(task.name), k.journals, this.opKey()],
      [
        task.name,
        taskEntry(task),
        leaseEntry(task),
        task.status,
        requiredToken(options),
        options.fencedBy ?? "",
        eventEntry({ ...event, task: task.name }, now),
        now,
        ...(options.calls ?? []).flatMap((call) => [call.position, callEntry(call)]),
        OP_TTL_SECONDS,
      ],
    );
    if (outcome === "no_run") throw this.runNotFound(runId);
    if (outcome === "fenced") throw fencedOut("commit", runId, task.name, options.fencedBy, options.fencingToken, current!, this.location);
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<void> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script(
      "crewstateSetRunStatus",
      [k.meta, k.events, this.opKey()],
      [status, error === null ? "" : encodeJson(error, `error of run ${quote(runId)}`), now, eventEntry(event, now), OP_TTL_SECONDS],
    );
    if (outcome === "no_run") throw this.runNotFound(runId);
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<boolean> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script(
      "crewstateRemoveTask",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, k.journals, k.calls(task), this.opKey()],
      [task, now, eventEntry({ ...event, task }, now), OP_TTL_SECONDS],
    );
    if (outcome === "no_run") throw this.runNotFound(runId);
    return outcome !== "absent";
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void> {
    const k = this.runKeys(runId);
    const [outcome, current] = await this.script(
      "crewstateRecordCall",
      [k.meta, k.calls(call.task), k.journals, k.leases],
      [call.task, call.position, callEntry(call), requiredToken(options), options.fencedBy ?? ""],
    );
    if (outcome === "no_run") throw this.runNotFound(runId);
    if (outcome === "fenced") throw fencedOut("journal entry", runId, call.task, options.fencedBy, options.fencingToken, current!, this.location);
  }

  protected async doClearCalls(runId: string, task: string): Promise<void> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script("crewstateClearCalls", [k.meta, k.calls(task), k.journals], [task]);
    if (outcome === "no_run") throw this.runNotFound(runId);
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<void> {
    const { run, events, calls } = dump;
    // A name given twice keeps its first place and its last record, as in the reference store.
    const tasks = [...new Map(run.tasks.map((t) => [t.name, t])).values()];
    const k = this.runKeys(run.runId);
    const args: (string | number)[] = [
      overwrite ? "1" : "0",
      run.runId,
      creationScore(run.createdAt),
      k.callsPrefix,
      encodeJson(run.crew, `crew name of run ${quote(run.runId)}`),
      encodeJson(run.inputs, `inputs of run ${quote(run.runId)}`),
      run.status,
      run.attempts,
      run.error === null ? "" : encodeJson(run.error, `error of run ${quote(run.runId)}`),
      run.createdAt,
      run.updatedAt,
      run.kind,
      parentEntry(run.parent),
      tasks.length,
    ];
    for (const task of tasks) args.push(task.name, taskEntry(task), leaseEntry(task), task.status);
    args.push(events.length);
    for (const event of events) args.push(eventEntry(event, event.at));
    args.push(calls.length);
    for (const call of calls) args.push(call.task, call.position, callEntry(call));
    args.push(OP_TTL_SECONDS);
    const [outcome] = await this.script(
      "crewstateImportRun",
      [k.meta, this.key("runs"), k.tasks, k.order, k.leases, k.completed, k.events, k.journals, this.opKey()],
      args,
    );
    if (outcome === "exists") {
      throw new CrewstateError("RUN_EXISTS", `run ${quote(run.runId)} already exists in ${this.location}; pass --overwrite to replace it`, {
        runId: run.runId,
        store: this.location,
      });
    }
  }

  // --- leases: one script each, by the server's clock ---

  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined> {
    const k = this.runKeys(runId);
    const [outcome, token, expiresAt] = await this.script(
      "crewstateClaimTask",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, this.opKey()],
      [
        task,
        JSON.stringify(worker),
        ttlMs,
        options.takeOverFrom === undefined ? "" : JSON.stringify(options.takeOverFrom),
        options.seenToken === undefined ? "" : String(options.seenToken),
        ...claimWrites(task, options.start, this.now()),
        OP_TTL_SECONDS,
      ],
    );
    if (outcome === "no_run") throw this.runNotFound(runId);
    if (outcome !== "granted") return undefined;
    return { runId, task, worker, token: Number(token), expiresAt: expiresAt! };
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    const k = this.runKeys(lease.runId);
    const [outcome, value, worker] = await this.script("crewstateHeartbeat", [k.meta, k.leases], [lease.task, String(lease.token), ttlMs]);
    if (outcome === "no_run") throw this.runNotFound(lease.runId);
    if (outcome === "fenced") throw fencedOut("heartbeat", lease.runId, lease.task, undefined, lease.token, value!, this.location);
    const holder = decodeJson<string | null>(worker!, `the worker of task ${quote(lease.task)} of run ${quote(lease.runId)}`) ?? lease.worker;
    return { runId: lease.runId, task: lease.task, worker: holder, token: lease.token, expiresAt: value! };
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    await this.script("crewstateReleaseTask", [this.runKeys(lease.runId).leases], [lease.task, String(lease.token)]);
  }

  // --- reads ---

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    const k = this.runKeys(runId);
    const [meta, order, tasks, leases] = await this.transactionalRead((m) =>
      m.hgetall(k.meta).zrange(k.order, 0, -1).hgetall(k.tasks).hgetall(k.leases),
    );
    return toRun(runId, meta as RunHash, order as string[], tasks as Record<string, string>, leases as Record<string, string>);
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    const ids = await this.attempt(() => this.redis.zrevrange(this.key("runs"), 0, -1), true);
    if (ids.length === 0) return [];
    const replies = await this.attempt(async () => {
      const pipeline = this.redis.pipeline();
      for (const id of ids) {
        const k = this.runKeys(id);
        pipeline.hgetall(k.meta).hlen(k.tasks).scard(k.completed);
      }
      return unwrap(await pipeline.exec());
    }, true);
    const summaries: RunSummary[] = [];
    ids.forEach((runId, i) => {
      const meta = replies[3 * i] as RunHash;
      if (meta.crew === undefined) return; // deleted since the index was read
      summaries.push(toSummary(runId, meta, replies[3 * i + 1] as number, replies[3 * i + 2] as number));
    });
    // The order of the reference store: newest first, then by run ID, both as strings.
    return summaries.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runId < b.runId ? 1 : -1));
  }

  protected async doEvents(runId: string): Promise<RunEvent[]> {
    const entries = await this.attempt(() => this.redis.lrange(this.runKeys(runId).events, 0, -1), true);
    return entries.map((entry, i) => toEvent(runId, i + 1, entry));
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    const entries = await this.attempt(() => this.redis.hgetall(this.runKeys(runId).calls(task)), true);
    return toCalls(runId, entries);
  }

  /** The run, its events and its journals in two round trips instead of one per task. */
  protected override async doExportRun(runId: string): Promise<RunDump | undefined> {
    const k = this.runKeys(runId);
    const [meta, order, tasks, leases, events] = await this.transactionalRead((m) =>
      m.hgetall(k.meta).zrange(k.order, 0, -1).hgetall(k.tasks).hgetall(k.leases).lrange(k.events, 0, -1),
    );
    const run = toRun(runId, meta as RunHash, order as string[], tasks as Record<string, string>, leases as Record<string, string>);
    if (!run) return undefined;
    const journals = run.tasks.length === 0 ? [] : await this.transactionalRead((m) => run.tasks.reduce((acc, t) => acc.hgetall(k.calls(t.name)), m));
    return {
      run,
      events: (events as string[]).map((entry, i) => toEvent(runId, i + 1, entry)),
      calls: journals.flatMap((entries) => toCalls(runId, entries as Record<string, string>)),
    };
  }

  // --- plumbing ---

  private async script(name: ScriptName, keys: string[], args: (string | number)[]): Promise<string[]> {
    const command = (this.redis as unknown as Record<ScriptName, (...argv: (string | number)[]) => Promise<string[]>>)[name];
    // Writes are idempotent (an op key, or a replay that changes nothing), so one retry is safe.
    return this.attempt(() => command.call(this.redis, ...keys, ...args), true);
  }

  /** Reads several keys from one point in time (MULTI/EXEC), in one round trip. */
  private async transactionalRead(build: (multi: ReturnType<Redis["multi"]>) => ReturnType<Redis["multi"]>): Promise<unknown[]> {
    return this.attempt(async () => unwrap(await build(this.redis.multi()).exec()), true);
  }

  /**
   * Runs `fn`; after a connection failure and when `retry`, waits for the connection to come
   * back and runs it once more. Maps failures to shared codes.
   */
  private async attempt<T>(fn: () => Promise<T>, retry: boolean): Promise<T> {
    if (this.closed) throw this.unavailable(new Error("the store is closed"));
    try {
      return await this.send(fn);
    } catch (error) {
      if (!isConnectionError(error)) throw this.mapError(error);
      if (!retry || this.closed || !(await this.reconnected())) throw this.unavailable(this.connectionError ?? error);
      try {
        return await this.send(fn);
      } catch (again) {
        throw isConnectionError(again) ? this.unavailable(this.connectionError ?? again) : this.mapError(again);
      }
    }
  }

  /** `fn`'s answer, or a connection error as soon as the connection closes under it. */
  private send<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inflight.add(reject);
      Promise.resolve()
        .then(fn)
        .then(resolve, reject)
        .finally(() => this.inflight.delete(reject));
    });
  }

  private abandonInflight(): void {
    const error = this.connectionError ?? new Error("Connection is closed.");
    for (const reject of this.inflight) reject(error);
    this.inflight.clear();
  }

  /** Whether the connection is (back) up within `RECONNECT_WAIT_MS`. */
  private reconnected(): Promise<boolean> {
    // "ready" with a socket that can no longer write: the close is on its way; wait for the next ready.
    if (this.redis.status === "ready" && this.redis.stream?.writable) return Promise.resolve(true);
    if (this.redis.status === "end") return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        this.redis.off("ready", onReady);
        resolve(up);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), RECONNECT_WAIT_MS);
      this.redis.on("ready", onReady);
    });
  }

  private mapError(error: unknown): unknown {
    if (error instanceof CrewstateError) return error;
    return new CrewstateError("STORE_UNAVAILABLE", `Redis store ${this.location} failed: ${oneLine(error)}`, { store: this.location }, { cause: error });
  }

  private unavailable(error: unknown): CrewstateError {
    if (error instanceof CrewstateError) return error;
    return new CrewstateError(
      "STORE_UNAVAILABLE",
      `Redis store ${this.location} is unavailable: ${oneLine(error)}; check that the server is running and the URL is right`,
      { store: this.location },
      { cause: error },
    );
  }

  private runNotFound(runId: string): CrewstateError {
    return new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${this.location}`, { runId, store: this.location });
  }
}

// --- stored entries and their mapping to the public types ---

/** The run's hash: snake_case fields; `crew`, `inputs`, `error` and `parent` hold JSON, the others plain strings. */
interface RunHash {
  crew?: string;
  kind?: RunKind;
  parent?: string;
  inputs?: string;
  status?: RunStatus;
  attempts?: string;
  error?: string;
  created_at?: string;
  updated_at?: string;
  next_position?: string;
}

/** An entry of the events list: a `RunEvent` without `seq` (its index + 1) and `runId` (the key). */
interface EventEntry {
  task: string | null;
  type: EventType;
  at: string;
  data: { [key: string]: JsonValue } | null;
}

function toRun(runId: string, meta: RunHash, order: string[], tasks: Record<string, string>, leases: Record<string, string>): Run | undefined {
  if (meta.crew === undefined) return undefined;
  return {
    runId,
    crew: decodeJson<string>(meta.crew, `the crew of run ${quote(runId)}`),
    kind: meta.kind ?? "crew",
    parent: toParent(runId, meta),
    inputs: decodeJson<Inputs>(meta.inputs ?? "", `the inputs of run ${quote(runId)}`),
    status: meta.status!,
    attempts: Number(meta.attempts),
    error: meta.error === undefined ? null : decodeJson<string>(meta.error, `the error of run ${quote(runId)}`),
    createdAt: meta.created_at ?? "",
    updatedAt: meta.updated_at ?? "",
    tasks: order.flatMap((name) => {
      const entry = tasks[name];
      return entry === undefined ? [] : [toTask(runId, name, entry, leases[name])];
    }),
  };
}

function toSummary(runId: string, meta: RunHash, taskCount: number, completedCount: number): RunSummary {
  return {
    runId,
    crew: decodeJson<string>(meta.crew!, `the crew of run ${quote(runId)}`),
    kind: meta.kind ?? "crew",
    parent: toParent(runId, meta),
    status: meta.status!,
    attempts: Number(meta.attempts),
    error: meta.error === undefined ? null : decodeJson<string>(meta.error, `the error of run ${quote(runId)}`),
    createdAt: meta.created_at ?? "",
    updatedAt: meta.updated_at ?? "",
    taskCount,
    completedCount,
  };
}

/** A parent as the run's hash keeps it: `{"run_id", "task"}` JSON, or '' for none. */
function parentEntry(parent: RunParent | null): string {
  return parent === null ? "" : JSON.stringify({ run_id: parent.runId, task: parent.task });
}

function toParent(runId: string, meta: RunHash): RunParent | null {
  if (meta.parent === undefined) return null;
  const parent = decodeJson<{ run_id: string; task: string | null }>(meta.parent, `the parent of run ${quote(runId)}`);
  return { runId: parent.run_id, task: parent.task };
}

function toEvent(runId: string, seq: number, entry: string): RunEvent {
  const { task, type, at, data } = decodeJson<EventEntry>(entry, `event ${seq} of run ${quote(runId)}`);
  return { seq, runId, task, type, at, data };
}

function toCalls(runId: string, entries: Record<string, string>): CallRecord[] {
  return Object.values(entries)
    .map((entry) => decodeJson<CallRecord>(entry, `a call of run ${quote(runId)}`))
    .sort((a, b) => a.position - b.position);
}

/** A task record as stored: the record without its lease fields, and those in the lease entry. */
type StoredTask = Omit<TaskRecord, "worker" | "fencingToken" | "leaseExpiresAt">;

/**
 * A task record as stored, less its lease fields (see `leaseEntry`): its fields as JSON.
 * `BaseStore` has already checked the output and the structured output (the only fields that can
 * hold arbitrary values), so only the numbers are left to check before the plain
 * `JSON.stringify` (checking the whole record again costs more than the rest of a commit on the
 * client).
 */
function taskEntry(task: TaskRecord): string {
  const { attempts, fencingToken, usage } = task;
  const numbers = usage ? [attempts, fencingToken, usage.inputTokens, usage.outputTokens, usage.costUsd ?? 0] : [attempts, fencingToken];
  if (!numbers.every(Number.isFinite)) return encodeJson(task, `task ${quote(task.name)}`); // throws NOT_JSON, naming the field
  return JSON.stringify({
    name: task.name,
    status: task.status,
    inputHash: task.inputHash,
    output: task.output,
    structured: task.structured,
    outputHash: task.outputHash,
    startedAt: task.startedAt,
    completedAt: task.completedAt,
    attempts,
    error: task.error,
    usage: usage ? { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd: usage.costUsd ?? null } : null,
    model: task.model,
  } satisfies StoredTask);
}

/**
 * The lease fields of a record as the scripts read and write them: "<token>\n<expiry JSON>\n<worker
 * JSON>". JSON text never holds a raw newline, and a worker compares equal exactly when its JSON
 * does (lone surrogates stay escaped, so nothing is lost on the way to Redis).
 */
function leaseEntry(task: Pick<TaskRecord, "fencingToken" | "leaseExpiresAt" | "worker">): string {
  return `${task.fencingToken}\n${JSON.stringify(task.leaseExpiresAt)}\n${JSON.stringify(task.worker)}`;
}

function toTask(runId: string, name: string, entry: string, lease: string | undefined): TaskRecord {
  const where = `task ${quote(name)} of run ${quote(runId)}`;
  const stored = decodeJson<StoredTask>(entry, where);
  let fencingToken = 0;
  let leaseExpiresAt: string | null = null;
  let worker: string | null = null;
  if (lease !== undefined) {
    const first = lease.indexOf("\n");
    const second = lease.indexOf("\n", first + 1);
    if (first < 0 || second < 0) throw new CrewstateError("CORRUPT_STATE", `the lease of ${where} is malformed`, { runId, task: name });
    fencingToken = Number(lease.slice(0, first));
    leaseExpiresAt = decodeJson<string | null>(lease.slice(first + 1, second), `the lease expiry of ${where}`);
    worker = decodeJson<string | null>(lease.slice(second + 1), `the worker of ${where}`);
  }
  // In the order of the contract's fields, so a run exports the same from every store.
  return {
    name: stored.name,
    status: stored.status,
    inputHash: stored.inputHash,
    output: stored.output,
    structured: stored.structured,
    outputHash: stored.outputHash,
    startedAt: stored.startedAt,
    completedAt: stored.completedAt,
    attempts: stored.attempts,
    error: stored.error,
    usage: stored.usage,
    model: stored.model,
    worker,
    fencingToken,
    leaseExpiresAt,
  };
}

function eventEntry(event: NewEvent, at: string): string {
  const entry: EventEntry = { task: event.task ?? null, type: event.type, at, data: event.data ?? null };
  return encodeJson(entry, `event data${entry.task ? ` of task ${quote(entry.task)}` : ""}`);
}

/** A fenced write's required token as the scripts take it: '' when the write is not fenced. */
function requiredToken(options: FenceOptions): string {
  return options.fencingToken === undefined ? "" : String(options.fencingToken);
}

function callEntry(call: CallRecord): string {
  return encodeJson(call, `call ${call.position} of task ${quote(call.task)}`);
}

/**
 * The claim script's record, status, event and time: a start's, as a commit at `now` writes them,
 * or without one the pending record a task without a record gets (and no event).
 */
function claimWrites(task: string, start: TaskStart | undefined, now: string): string[] {
  if (start === undefined) return [taskEntry(newTaskRecord(task)), "", "", ""];
  return [taskEntry(start.task), start.task.status, eventEntry({ ...start.event, task }, now), now];
}

/** The score of a run in the creation index: its creation time in ms (0 when unparseable). */
function creationScore(createdAt: string): number {
  const ms = Date.parse(createdAt);
  return Number.isFinite(ms) ? ms : 0;
}

function unwrap(replies: [Error | null, unknown][] | null): unknown[] {
  if (replies === null) throw new Error("Connection is closed.");
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

// --- errors ---

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);
const CONNECTION_MESSAGE =
  /connection is closed|max retries per request|stream isn't writeable|command timed out|connect ETIMEDOUT|^LOADING|^BUSY|^TRYAGAIN|^MASTERDOWN|^NOAUTH|^WRONGPASS|the store is closed/i;

/** Whether `error` means the connection (not the command) failed. */
function isConnectionError(error: unknown): boolean {
  if (error instanceof CrewstateError) return error.code === "STORE_UNAVAILABLE";
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return error.name === "MaxRetriesPerRequestError" || CONNECTION_MESSAGE.test(error.message);
}

function oneLine(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return oneLine(error.errors[0]);
  const text = messageOf(error);
  return text.length > 0 ? text : String((error as { code?: unknown } | undefined)?.code ?? "unknown error");
}
