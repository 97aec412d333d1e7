import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { CrewstateError, quote } from "../../errors.js";
import { BaseStore } from "../base-store.js";
import { decodeJson, encodeJson } from "../codec.js";
import { busy, exists, fenced, noRun, ok, type Busy, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind } from "../outcomes.js";
import { redactUrl } from "../../redact.js";
import { RedisConnection } from "./connection.js";
import { SCRIPTS, type ScriptName } from "./scripts.js";
import { newTaskRecord } from "../store.js";
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
  NextClaim,
  ReusedTask,
  ReuseOptions,
  Run,
  RunDump,
  RunEnd,
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
 * round trip — a task's commit with the next task's claim and the run's end, a kickoff's reused
 * results, a run's start with its plan. Writes carry an idempotency key, so after a dropped
 * connection a write is retried once (`./connection.ts`) and a retry of a write that was applied
 * does nothing; a claim retried that way (by `claimTask` or in a commit) returns the lease it was
 * granted (kept under its key) instead of taking a second token. Leases are judged by the
 * server's clock (TIME inside the script), never this process's.
 *
 * Durability is the server's: with Redis's default `appendfsync everysec` an acknowledged commit
 * can be lost in a power failure; use `appendfsync always` where that matters.
 */
export class RedisStore extends BaseStore {
  readonly location: string;

  private constructor(
    private readonly connection: RedisConnection,
    readonly prefix: string,
  ) {
    super();
    this.location = connection.location;
  }

