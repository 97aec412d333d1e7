/**
 * What only the PostgreSQL store has to get right: its schema and migrations, its use of the
 * connection (one statement per commit, reconnecting after killed backends or an outage, a lost
 * reply), and concurrency between real connections. The shared behaviour is in the conformance
 * suite (`postgres.test.ts`).
 */
import pg from "pg";
import { APICallError } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { openStore, redactUrl } from "../../src/stores/open.js";
import { MIGRATIONS, POSTGRES_SCHEMA_VERSION, migrate } from "../../src/stores/postgres-migrations.js";
import { PostgresStore } from "../../src/stores/postgres-store.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { newTaskRecord, type CallRecord, type ClaimOptions, type Lease, type Store, type TaskRecord } from "../../src/stores/store.js";
import { runCli } from "../support/cli.js";
import { freshName, PG_URL, postgresService, startTcpProxy, viaPort, withParam } from "../services.js";

const service = await postgresService();

/**
 * An 8-task crew whose model kills the store's connections in every call — between the task's
 * start and its commit — and fails `t5` once: the run fails there, the rerun resumes.
 */
async function crewThroughFaults(store: Store, kill: () => Promise<number>) {
  const calls: Record<string, number> = {};
  let failOnce = true;
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      const prompt = JSON.stringify(options.prompt);
      const name = /TASK (t\d+)/.exec(prompt)![1]!;
      calls[name] = (calls[name] ?? 0) + 1;
      expect(await kill()).toBeGreaterThan(0);
      if (name === "t5" && failOnce) {
        failOnce = false;
        throw new APICallError({ message: "model down", url: "http://model", requestBodyValues: {}, statusCode: 400, isRetryable: false });
      }
      return {
        content: [{ type: "text", text: `output of ${name}` }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } },
        warnings: [],
      };
    },
  });
  const agent = new Agent({ role: "Clerk", goal: "File things", backstory: "Tidy.", model });
  const tasks = Array.from({ length: 8 }, (_, i) => new Task({ name: `t${i + 1}`, description: `TASK t${i + 1}`, expectedOutput: "a line", agent, retries: 0 }));
  const crew = new Crew({ name: "faults", tasks, store });
  await expect(crew.kickoff({ runId: "faulty" })).rejects.toMatchObject({ code: "TASK_FAILED", context: { task: "t5" } });
  const resumed = await crew.kickoff({ runId: "faulty" });
  return { calls, resumed, run: (await store.getRun("faulty"))! };
}

