/**
 * What only the PostgreSQL store has to get right: its schema and migrations, its columns (JSON
 * text, double-precision costs), its use of the connection (one statement per commit, a
 * transaction cut before COMMIT, a claim's statement replayed) and its URLs. What it shares with
 * the Redis store as a store on a server — concurrency, leases, killed backends, lost replies,
 * outages, hostile names — is in `server-store.ts`; what every store shares is in the conformance
 * suite (`postgres.test.ts`).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { outputHashOf } from "../../src/hash.js";
import { isCrewstateError } from "../../src/errors.js";
import { redactUrl } from "../../src/redact.js";
import { openStore } from "../../src/stores/open.js";
import { MIGRATIONS, POSTGRES_SCHEMA_VERSION, migrate } from "../../src/stores/postgres/migrations.js";
import { PostgresStore } from "../../src/stores/postgres/store.js";
import { newTaskRecord, type Lease, type NextClaim } from "../../src/stores/store.js";
import { freshName, PG_URL, postgresService, startTcpProxy, viaPort, withParam } from "../services.js";
import { completed, describeServerStore } from "./server-store.js";

const service = await postgresService();

describe.skipIf(!service.available)("PostgresStore", () => {
  let admin: pg.Client;
  const schemas: string[] = [];
  const opened: PostgresStore[] = [];

  beforeAll(async () => {
    admin = new pg.Client(PG_URL);
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  /** A URL naming a schema of its own (dropped after the file). */
  function freshUrl(params: Record<string, string> = {}, base = PG_URL): { url: string; schema: string } {
    const schema = freshName("pg");
    schemas.push(schema);
    let url = withParam(base, "schema", schema);
    for (const [key, value] of Object.entries(params)) url = withParam(url, key, value);
    return { url, schema };
  }

  async function open(url: string): Promise<PostgresStore> {
    const store = await PostgresStore.open(url);
    opened.push(store);
    return store;
  }

  /** Every row of every table in `schema`, to compare before and after. */
  async function snapshot(schema: string): Promise<Record<string, unknown[]>> {
    const tables = await admin.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    const result: Record<string, unknown[]> = {};
    for (const { table_name } of tables.rows) {
      result[table_name] = (await admin.query(`SELECT * FROM "${schema}"."${table_name}" ORDER BY 1, 2`)).rows;
    }
    return result;
  }

  async function tablesOf(schema: string): Promise<string[]> {
    const tables = await admin.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    return tables.rows.map((row) => row.table_name);
  }

  describe("schema and migrations", () => {
    it("creates its tables in the schema named by the URL and records the version", async () => {
      const { url, schema } = freshUrl();
      await open(url);
      expect(await tablesOf(schema)).toEqual(["calls", "events", "runs", "schema_version", "tasks"]);
      const versions = await admin.query(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
      expect(versions.rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      expect(POSTGRES_SCHEMA_VERSION).toBe(MIGRATIONS.length);
    });

    it("uses the crewstate schema when the URL names none", async () => {
      const store = await PostgresStore.open(PG_URL);
      try {
        expect(store.schema).toBe("crewstate");
        expect(await tablesOf("crewstate")).toContain("tasks");
      } finally {
        await store.close();
      }
    });

    it("keeps server settings given in the URL's options", async () => {
      const { url } = freshUrl({ options: "-c statement_timeout=4321" });
      const store = await open(url);
      // The store's own setting is added to the URL's, not replaced by it (or the reverse): ask
      // the connection the store just used.
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        await store.listRuns();
        const client = spy.mock.contexts[0] as pg.Client;
        const shown = await client.query("SELECT current_setting('statement_timeout') AS t, current_setting('plan_cache_mode') AS p");
        expect(shown.rows[0]).toEqual({ t: "4321ms", p: "force_generic_plan" });
      } finally {
        spy.mockRestore();
      }
    });

    it("runs each migration once, however often the store opens", async () => {
      const { url, schema } = freshUrl();
      (await open(url)).close();
      const first = await snapshot(schema);
      for (let i = 0; i < 3; i++) await (await PostgresStore.open(url)).close();
      const pool = new pg.Pool({ connectionString: PG_URL });
      try {
        await migrate(pool, schema, "test");
        await migrate(pool, schema, "test");
      } finally {
        await pool.end();
      }
      expect(await snapshot(schema)).toEqual(first);
      const versions = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".schema_version`);
      expect(versions.rows[0].n).toBe(POSTGRES_SCHEMA_VERSION);
    });

    it("lets concurrent opens of a fresh schema all succeed", async () => {
      const { url, schema } = freshUrl();
      const stores = await Promise.all(Array.from({ length: 6 }, () => open(url)));
      expect(stores).toHaveLength(6);
      const versions = await admin.query(`SELECT version FROM "${schema}".schema_version`);
      expect(versions.rows).toHaveLength(POSTGRES_SCHEMA_VERSION);
      await stores[0]!.beginRun({ runId: "r", crew: "c", inputs: {} });
      expect((await stores[5]!.getRun("r"))?.crew).toBe("c");
    });

    it("refuses a schema newer than the code, naming both versions, and writes nothing", async () => {
      const { url, schema } = freshUrl();
      const store = await PostgresStore.open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await store.saveTask("r", completed("t"), { type: "task_completed" });
      await store.close();
      const newer = POSTGRES_SCHEMA_VERSION + 1;
      await admin.query(`INSERT INTO "${schema}".schema_version (version) VALUES ($1)`, [newer]);
      const before = await snapshot(schema);

      const error = await PostgresStore.open(url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCrewstateError(error, "UNSUPPORTED_SCHEMA_VERSION")).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain(`"${schema}"`);
      expect(message).toContain(`version ${newer}`);
      expect(message).toContain(`version ${POSTGRES_SCHEMA_VERSION}`);
      expect(await snapshot(schema)).toEqual(before);
    });

    it("refuses a newer version found in an otherwise empty schema without creating tables", async () => {
      const { url, schema } = freshUrl();
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await admin.query(`CREATE TABLE "${schema}".schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      await admin.query(`INSERT INTO "${schema}".schema_version (version) VALUES (99)`);
      await expect(PostgresStore.open(url)).rejects.toMatchObject({ code: "UNSUPPORTED_SCHEMA_VERSION" });
      expect(await tablesOf(schema)).toEqual(["schema_version"]);
    });

    it("brings a version-1 schema (before costs and claims) up to date, keeping its rows", async () => {
      const { url, schema } = freshUrl();
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await admin.query(MIGRATIONS[0]!(`"${schema}"`));
      await admin.query(`CREATE TABLE "${schema}".schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      await admin.query(`INSERT INTO "${schema}".schema_version (version) VALUES (1)`);
      await admin.query(`INSERT INTO "${schema}".runs VALUES ('r', '"c"', '{}', 'running', 1, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1)`);
      await admin.query(
        `INSERT INTO "${schema}".tasks (run_id, name, status, attempts, input_tokens, output_tokens, worker, fencing_token) VALUES ('r', 't', 'completed', 1, 5, 6, '"w"', 3)`,
      );
      const store = await open(url);
      const versions = await admin.query(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
      expect(versions.rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      expect((await store.getRun("r"))?.tasks[0]).toMatchObject({ name: "t", usage: { inputTokens: 5, outputTokens: 6, costUsd: null }, worker: "w", fencingToken: 3 });
      expect(await store.claimTask("r", "t", "worker-a", 30_000)).toMatchObject({ token: 4 });
    });

    it("brings a version-3 schema (before run kinds) up to date: its runs read as crew runs without a parent", async () => {
      const { url, schema } = freshUrl();
      await admin.query(`CREATE SCHEMA "${schema}"`);
      for (const migration of MIGRATIONS.slice(0, 3)) await admin.query(migration(`"${schema}"`));
      await admin.query(`CREATE TABLE "${schema}".schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      await admin.query(`INSERT INTO "${schema}".schema_version (version) VALUES (1), (2), (3)`);
      await admin.query(`INSERT INTO "${schema}".runs VALUES ('r', '"c"', '{}', 'running', 1, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1)`);
      const store = await open(url);
      const versions = await admin.query(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
      expect(versions.rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      expect(await store.getRun("r")).toMatchObject({ crew: "c", kind: "crew", parent: null });
      expect((await store.listRuns())[0]).toMatchObject({ runId: "r", kind: "crew", parent: null });
      await expect(store.beginRun({ runId: "r", crew: "c", inputs: {}, kind: "flow" })).rejects.toMatchObject({ code: "RUN_MISMATCH" });
      expect(await store.beginRun({ runId: "r", crew: "c", inputs: {} })).toMatchObject({ attempts: 2, kind: "crew", parent: null });
    });

    it("refuses a schema name that is not a plain identifier, before connecting", async () => {
      for (const bad of ['x"; DROP SCHEMA public; --', "Crew", "pg_catalog", "1abc", "a-b", "", "x".repeat(64)]) {
        const url = withParam("postgres://nobody@127.0.0.1:1/none", "schema", bad);
        await expect(PostgresStore.open(url), bad).rejects.toMatchObject({ code: "UNKNOWN_STORE" });
      }
    });
  });

  describe("storage", () => {
    it("keeps payloads as JSON text, so NUL, lone surrogates and emoji round-trip byte-exactly", async () => {
      const { url, schema } = freshUrl();
      const store = await open(url);
      const output = "a\u0000b\ud800c\udc00d \u202eRTL\u202c 🦀 \ufeff";
      await store.beginRun({ runId: "r", crew: "c", inputs: { notes: output } });
      const structured = { s: output, n: [1, 2.5, null] };
      await store.saveTask("r", { ...completed("t", output), structured, outputHash: outputHashOf(output, structured), error: output }, {
        type: "task_completed",
        data: { s: output },
      });
      const run = await store.getRun("r");
      expect(run?.inputs.notes).toBe(output);
      expect(run?.tasks[0]?.output).toBe(output);
      expect(run?.tasks[0]?.structured).toEqual({ s: output, n: [1, 2.5, null] });
      expect(run?.tasks[0]?.error).toBe(output);
      expect((await store.events("r")).at(-1)?.data).toEqual({ s: output });
      const types = await admin.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks' AND column_name IN ('output', 'structured')",
        [schema],
      );
      expect(types.rows.map((row) => row.data_type)).toEqual(["text", "text"]);
      const raw = await admin.query(`SELECT output FROM "${schema}".tasks`);
      expect(raw.rows[0].output).toBe(JSON.stringify(output));
    });

    it("commits a task in one statement and reads a 1000-task run in two", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "big", crew: "c", inputs: {} });
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        await store.saveTask("big", completed("t0"), { type: "task_completed" });
        expect(spy).toHaveBeenCalledTimes(1);
        for (let i = 1; i < 1000; i++) await store.saveTask("big", completed(`t${i}`), { type: "task_completed" });
        spy.mockClear();
        const run = await store.getRun("big");
        expect(spy.mock.calls.length).toBeLessThanOrEqual(2);
        expect(run?.tasks.map((t) => t.name)).toEqual(Array.from({ length: 1000 }, (_, i) => `t${i}`));
      } finally {
        spy.mockRestore();
      }
    });

    it("keeps costs as double precision columns", async () => {
      const { url, schema } = freshUrl();
      await open(url);
      const types = await admin.query(
        "SELECT table_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'cost_usd' ORDER BY table_name",
        [schema],
      );
      expect(types.rows).toEqual([
        { table_name: "calls", data_type: "double precision" },
        { table_name: "tasks", data_type: "double precision" },
      ]);
    });
  });

  describe("faults", () => {
    it("retries an import whose connection dropped before COMMIT, and never crashes on a dead checked-out connection", async () => {
      const proxy = await startTcpProxy(PG_URL);
      try {
        const { url } = freshUrl({}, viaPort(PG_URL, proxy.port));
        const store = await open(url);
        await store.beginRun({ runId: "r", crew: "c", inputs: {} });
        await store.saveTask("r", completed("t"), { type: "task_completed" });
        const dump = (await store.exportRun("r"))!;
        const copy = { ...dump, run: { ...dump.run, runId: "copy" }, events: dump.events.map((e) => ({ ...e, runId: "copy" })) };
        // The first reply inside the import is BEGIN's: the connection dies with the transaction open.
        const happened = proxy.cutNextReply();
        await store.importRun(copy);
        await happened;
        expect(await store.exportRun("copy")).toEqual(copy);
        // Same for a consistent read (exportRun runs in a read-only transaction).
        const again = proxy.cutNextReply();
        expect(await store.exportRun("copy")).toEqual(copy);
        await again;
      } finally {
        await proxy.close();
      }
    });
  });

  describe("leases", () => {
    it("claims, renews and releases in one statement each", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        const lease = (await store.claimTask("r", "t", "worker-a", 30_000))!;
        expect(spy).toHaveBeenCalledTimes(1);
        const renewed = await store.heartbeat(lease, 30_000);
        expect(spy).toHaveBeenCalledTimes(2);
        await store.releaseTask(renewed);
        expect(spy).toHaveBeenCalledTimes(3);
      } finally {
        spy.mockRestore();
      }
    });

    it("replays a claim as the lease it granted while that lease stands, and as a new claim once another claim replaced it", async () => {
      const { url, schema } = freshUrl();
      const [store, other] = [await open(url), await open(url)];
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const spy = vi.spyOn(pg.Pool.prototype, "query");
      let sent: pg.QueryConfig;
      try {
        await store.claimTask("r", "t", "worker-a", 30_000);
        sent = spy.mock.calls[0]![0] as unknown as pg.QueryConfig;
      } finally {
        spy.mockRestore();
      }
      // The very statement again, op ID and all: what a retry after a lost reply sends.
      const replay = async () => (await admin.query({ text: sent.text, values: sent.values })).rows[0];
      const lease = (await store.getRun("r"))!.tasks[0]!;
      expect(await replay()).toEqual({ found: true, token: "1", expires_at: lease.leaseExpiresAt });
      expect((await store.getRun("r"))!.tasks[0]).toEqual(lease);

      await other.claimTask("r", "t", "worker-b", 30_000, { takeOverFrom: "worker-a" });
      expect(await replay()).toEqual({ found: true, token: null, expires_at: null });
      const rows = await admin.query(`SELECT worker, fencing_token FROM "${schema}".tasks`);
      expect(rows.rows).toEqual([{ worker: '"worker-b"', fencing_token: "2" }]);
    });
  });

  describe("commit chain and reuse", () => {
    /** The started record and event of a claim made in the commit before it. */
    const next = (task: string, seenToken = 0): NextClaim => ({
      task,
      worker: "worker-a",
      ttlMs: 30_000,
      seenToken,
      start: { task: { ...newTaskRecord(task), status: "running", startedAt: "2026-01-02T03:04:05.000Z", attempts: 1 }, event: { type: "task_started" } },
    });

    it("commits a result, the next claim and the run's end in one statement; replayed, it returns the lease it granted and writes nothing", async () => {
      const { url, schema } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const clientSpy = vi.spyOn(pg.Client.prototype, "query");
      const poolSpy = vi.spyOn(pg.Pool.prototype, "query");
      let lease: Lease | undefined;
      let sent: pg.QueryConfig;
      try {
        lease = await store.saveTask("r", completed("a"), { type: "task_completed" }, {
          calls: [{ task: "a", position: 0, kind: "model", requestHash: "h", response: "x", usage: null, at: "2026-01-01T00:00:00.000Z" }],
          next: next("b"),
          endRun: { status: "paused", error: null, event: { type: "run_paused" } },
        });
        expect(clientSpy).toHaveBeenCalledTimes(1);
        sent = poolSpy.mock.calls[0]![0] as unknown as pg.QueryConfig;
      } finally {
        clientSpy.mockRestore();
        poolSpy.mockRestore();
      }
      expect(lease).toMatchObject({ task: "b", worker: "worker-a", token: 1 });
      expect((await store.events("r")).map((e) => [e.seq, e.type, e.task])).toEqual([
        [1, "run_started", null],
        [2, "task_completed", "a"],
        [3, "task_started", "b"],
        [4, "run_paused", null],
      ]);
      const before = await snapshot(schema);
      // The very statement again, op ID and all: what a retry after a lost reply sends.
      const replay = (await admin.query({ text: sent.text, values: sent.values })).rows[0];
      expect(replay).toMatchObject({ done: true, kept_token: "1", kept_expires_at: lease!.expiresAt });
      expect(await snapshot(schema)).toEqual(before);
    });

    it("answers a chain commit retried after a lost reply with the lease it granted, through the store", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const original = pg.Pool.prototype.query;
      let lost = false;
      // The first send commits, then its reply is lost as a dropped connection would lose it.
      const spy = vi.spyOn(pg.Pool.prototype, "query").mockImplementation(async function (this: pg.Pool, ...args: unknown[]) {
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
        if (!lost) {
          lost = true;
          throw Object.assign(new Error("Connection terminated unexpectedly"), {});
        }
        return result;
      } as never);
      let lease: Lease | undefined;
      try {
        lease = await store.saveTask("r", completed("a"), { type: "task_completed" }, { next: next("b") });
        expect(spy).toHaveBeenCalledTimes(2);
      } finally {
        spy.mockRestore();
      }
      expect(lease).toMatchObject({ task: "b", worker: "worker-a", token: 1 });
      const run = (await store.getRun("r"))!;
      expect(run.tasks.map((t) => [t.name, t.status, t.fencingToken, t.leaseExpiresAt])).toEqual([
        ["a", "completed", 0, null],
        ["b", "running", 1, lease!.expiresAt],
      ]);
      expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "task_started"]);
    });

    it("keeps 1000 reused records in one statement", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const tasks = Array.from({ length: 1000 }, (_, i) => ({ record: completed(`t${i}`), fencingToken: 0 }));
      const spy = vi.spyOn(pg.Client.prototype, "query");
      try {
        await store.reuseTasks("r", tasks, { type: "tasks_reused", data: { tasks: tasks.map((t) => t.record.name) } }, { endRun: { status: "completed", error: null, event: { type: "run_completed" } } });
        expect(spy).toHaveBeenCalledTimes(1);
      } finally {
        spy.mockRestore();
      }
      const run = (await store.getRun("r"))!;
      expect(run.tasks.map((t) => t.name)).toEqual(tasks.map((t) => t.record.name));
      expect(run.status).toBe("completed");
      expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "tasks_reused", "run_completed"]);
    });

    it("refuses a reuse whole when another writer made a record's row after the statement began", async () => {
      const { url, schema } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await store.saveTask("r", completed("a"), { type: "task_completed" });
      // Another writer's row for "b", token 1, not committed yet: the reuse's snapshot cannot see it.
      const writer = new pg.Client(PG_URL);
      await writer.connect();
      try {
        await writer.query("BEGIN");
        await writer.query(`INSERT INTO "${schema}".tasks (run_id, name, status, attempts, worker, fencing_token) VALUES ('r', 'b', 'pending', 0, '"worker-b"', 1)`);
        const reuse = store.reuseTasks("r", [{ record: completed("a", "other"), fencingToken: 0 }, { record: completed("b"), fencingToken: 0 }], { type: "tasks_reused" });
        const outcome = reuse.then(() => undefined, (error: unknown) => error);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await writer.query("COMMIT");
        expect(await outcome).toMatchObject({ code: "FENCED_OUT", message: expect.stringContaining("the current token is 1") });
      } finally {
        await writer.end();
      }
      const run = (await store.getRun("r"))!;
      expect(run.tasks.map((t) => [t.name, t.output, t.fencingToken])).toEqual([
        ["a", "output of a", 0],
        ["b", null, 1],
      ]);
      expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    });
  });

  describe("URLs", () => {
    it("masks a password given as a query parameter, as well as one in the userinfo", async () => {
      expect(redactUrl("postgres://crew:s3cret@db:5432/x?password=other&schema=s")).toBe("postgres://crew:***@db:5432/x?password=***&schema=s");
      expect(redactUrl("postgresql://crew@db/x?schema=s&PASSWORD=p%40ss#frag")).toBe("postgresql://crew@db/x?schema=s&PASSWORD=***"); // a raw # may belong to the password
      expect(redactUrl("postgres://crew@db/x?sslpassword=key-pass&password=")).toBe("postgres://crew@db/x?sslpassword=***&password=***");
      expect(redactUrl("postgres://crew@db/x?schema=password")).toBe("postgres://crew@db/x?schema=password");
      const error = await openStore("postgres://crew@127.0.0.1:1/test?password=s3cret-pw&schema=x").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect((error as Error).message).not.toContain("s3cret");
      expect((error as Error).message).toContain("password=***");
    });
  });

  describeServerStore({
    name: "PostgreSQL",
    serverUrl: PG_URL,
    freshUrl: (base) => {
      const { url, schema } = freshUrl({}, base);
      return { url, scope: schema };
    },
    open,
    killable: () => {
      const app = freshName("app");
      const kill = async () =>
        (await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [app])).rowCount ?? 0;
      return { url: freshUrl({ application_name: app }).url, kill };
    },
    kills: { one: "pg_terminate_backend", many: "killed backends" },
    serverNow: async () => {
      const { rows } = await admin.query<{ ms: string }>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms");
      return Number(rows[0]!.ms);
    },
    snapshot,
    expectLeaseStored: async (schema, lease) => {
      const rows = await admin.query(`SELECT worker, fencing_token, lease_expires_at, status FROM "${schema}".tasks`);
      expect(rows.rows).toEqual([{ worker: JSON.stringify(lease.worker), fencing_token: String(lease.token), lease_expires_at: lease.expiresAt, status: "pending" }]);
    },
    expectLayoutIntact: async (schema) => expect(await tablesOf(schema)).toEqual(["calls", "events", "runs", "schema_version", "tasks"]),
    unreachable: { urls: ["postgres://crew:s3cret-pw@127.0.0.1:1/test", "postgresql://crew:s3cret-pw@127.0.0.1:1/test?schema=x"], shownAs: "crew:***@127.0.0.1:1/test" },
    keepsNegativeZero: true,
  });
});