  private get redis(): Redis {
    return this.connection.redis;
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
      // No queueing while disconnected and no resending of unanswered commands (see connection.ts)…
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      // …but keep reconnecting in the background, so the next operation finds a connection.
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    });
    for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
    const connection = new RedisConnection(redis, location);
    const store = new RedisStore(connection, prefix);
    try {
      await connection.run(() => redis.connect(), false);
      await store.checkSchema(options.readOnly === true);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    return store;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  private async checkSchema(readOnly: boolean): Promise<void> {
    const [outcome, found] = readOnly
      ? ["found", await this.connection.run(() => this.redis.get(this.key("version")), true)]
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

  protected async doBeginRun(init: BeginRun, now: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    const k = this.runKeys(init.runId);
    const [crew, inputs, at, score, kind, parent, planned] = beginArgs(init, now);
    const reply: unknown[] = await this.script(
      "crewstateBeginRun",
      [k.meta, this.key("runs"), k.events, k.tasks, k.order, k.leases, this.opKey()],
      [init.runId, crew, inputs, at, score, kind, parent, planned, OP_TTL_SECONDS],
    );
    const [outcome, theirs] = reply as string[];
    const refused = beginRefusal(init, outcome, theirs);
    if (refused) return refused;
    // The run as the script left it (a replay: as it stands now), read in the same step.
    const [, meta, order, tasks, leases] = reply as [string, string[], string[], string[], string[]];
    const run = toRun(init.runId, pairs(meta) as RunHash, order, pairs(tasks), pairs(leases));
    if (!run) throw new CrewstateError("CORRUPT_STATE", `run ${quote(init.runId)} of ${this.location} has no crew name after its begin`, { runId: init.runId, store: this.location });
    return ok(run);
  }

  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, now: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const k = this.runKeys(runId);
    const [outcome, value, expiresAt] = await this.script(
      "crewstateSaveTask",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, k.calls(task.name), k.journals, this.opKey()],
      [
        task.name,
        taskEntry(task),
        leaseEntry(task),
        task.status,
        requiredToken(options),
        options.fencedBy ?? "",
        eventEntry(event, now),
        now,
        ...nextClaimArgs(options.next, now),
        ...runEndArgs(runId, options.endRun, now),
        ...(options.calls ?? []).flatMap((call) => [call.position, callEntry(call)]),
        OP_TTL_SECONDS,
      ],
    );
    if (outcome === "no_run") return noRun;
    if (outcome === "fenced") return fenced(options.fencedBy ?? task.name, Number(value));
    if (outcome === "granted" && options.next) return ok({ runId, task: options.next.task, worker: options.next.worker, token: Number(value), expiresAt: expiresAt! });
    return ok(undefined);
  }

  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, now: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind> {
    const k = this.runKeys(runId);
    // The begin's arguments but its time (the commit's), or none.
    const begin = options.begin ? beginArgs(options.begin, now).filter((_, i) => i !== 2) : ["", "", "", "", "", ""];
    const [outcome, task, current] = await this.script(
      "crewstateReuseTasks",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, this.key("runs"), this.opKey()],
      [
        now,
        tasks.length > 0 ? eventEntry(event, now) : "",
        ...runEndArgs(runId, options.endRun, now),
        ...begin,
        runId,
        ...tasks.flatMap(({ record, fencingToken }) => [record.name, taskEntry(record), leaseEntry(record), record.status, fencingToken]),
        OP_TTL_SECONDS,
      ],
    );
    if (outcome === "no_run") return noRun;
    if (outcome === "fenced") return fenced(task!, Number(current));
    const refused = options.begin && beginRefusal(options.begin, outcome!, task);
    return refused || ok();
  }

  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, now: string): Promise<Ok | NoRun> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script("crewstateSetRunStatus", [k.meta, k.events, this.opKey()], [status, runError(runId, error), now, eventEntry(event, now), OP_TTL_SECONDS]);
    return outcome === "no_run" ? noRun : ok();
  }

  protected async doRemoveTask(runId: string, task: string, event: NewEvent, now: string): Promise<Ok<boolean> | NoRun> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script(
      "crewstateRemoveTask",
      [k.meta, k.tasks, k.order, k.leases, k.completed, k.events, k.journals, k.calls(task), this.opKey()],
      [task, now, eventEntry(event, now), OP_TTL_SECONDS],
    );
    return outcome === "no_run" ? noRun : ok(outcome !== "absent");
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    const k = this.runKeys(runId);
    const [outcome, current] = await this.script(
      "crewstateRecordCall",
      [k.meta, k.calls(call.task), k.journals, k.leases],
      [call.task, call.position, callEntry(call), requiredToken(options), options.fencedBy ?? ""],
    );
    if (outcome === "no_run") return noRun;
    if (outcome === "fenced") return fenced(options.fencedBy ?? call.task, Number(current));
    return ok();
  }

  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    const k = this.runKeys(runId);
    const [outcome] = await this.script("crewstateClearCalls", [k.meta, k.calls(task), k.journals], [task]);
    return outcome === "no_run" ? noRun : ok();
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    const { run, events, calls } = dump;
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
      runError(run.runId, run.error),
      run.createdAt,
      run.updatedAt,
      run.kind,
      parentEntry(run.parent),
      run.tasks.length,
    ];
    for (const task of run.tasks) args.push(task.name, taskEntry(task), leaseEntry(task), task.status);
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
    return outcome === "exists" ? exists : ok();
  }

  // --- deletions: one script each, judged by the server's clock ---

  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    const k = this.runKeys(runId);
    const reply = await this.script(
      "crewstateDeleteRun",
      [k.meta, this.key("runs"), k.tasks, k.order, k.leases, k.completed, k.events, k.journals, this.opKey()],
      [runId, k.callsPrefix, OP_TTL_SECONDS],
    );
    return deletionOutcome(reply);
  }

  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    const k = this.runKeys(runId);
    const reply = await this.script("crewstateDropJournals", [k.meta, k.tasks, k.leases, k.completed, k.journals, this.opKey()], [k.callsPrefix, OP_TTL_SECONDS]);
    return deletionOutcome(reply);
  }

  // --- leases: one script each, by the server's clock ---

  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
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
    if (outcome === "no_run") return noRun;
    if (outcome !== "granted") return ok(undefined);
    return ok({ runId, task, worker, token: Number(token), expiresAt: expiresAt! });
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    const k = this.runKeys(lease.runId);
    const [outcome, value, worker] = await this.script("crewstateHeartbeat", [k.meta, k.leases], [lease.task, String(lease.token), ttlMs]);
    if (outcome === "no_run") return noRun;
    if (outcome === "fenced") return fenced(lease.task, Number(value));
    const holder = decodeJson<string | null>(worker!, `the worker of task ${quote(lease.task)} of run ${quote(lease.runId)}`) ?? lease.worker;
    return ok({ runId: lease.runId, task: lease.task, worker: holder, token: lease.token, expiresAt: value! });
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
    const ids = await this.connection.run(() => this.redis.zrevrange(this.key("runs"), 0, -1), true);
    if (ids.length === 0) return [];
    const replies = await this.connection.run(async () => {
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
    const entries = await this.connection.run(() => this.redis.lrange(this.runKeys(runId).events, 0, -1), true);
    return entries.map((entry, i) => toEvent(runId, i + 1, entry));
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    const entries = await this.connection.run(() => this.redis.hgetall(this.runKeys(runId).calls(task)), true);
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
    return this.connection.run(() => command.call(this.redis, ...keys, ...args), true);
  }

  /** Reads several keys from one point in time (MULTI/EXEC), in one round trip. */
  private async transactionalRead(build: (multi: ReturnType<Redis["multi"]>) => ReturnType<Redis["multi"]>): Promise<unknown[]> {
    return this.connection.run(async () => unwrap(await build(this.redis.multi()).exec()), true);
  }
}