function expectCrewSurvived({ calls, resumed, run }: Awaited<ReturnType<typeof crewThroughFaults>>) {
  // Nothing committed was lost (t1–t4 are reused) and no committed task ran twice.
  expect(resumed.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "reused", "reused", "ran", "ran", "ran", "ran"]);
  expect(calls).toEqual({ t1: 1, t2: 1, t3: 1, t4: 1, t5: 2, t6: 1, t7: 1, t8: 1 });
  expect(run.status).toBe("completed");
  expect(run.tasks.map((t) => [t.name, t.status, t.output])).toEqual(Array.from({ length: 8 }, (_, i) => [`t${i + 1}`, "completed", `output of t${i + 1}`]));
}

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

  const completed = (name: string, output = `output of ${name}`): TaskRecord => ({
    ...newTaskRecord(name),
    status: "completed",
    output,
    inputHash: "i".repeat(64),
    outputHash: "o".repeat(64),
    attempts: 1,
  });

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
      await store.saveTask("r", { ...completed("t", output), structured: { s: output, n: [1, 2.5, null] }, error: output }, {
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

    it("keeps the order tasks were first recorded in, through updates and imports", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const names = ["zeta", "alpha", "mid", "beta"];
      for (const name of names) await store.saveTask("r", { ...newTaskRecord(name), status: "running" }, { type: "task_started" });
      await store.saveTask("r", completed("alpha"), { type: "task_completed" });
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(names);
      const dump = (await store.exportRun("r"))!;
      await store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } });
      await store.saveTask("copy", completed("last"), { type: "task_completed" });
      expect((await store.getRun("copy"))?.tasks.map((t) => t.name)).toEqual([...names, "last"]);
    });
  });

  describe("concurrency", () => {
    it("lets exactly one of concurrent claims carrying the same token win", async () => {
      const { url } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      // First claim of a task that has no record yet (token 0), then a re-claim (token 1).
      for (const [from, to] of [
        [0, 1],
        [1, 2],
      ] as const) {
        const claims = Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? a : b).saveTask("r", { ...newTaskRecord("t"), status: "running", worker: `w${i}`, fencingToken: to }, { type: "task_started" }, { fencingToken: from }),
        );
        const outcomes = await Promise.allSettled(claims);
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "FENCED_OUT" });
      }
      expect((await a.getRun("r"))?.tasks[0]?.fencingToken).toBe(2);
      expect((await a.events("r")).filter((e) => e.type === "task_started")).toHaveLength(2);
    });

    it("keeps every commit when two stores write different tasks of one run at once", async () => {
      const { url } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).saveTask("r", completed(`t${i}`), { type: "task_completed" })),
      );
      const run = await b.getRun("r");
      expect(new Set(run?.tasks.map((t) => t.name)).size).toBe(60);
      expect((await a.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
    });
  });

  describe("faults", () => {
    it("reconnects after pg_terminate_backend between commits and loses nothing", async () => {
      const app = freshName("app");
      const { url } = freshUrl({ application_name: app });
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (let i = 0; i < 10; i++) {
        await store.saveTask("r", completed(`t${i}`), { type: "task_completed" });
        const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [app]);
        expect(killed.rowCount).toBeGreaterThan(0);
      }
      await store.saveTask("r", completed("after"), { type: "task_completed" });
      const run = await store.getRun("r");
      expect(run?.tasks.map((t) => t.name)).toEqual([...Array.from({ length: 10 }, (_, i) => `t${i}`), "after"]);
      expect((await store.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    });

    it("runs a crew through killed backends: nothing committed lost, no committed task run twice", async () => {
      const app = freshName("app");
      const { url } = freshUrl({ application_name: app });
      const store = await open(url);
      const kill = async () =>
        (await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [app])).rowCount ?? 0;
      expectCrewSurvived(await crewThroughFaults(store, kill));
    });

    it("treats a write whose reply was lost as done: retried once, recorded once", async () => {
      const proxy = await startTcpProxy(PG_URL);
      try {
        const { url } = freshUrl({}, viaPort(PG_URL, proxy.port));
        const store = await open(url);
        const cut = async <T>(write: () => Promise<T>): Promise<T> => {
          const happened = proxy.cutNextReply();
          const result = await write();
          await happened;
          return result;
        };
        const run = await cut(() => store.beginRun({ runId: "r", crew: "c", inputs: {} }));
        expect(run.attempts).toBe(1);
        await cut(() => store.saveTask("r", completed("t"), { type: "task_completed" }));
        await cut(() => store.setRunStatus("r", "paused", null, { type: "run_paused" }));
        expect(await cut(() => store.removeTask("r", "t", { type: "task_invalidated" }))).toBe(true);
        await cut(() => store.recordCall("r", { task: "u", position: 0, kind: "model", requestHash: "h", response: "x", usage: null, at: "2026-01-01T00:00:00.000Z" }));
        const events = await store.events("r");
        expect(events.map((e) => e.type)).toEqual(["run_started", "task_completed", "run_paused", "task_invalidated"]);
        expect(await store.calls("r", "u")).toHaveLength(1);
      } finally {
        await proxy.close();
      }
    });

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

    it("reports an outage as STORE_UNAVAILABLE quickly, then works again when the server is back", async () => {
      const proxy = await startTcpProxy(PG_URL);
      try {
        const { url } = freshUrl({}, viaPort(PG_URL, proxy.port));
        const store = await open(url);
        await store.beginRun({ runId: "r", crew: "c", inputs: {} });
        await store.saveTask("r", completed("before"), { type: "task_completed" });
        await proxy.stop();
        const started = Date.now();
        const error = await store.saveTask("r", completed("during"), { type: "task_completed" }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(error).toMatchObject({ code: "STORE_UNAVAILABLE" });
        expect((error as Error).message).not.toContain("\n");
        expect((error as Error).message).toContain(`127.0.0.1:${proxy.port}`);
        await expect(store.getRun("r")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
        await proxy.start();
        await store.saveTask("r", completed("after"), { type: "task_completed" });
        expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["before", "after"]);
      } finally {
        await proxy.close();
      }
    });

    it("makes the CLI report an unreachable server in one line naming the store, without a stack or the password", async () => {
      const result = await runCli(["runs", "--store", "postgres://crew:s3cret-pw@127.0.0.1:1/test"]);
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/PostgreSQL store .*crew:\*\*\*@127\.0\.0\.1:1.* is unavailable/);
      expect(result.stderr).not.toContain("s3cret");
    });

    it("reports an unreachable server in one line, within seconds, without the password", async () => {
      for (const url of ["postgres://crew:s3cret-pw@127.0.0.1:1/test", "postgresql://crew:s3cret-pw@127.0.0.1:1/test?schema=x"]) {
        const started = Date.now();
        const error = await openStore(url).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(error).toMatchObject({ code: "STORE_UNAVAILABLE" });
        const message = (error as Error).message;
        expect(message).not.toContain("s3cret");
        expect(message).not.toContain("\n");
        expect(message).toContain("crew:***@127.0.0.1:1/test");
      }
    });
  });

  describe("leases", () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /** The server's clock in ms, truncated as the store truncates it. */
    async function serverNow(): Promise<number> {
      const { rows } = await admin.query<{ ms: string }>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms");
      return Number(rows[0]!.ms);
    }
    const granted = (leases: (Lease | undefined)[]): Lease[] => leases.filter((lease): lease is Lease => lease !== undefined);

    it("grants exactly one of 16 simultaneous claims through 16 connections: first claims, re-claims and takeovers alike", async () => {
      const { url, schema } = freshUrl();
      const stores = await Promise.all(Array.from({ length: 16 }, () => open(url)));
      try {
        await stores[0]!.beginRun({ runId: "r", crew: "c", inputs: {} });
        const race = (ttlMs: number, who: (i: number) => boolean = () => true, options?: ClaimOptions) =>
          Promise.all(stores.map((store, i) => (who(i) ? store.claimTask("r", "t", `w${i}`, ttlMs, options) : undefined)));

        // A task without a record: the losers wait on the winner's insert and then see its lease.
        const first = granted(await race(300));
        expect(first.map((l) => l.token)).toEqual([1]);
        await sleep(400);
        const second = granted(await race(30_000));
        expect(second.map((l) => l.token)).toEqual([2]);
        // Everyone else takes over from the holder at once: the first takeover makes a new holder.
        const holder = second[0]!.worker;
        const third = granted(await race(30_000, (i) => `w${i}` !== holder, { takeOverFrom: holder }));
        expect(third.map((l) => l.token)).toEqual([3]);

        const rows = await admin.query(`SELECT worker, fencing_token, lease_expires_at, status FROM "${schema}".tasks`);
        expect(rows.rows).toEqual([{ worker: JSON.stringify(third[0]!.worker), fencing_token: "3", lease_expires_at: third[0]!.expiresAt, status: "pending" }]);
        expect((await stores[5]!.events("r")).map((e) => e.type)).toEqual(["run_started"]);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    it("judges and stamps lease expiry by the server's clock, whatever this process's clock says", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const skew = 3_600_000;
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - skew });
      try {
        const before = await serverNow();
        const lease = (await store.claimTask("r", "a", "worker-a", 60_000))!;
        const after = await serverNow();
        expect(lease.expiresAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        expect(Date.parse(lease.expiresAt)).toBeGreaterThanOrEqual(before + 60_000);
        expect(Date.parse(lease.expiresAt)).toBeLessThanOrEqual(after + 60_000);
        expect(Date.parse(lease.expiresAt) - (Date.now() + 60_000)).toBeGreaterThan(skew - 60_000);

        // This process, an hour behind, thinks this lease has an hour to go; by the server's clock it ran out.
        const ranOut = { ...newTaskRecord("b"), status: "running" as const, worker: "worker-a", fencingToken: 1, leaseExpiresAt: new Date((await serverNow()) - 1_000).toISOString() };
        await store.saveTask("r", ranOut, { type: "task_started" });
        expect(await store.claimTask("r", "b", "worker-b", 60_000)).toMatchObject({ worker: "worker-b", token: 2 });

        // An hour ahead, it thinks this one ran out long ago; by the server's clock it has a minute left.
        vi.setSystemTime(Date.now() + 2 * skew);
        const running = { ...ranOut, name: "c", leaseExpiresAt: new Date((await serverNow()) + 60_000).toISOString() };
        await store.saveTask("r", running, { type: "task_started" });
        expect(await store.claimTask("r", "c", "worker-b", 60_000)).toBeUndefined();

        // A heartbeat renews from the server's now too.
        const from = await serverNow();
        const renewed = await store.heartbeat(lease, 120_000);
        const to = await serverNow();
        expect(Date.parse(renewed.expiresAt)).toBeGreaterThanOrEqual(from + 120_000);
        expect(Date.parse(renewed.expiresAt)).toBeLessThanOrEqual(to + 120_000);
      } finally {
        vi.useRealTimers();
      }
    });

    it("fences the previous holder's heartbeat, commit and release out after a takeover through another connection", async () => {
      const { url, schema } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      const old = (await a.claimTask("r", "t", "worker-a", 30_000))!;
      const taken = (await b.claimTask("r", "t", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      expect(taken).toMatchObject({ worker: "worker-b", token: 2 });

      const before = await snapshot(schema);
      await expect(a.heartbeat(old, 30_000)).rejects.toMatchObject({ code: "FENCED_OUT", context: { runId: "r", task: "t" } });
      const zombie = { ...completed("t", "from a"), worker: "worker-a", fencingToken: old.token };
      await expect(a.saveTask("r", zombie, { type: "task_completed" }, { fencingToken: old.token })).rejects.toMatchObject({ code: "FENCED_OUT" });
      await a.releaseTask(old);
      expect(await snapshot(schema)).toEqual(before);

      const renewed = await b.heartbeat(taken, 30_000);
      expect(renewed).toMatchObject({ worker: "worker-b", token: 2 });
      const done = { ...completed("t", "from b"), worker: "worker-b", fencingToken: taken.token };
      await b.saveTask("r", done, { type: "task_completed" }, { fencingToken: taken.token });
      expect((await a.getRun("r"))?.tasks).toEqual([done]);
      expect((await a.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    });

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

    it("answers a claim retried after a lost reply with the lease it granted, not a second token", async () => {
      const proxy = await startTcpProxy(PG_URL);
      try {
        const { url } = freshUrl({}, viaPort(PG_URL, proxy.port));
        const store = await open(url);
        await store.beginRun({ runId: "r", crew: "c", inputs: {} });
        const cut = async <T>(write: () => Promise<T>): Promise<T> => {
          const happened = proxy.cutNextReply();
          const result = await write();
          await happened;
          return result;
        };
        const first = (await cut(() => store.claimTask("r", "t", "worker-a", 30_000)))!;
        expect(first).toMatchObject({ worker: "worker-a", token: 1 });
        expect((await store.getRun("r"))?.tasks[0]).toMatchObject({ fencingToken: 1, leaseExpiresAt: first.expiresAt });
        // Re-claiming its own task: one new token, not two.
        const again = (await cut(() => store.claimTask("r", "t", "worker-a", 30_000)))!;
        expect(again.token).toBe(2);
        const renewed = await cut(() => store.heartbeat(again, 60_000));
        expect(renewed.token).toBe(2);
        expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(again.expiresAt));
        await cut(() => store.releaseTask(renewed));
        expect((await store.getRun("r"))?.tasks[0]).toMatchObject({ worker: "worker-a", fencingToken: 2, leaseExpiresAt: null });
        expect(await store.events("r")).toHaveLength(1);
      } finally {
        await proxy.close();
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

    it("keeps costs exactly, as doubles, in task records and call journals, through export and import", async () => {
      const { url, schema } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const costs = [0.1 + 0.2, 0.000045, 1e-9, 123456.789012345, 5e-324, Number.MAX_VALUE, 0, -0, null];
      for (const [i, costUsd] of costs.entries()) {
        await store.saveTask("r", { ...completed(`t${i}`), usage: { inputTokens: i, outputTokens: 2 * i, costUsd } }, { type: "task_completed" });
        await store.recordCall("r", { task: `t${i}`, position: 0, kind: "model", requestHash: "h", response: i, usage: { inputTokens: i, outputTokens: 1, costUsd }, at: "2026-01-01T00:00:00.000Z" });
      }
      const check = async (runId: string) => {
        const run = (await store.getRun(runId))!;
        run.tasks.forEach((task, i) => expect(Object.is(task.usage!.costUsd, costs[i]), `task t${i}: ${task.usage!.costUsd}`).toBe(true));
        for (const [i, costUsd] of costs.entries()) {
          const [call] = await store.calls(runId, `t${i}`);
          expect(Object.is((call as CallRecord).usage!.costUsd, costUsd), `call of t${i}`).toBe(true);
        }
      };
      await check("r");
      const dump = (await store.exportRun("r"))!;
      await store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } });
      await check("copy");
      const types = await admin.query(
        "SELECT table_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'cost_usd' ORDER BY table_name",
        [schema],
      );
      expect(types.rows).toEqual([
        { table_name: "calls", data_type: "double precision" },
        { table_name: "tasks", data_type: "double precision" },
      ]);
      await expect(store.saveTask("r", { ...completed("nan"), usage: { inputTokens: 1, outputTokens: 1, costUsd: Number.NaN } }, { type: "task_completed" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    });
  });

  describe("URLs", () => {
    it("masks a password given as a query parameter, as well as one in the userinfo", async () => {
      expect(redactUrl("postgres://crew:s3cret@db:5432/x?password=other&schema=s")).toBe("postgres://crew:***@db:5432/x?password=***&schema=s");
      expect(redactUrl("postgresql://crew@db/x?schema=s&PASSWORD=p%40ss#frag")).toBe("postgresql://crew@db/x?schema=s&PASSWORD=***#frag");
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

  describe("hostile names", () => {
    const names = ["'; DROP TABLE runs; --", "$1", "*", "{tag}", "a\\b", '"quoted"', "%s %d", "tab\u00a0nbsp", "ünïcödé 🦀", "'", ") OR 1=1 --"];

    it("round-trips SQL-looking task names, crew names and inputs, never interpreting them", async () => {
      const { url, schema } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "'; DROP SCHEMA public; --", inputs: { "$1": "'; DELETE FROM runs; --", "{tag}": "*" } });
      for (const name of names) {
        await store.saveTask("r", completed(name, name), { type: "task_completed", data: { name } });
        await store.recordCall("r", { task: name, position: 0, kind: "tool", requestHash: name, response: name, usage: null, at: "2026-01-01T00:00:00.000Z" });
      }
      const run = await store.getRun("r");
      expect(run?.crew).toBe("'; DROP SCHEMA public; --");
      expect(run?.inputs).toEqual({ "$1": "'; DELETE FROM runs; --", "{tag}": "*" });
      expect(run?.tasks.map((t) => [t.name, t.output])).toEqual(names.map((n) => [n, n]));
      for (const name of names) expect((await store.calls("r", name))[0]?.response).toBe(name);
      expect(await store.removeTask("r", "*", { type: "task_invalidated" })).toBe(true);
      expect((await store.getRun("r"))?.tasks).toHaveLength(names.length - 1);
      expect(await tablesOf(schema)).toEqual(["calls", "events", "runs", "schema_version", "tasks"]);
    });

    it("refuses SQL-looking run IDs before they reach the database", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      for (const runId of ["'; DROP TABLE runs; --", "$1", "a b", "x\ny", "../etc"]) {
        await expect(store.beginRun({ runId, crew: "c", inputs: {} })).rejects.toMatchObject({ code: "INVALID_RUN_ID" });
      }
      expect(await store.listRuns()).toEqual([]);
    });
  });
});