/** A flat HGETALL reply of a script ([field, value, …]) as an object, as ioredis makes one (a field `__proto__` is a field). */
function pairs(flat: string[]): Record<string, string> {
  const object: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) Object.defineProperty(object, flat[i]!, { value: flat[i + 1]!, configurable: true, enumerable: true, writable: true });
  return object;
}

/** A deletion script's reply; a retry that finds its op applied cannot tell the bytes. */
function deletionOutcome([outcome, a, b, c]: string[]): Ok<Freed> | NoRun | Busy {
  if (outcome === "no_run") return noRun;
  if (outcome === "busy") return busy(a as RunStatus, b ?? null, c ?? null);
  return ok({ bytes: outcome === "done" ? null : Number(a) });
}

/** A run's error as the scripts take it: JSON text, '' for none. */
function runError(runId: string, error: string | null): string {
  return error === null ? "" : encodeJson(error, `error of run ${quote(runId)}`);
}

/** The save script's next-claim arguments: task ('' = none) worker ttl seenToken record status event. */
function nextClaimArgs(next: NextClaim | undefined, now: string): (string | number)[] {
  if (next === undefined) return ["", "", "", "", "", "", ""];
  return [next.task, JSON.stringify(next.worker), next.ttlMs, String(next.seenToken), ...claimWrites(next.task, next.start, now).slice(0, 3)];
}

/** A run end as the scripts take it: status ('' = none) error event. */
/** A begin's script arguments: crew, inputs, at, score, kind, parent ('' = none), planned event ('' = none). */
function beginArgs(init: BeginRun, now: string): string[] {
  return [
    encodeJson(init.crew, `crew name of run ${quote(init.runId)}`),
    encodeJson(init.inputs, `inputs of run ${quote(init.runId)}`),
    now,
    String(creationScore(now)),
    init.kind ?? "crew",
    parentEntry(init.parent ?? null),
    init.planned === undefined ? "" : eventEntry({ type: "run_planned", data: init.planned }, now),
  ];
}

/** The refusal a begin's script reply says (`mismatch`, `kind_mismatch`), if any. */
function beginRefusal(init: BeginRun, outcome: string, theirs: string | undefined): OtherCrew | OtherKind | undefined {
  if (outcome === "kind_mismatch") return { outcome: "otherKind", kind: theirs as RunKind };
  if (outcome === "mismatch") return { outcome: "otherCrew", crew: decodeJson<string>(theirs ?? '""', `the crew of run ${quote(init.runId)}`) };
  return undefined;
}

function runEndArgs(runId: string, end: RunEnd | undefined, now: string): string[] {
  if (end === undefined) return ["", "", ""];
  return [end.status, runError(runId, end.error), eventEntry(end.event, now)];
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
