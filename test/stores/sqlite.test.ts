import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, it, onTestFinished } from "vitest";
import { isCrewstateError, type CrewstateError, type ErrorCode } from "../../src/errors.js";
import { openStore } from "../../src/stores/open.js";
import { SQLITE_APPLICATION_ID, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "../../src/stores/sqlite/migrations.js";
import { SqliteStore } from "../../src/stores/sqlite/store.js";
import { newTaskRecord, type Lease } from "../../src/stores/store.js";
import { describeStoreConformance } from "../../src/testing/index.js";
import { localLeaseTests } from "./local/leases.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

// Each test gets a folder of its own: removed afterwards, kept (and named) when the test failed.
const files = new Map<SqliteStore, string>();

describeStoreConformance("sqlite", {
  open: async () => {
    const file = join(mkdtempSync(join(tmpdir(), "crewstate-sqlite-conformance-")), "state.db");
    const store = await SqliteStore.open(file);
    files.set(store, file);
    return store;
  },
  reopen: (store) => SqliteStore.open(files.get(store)!),
  close: async (store, { failed }) => {
    const dir = dirname(files.get(store)!);
    files.delete(store);
    await store.close();
    if (failed) console.warn(`kept ${dir} of the failed test`);
    else rmSync(dir, { recursive: true, force: true });
  },
  tamperOutput: async (store, runId, task, output) => {
    const db = new Database(files.get(store)!);
    try {
      db.prepare("UPDATE tasks SET output = ? WHERE run_id = ? AND name = ?").run(JSON.stringify(output), runId, task);
    } finally {
      db.close();
    }
  },
});

/** A temp folder for the current test: removed when it passes, kept and named when it fails. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "crewstate-sqlite-"));
  onTestFinished(({ task }) => {
    if (task.result?.state === "fail") console.warn(`kept ${dir} of the failed test`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Opens a store that the current test closes when it ends. */
async function openForTest(target: string): Promise<SqliteStore> {
  const store = await SqliteStore.open(target);
  onTestFinished(() => store.close());
  return store;
}

async function expectCode(action: () => Promise<unknown>, code: ErrorCode): Promise<CrewstateError> {
  const error = await action().then(
    () => expect.fail(`expected ${code}, but it succeeded`),
    (e: unknown) => e,
  );
  if (!isCrewstateError(error, code)) expect.fail(`expected ${code}, got ${String(error)}`);
  return error;
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/**
 * Runs `workers` writer processes (`sqlite/writer.ts`) of `commits` commits each on one file — all
 * opening it at once, racing to create and migrate it, then committing together — and checks
 * that each ended well, without SQLITE_BUSY; returns what each printed.
 */
async function runWriters(file: string, workers: number, commits: number, nextTask?: string): Promise<string[]> {
  const children: Array<{ child: ChildProcess; stdout: string; stderr: string }> = [];
  // All writers open the file at once (racing to create and migrate it), then commit together.
  for (let worker = 0; worker < workers; worker++) {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test/stores/sqlite/writer.ts"), file, String(worker), String(commits), ...(nextTask ? [nextTask] : [])], {
      cwd: repoRoot,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const entry = { child, stdout: "", stderr: "" };
    child.stdout!.on("data", (chunk: Buffer) => (entry.stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (entry.stderr += chunk.toString()));
    children.push(entry);
  }
  onTestFinished(() => {
    for (const { child } of children) if (child.exitCode === null) child.kill("SIGKILL");
  });
  const exits = children.map(({ child }) => new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code))));
  const report = () => children.map(({ stdout, stderr }, i) => `worker ${i}: ${stdout.trim()} ${stderr.trim()}`).join("\n");

  const ready = (entry: (typeof children)[number]) =>
    new Promise<void>((resolve, reject) => {
      const check = () => entry.stdout.includes("ready") && resolve();
      entry.child.stdout!.on("data", check);
      entry.child.on("exit", () => reject(new Error(`a writer ended before it was ready:\n${report()}`)));
    });
  await Promise.all(children.map(ready));
  for (const { child } of children) child.stdin!.write("go\n");
  const codes = await Promise.all(exits);

  expect(codes, report()).toEqual(Array(workers).fill(0));
  for (const { stdout, stderr } of children) {
    expect(stdout).toContain("done");
    expect(stderr).not.toMatch(/SQLITE_BUSY|STORE_LOCKED|locked/i);
  }
  return children.map(({ stdout }) => stdout);
}

/** A closed database holding one run with one task, made by the store itself. */
async function populated(file: string): Promise<void> {
  const store = await SqliteStore.open(file);
  await store.beginRun({ runId: "r", crew: "c", inputs: {} });
  await store.saveTask("r", { ...newTaskRecord("a"), output: "x".repeat(20_000) }, { type: "task_completed" });
  await store.close();
}

describe("SqliteStore", () => {
  it("opens in WAL mode with synchronous=NORMAL and a 5 s busy timeout; FULL on request", async () => {
    const dir = tempDir();
    const normal = await openForTest(join(dir, "normal.db"));
    expect(normal.pragma("journal_mode")).toBe("wal");
    expect(normal.pragma("synchronous")).toBe(1);
    expect(normal.pragma("busy_timeout")).toBe(5000);

    const full = await openForTest(`${join(dir, "full.db")}?synchronous=full`);
    expect(full.pragma("journal_mode")).toBe("wal");
    expect(full.pragma("synchronous")).toBe(2);
    expect(full.location).toBe(join(dir, "full.db"));

    // WAL is a property of the file: a plain connection sees it too.
    const raw = new Database(join(dir, "full.db"), { readonly: true });
    try {
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      raw.close();
    }
  });

  it("under synchronous=full, a claim (granted, refused or failing) leaves the connection at FULL for the commits after it", async () => {
    const full = await openForTest(`${join(tempDir(), "full.db")}?synchronous=full`);
    await full.beginRun({ runId: "r", crew: "c", inputs: {} });
    expect(await full.claimTask("r", "a", "w1", 30_000)).toBeDefined();
    expect(full.pragma("synchronous")).toBe(2);
    expect(await full.claimTask("r", "a", "w2", 30_000)).toBeUndefined();
    expect(full.pragma("synchronous")).toBe(2);
    await expectCode(() => full.claimTask("no-such-run", "a", "w1", 30_000), "RUN_NOT_FOUND");
    expect(full.pragma("synchronous")).toBe(2);
  });

  it("is what openStore returns for sqlite: URLs", async () => {
    const dir = tempDir();
    const store = await openStore(`sqlite:${join(dir, "via-url.db")}?synchronous=full`);
    onTestFinished(() => store.close());
    expect(store).toBeInstanceOf(SqliteStore);
    expect((store as SqliteStore).pragma("synchronous")).toBe(2);
    expect(store.location).toBe(join(dir, "via-url.db"));
  });

  it("refuses unknown options and an empty path with UNKNOWN_STORE", async () => {
    const dir = tempDir();
    for (const target of [`${join(dir, "a.db")}?synchronous=off`, `${join(dir, "a.db")}?journal=delete`, "", "?synchronous=full"]) {
      const error = await expectCode(() => SqliteStore.open(target), "UNKNOWN_STORE");
      expect(error.message).toMatch(/synchronous|names no file/);
    }
    expect(existsSync(join(dir, "a.db"))).toBe(false);
  });

  it("creates missing folders 0700 and the database 0600 whatever the umask (000 and 277)", async () => {
    for (const umask of [0o000, 0o277]) {
      const dir = tempDir();
      const previous = process.umask(umask);
      try {
        const store = await openForTest(join(dir, "a", "b", "state.db"));
        await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      } finally {
        process.umask(previous);
      }
      const where = `umask ${umask.toString(8)}`;
      expect(mode(join(dir, "a")), where).toBe(0o700);
      expect(mode(join(dir, "a", "b")), where).toBe(0o700);
      expect(mode(join(dir, "a", "b", "state.db")), where).toBe(0o600);
      // SQLite gives its -wal and -shm files the database's mode.
      expect(mode(join(dir, "a", "b", "state.db-wal")), where).toBe(0o600);
      expect(mode(join(dir, "a", "b", "state.db-shm")), where).toBe(0o600);
      // A folder that existed is left as it was.
      expect(mode(dir), where).toBe(0o700);
    }
  });

  it("migrates a new file to the current schema version, and opening it again changes nothing", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    const first = await SqliteStore.open(file);
    expect(first.pragma("user_version")).toBe(SQLITE_SCHEMA_VERSION);
    expect(first.pragma("application_id")).toBe(SQLITE_APPLICATION_ID);
    await first.beginRun({ runId: "r", crew: "c", inputs: {} });
    await first.close();
    const schemaOf = () => {
      const raw = new Database(file, { readonly: true });
      try {
        return raw.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name").all();
      } finally {
        raw.close();
      }
    };
    const schema = schemaOf();
    expect(schema.map((row) => (row as { name: string }).name)).toEqual(expect.arrayContaining(["runs", "tasks", "events", "calls"]));
    for (let i = 0; i < 2; i++) {
      const again = await SqliteStore.open(file);
      expect(again.pragma("user_version")).toBe(SQLITE_SCHEMA_VERSION);
      expect((await again.getRun("r"))!.attempts).toBe(1);
      await again.close();
    }
    expect(schemaOf()).toEqual(schema);
  });

  it("upgrades a version-1 file in place: its runs read as crew runs without a parent", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    const old = new Database(file);
    old.pragma("journal_mode = WAL");
    old.exec(SQLITE_MIGRATIONS[1]!);
    old.pragma("user_version = 1");
    old
      .prepare("INSERT INTO runs VALUES ('r', '\"c\"', '{}', 'running', 1, 'null', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1)")
      .run();
    old.prepare("INSERT INTO events VALUES ('r', 1, NULL, 'run_started', '2026-01-01T00:00:00.000Z', '{\"attempt\":1}')").run();
    old.close();

    const store = await openForTest(file);
    expect(store.pragma("user_version")).toBe(SQLITE_SCHEMA_VERSION);
    expect(await store.getRun("r")).toMatchObject({ crew: "c", kind: "crew", parent: null, attempts: 1 });
    expect((await store.listRuns())[0]).toMatchObject({ runId: "r", kind: "crew", parent: null });
    await expectCode(() => store.beginRun({ runId: "r", crew: "c", inputs: {}, kind: "flow" }), "RUN_MISMATCH");
    expect(await store.beginRun({ runId: "r", crew: "c", inputs: {} })).toMatchObject({ attempts: 2, kind: "crew", parent: null });
  });

  it("refuses a database of a newer schema version, naming the file and both versions, and leaves it byte-identical", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    await populated(file);
    // A newer crewstate bumped the version and died with commits still in the WAL.
    const newer = spawnSync(
      process.execPath,
      [
        "-e",
        `const db = new (require("better-sqlite3"))(process.argv[1]);
         db.pragma("wal_autocheckpoint = 0");
         db.pragma("user_version = ${SQLITE_SCHEMA_VERSION + 1}");
         db.prepare("UPDATE runs SET status = 'paused'").run();
         process.exit(0); // without closing: the WAL stays`,
        file,
      ],
      { cwd: repoRoot, encoding: "utf8" },
    );
    expect(newer.status, newer.stderr).toBe(0);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
    const before = [sha256(file), sha256(`${file}-wal`)];

    const error = await expectCode(() => SqliteStore.open(file), "UNSUPPORTED_SCHEMA_VERSION");
    expect(error.message).toContain(file);
    expect(error.message).toContain(`version ${SQLITE_SCHEMA_VERSION + 1}`);
    expect(error.message).toContain(`up to ${SQLITE_SCHEMA_VERSION}`);
    expect(error.context.path).toBe(file);
    await expectCode(() => openStore(`sqlite:${file}`), "UNSUPPORTED_SCHEMA_VERSION");
    expect([sha256(file), sha256(`${file}-wal`)]).toEqual(before);
  });

  it("refuses a file that is not a SQLite database with CORRUPT_STATE, naming it and leaving it unchanged", async () => {
    const dir = tempDir();
    const files: Record<string, Buffer> = {
      "random.db": randomBytes(8192),
      "state.json": Buffer.from(JSON.stringify({ runs: { r: { tasks: {} } } }, null, 2)),
      "short.db": Buffer.from("SQLite"),
      "torn-header.db": Buffer.concat([Buffer.from("SQLite format 3\u0000"), randomBytes(4080)]),
    };
    for (const [name, bytes] of Object.entries(files)) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const error = await expectCode(() => SqliteStore.open(file), "CORRUPT_STATE");
      expect(error.message).toContain(file);
      expect(readFileSync(file).equals(bytes), name).toBe(true);
      expect(existsSync(`${file}-wal`), name).toBe(false);
    }
  });

  it("refuses a SQLite database of another application with CORRUPT_STATE, leaving it unchanged", async () => {
    const dir = tempDir();
    const file = join(dir, "other-app.db");
    const raw = new Database(file);
    raw.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');");
    raw.close();
    const before = sha256(file);
    const error = await expectCode(() => SqliteStore.open(file), "CORRUPT_STATE");
    expect(error.message).toContain("another application");
    expect(sha256(file)).toBe(before);
  });

  it("reports a damaged page as CORRUPT_STATE, never as an empty store", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    await populated(file);
    const bytes = readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    expect(bytes.length).toBeGreaterThan(3 * pageSize);
    // Overwrite every page but the first (header and schema) — the tables' b-trees — with 0xff,
    // which no valid b-tree page starts with.
    bytes.fill(0xff, pageSize);
    writeFileSync(file, bytes);
    const store = await SqliteStore.open(file).catch((error: unknown) => error);
    if (store instanceof SqliteStore) {
      onTestFinished(() => store.close());
      await expectCode(() => store.getRun("r"), "CORRUPT_STATE");
      await expectCode(() => store.listRuns(), "CORRUPT_STATE");
    } else {
      expect(isCrewstateError(store, "CORRUPT_STATE"), String(store)).toBe(true);
    }
  });

  it("reports a path it cannot use with STORE_UNAVAILABLE, naming it", async () => {
    const dir = tempDir();
    const plainFile = join(dir, "plain-file");
    writeFileSync(plainFile, "not a folder");
    const underFile = join(plainFile, "state.db");
    const error = await expectCode(() => SqliteStore.open(underFile), "STORE_UNAVAILABLE");
    expect(error.message).toContain(underFile);

    const folder = join(dir, "a-folder.db");
    mkdirSync(folder);
    const folderError = await expectCode(() => SqliteStore.open(folder), "STORE_UNAVAILABLE");
    expect(folderError.message).toContain(folder);
  });

  it("fails with STORE_UNAVAILABLE after close", async () => {
    const dir = tempDir();
    const store = await SqliteStore.open(join(dir, "state.db"));
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.close();
    await store.close(); // closing twice is fine
    const error = await expectCode(() => store.getRun("r"), "STORE_UNAVAILABLE");
    expect(error.message).toContain("closed");
    await expectCode(() => store.saveTask("r", newTaskRecord("a"), { type: "task_started" }), "STORE_UNAVAILABLE");
  });

  it("8 processes × 200 commits on one WAL file: every commit lands, no SQLITE_BUSY, integrity ok", async () => {
    const WORKERS = 8;
    const COMMITS = 200;
    const dir = tempDir();
    const file = join(dir, "shared.db");
    await runWriters(file, WORKERS, COMMITS);

    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(raw.prepare("SELECT count(*) FROM tasks").pluck().get()).toBe(WORKERS * COMMITS);
    } finally {
      raw.close();
    }
    const store = await openForTest(file);
    const run = (await store.getRun("shared"))!;
    expect(run.attempts).toBe(WORKERS);
    expect(run.tasks).toHaveLength(WORKERS * COMMITS);
    for (let worker = 0; worker < WORKERS; worker++) {
      // Each writer's tasks keep the order it committed them in.
      const mine = run.tasks.filter((t) => t.worker === `w${worker}`).map((t) => (t.structured as { i: number }).i);
      expect(mine).toEqual(Array.from({ length: COMMITS }, (_, i) => i));
    }
    const events = await store.events("shared");
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: WORKERS * (COMMITS + 1) }, (_, i) => i + 1));
  });

  it("6 processes whose every commit also claims one shared task: the claim is granted exactly once, every result lands", async () => {
    const WORKERS = 6;
    const COMMITS = 40;
    const file = join(tempDir(), "chain.db");
    const outputs = await runWriters(file, WORKERS, COMMITS, "hot");
    const granted = outputs.flatMap((out) => JSON.parse(out.split("\n").find((l) => l.startsWith("granted "))!.slice("granted ".length)) as Lease[]);
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatchObject({ runId: "shared", task: "hot", token: 1 });

    const store = await openForTest(file);
    const run = (await store.getRun("shared"))!;
    expect(run.tasks).toHaveLength(WORKERS * COMMITS + 1);
    expect(run.tasks.find((t) => t.name === "hot")).toMatchObject({ status: "running", worker: granted[0]!.worker, fencingToken: 1, leaseExpiresAt: granted[0]!.expiresAt });
    const events = await store.events("shared");
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    const started = events.filter((e) => e.type === "task_started");
    expect(started).toHaveLength(1);
    // The claim's event follows the result of the commit that carried it.
    const before = events[started[0]!.seq - 2]!;
    expect([before.type, run.tasks.find((t) => t.name === before.task)?.worker]).toEqual(["task_completed", granted[0]!.worker]);
    expect(events.filter((e) => e.type === "task_completed")).toHaveLength(WORKERS * COMMITS);
  });
});

// ------------------------------------------------------------------------------------------------
// Leases across processes and the lock.

describe("SqliteStore leases", () => {
  localLeaseTests({ kind: "sqlite", newFile: () => join(tempDir(), "state.db"), open: openForTest, race: { workers: 8, tasks: 40 } });

  // The same claim, asked for alone or in the commit of the task before it (`CommitOptions.next`).
  const claimWays = {
    "claimTask": (store: SqliteStore) => store.claimTask("r", "work", "worker-b", 30_000),
    "a commit's next claim": (store: SqliteStore) =>
      store.saveTask("r", { ...newTaskRecord("before"), status: "completed" }, { type: "task_completed" }, {
        next: { task: "work", worker: "worker-b", ttlMs: 30_000, seenToken: 1, start: { task: { ...newTaskRecord("work"), status: "running" }, event: { type: "task_started" } } },
      }),
  };
  it.each(Object.keys(claimWays) as (keyof typeof claimWays)[])("judges a claim by the clock when it holds the write lock, not when it was asked (%s)", async (way) => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    const store = await openForTest(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const held = (await store.claimTask("r", "work", "worker-a", 2_000))!;

    // Another process takes the write lock and keeps it past the lease's end.
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `const db = new (require("better-sqlite3"))(process.argv[1]);
         db.exec("BEGIN IMMEDIATE");
         process.stdout.write("locked\\n");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
         db.exec("COMMIT");
         db.close();`,
        file,
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
    );
    onTestFinished(() => {
      if (holder.exitCode === null) holder.kill("SIGKILL");
    });
    await new Promise<void>((resolve) => holder.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve()));

    const asked = Date.now();
    expect(asked).toBeLessThan(Date.parse(held.expiresAt));
    const lease = await claimWays[way](store); // waits for the lock
    expect(Date.now()).toBeGreaterThan(Date.parse(held.expiresAt));
    expect(lease).toMatchObject({ worker: "worker-b", token: 2 });
    expect(Date.parse(lease!.expiresAt)).toBeGreaterThanOrEqual(Date.parse(held.expiresAt) + 30_000);
  });

  it("a claim stores what it returns: a pending record with the worker, token 1 and the expiry", async () => {
    const file = join(tempDir(), "state.db");
    const store = await openForTest(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const lease = (await store.claimTask("r", "work", "worker-a", 30_000))!;
    const raw = new Database(file, { readonly: true });
    try {
      const row = raw.prepare("SELECT worker, fencing_token, lease_expires_at, status, usage FROM tasks WHERE run_id = 'r' AND name = 'work'").get();
      expect(row).toEqual({ worker: '"worker-a"', fencing_token: 1, lease_expires_at: lease.expiresAt, status: "pending", usage: "null" });
    } finally {
      raw.close();
    }
  });

  it("reads a usage stored without a cost as cost unknown (null), and keeps costs exactly", async () => {
    const file = join(tempDir(), "state.db");
    const store = await openForTest(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const costs = [0.1 + 0.2, 1e-12, 123456.789, 0, null, Number.MIN_VALUE, 2 ** 53 + 2];
    for (const [i, costUsd] of costs.entries()) {
      await store.saveTask("r", { ...newTaskRecord(`t${i}`), usage: { inputTokens: i, outputTokens: 2 * i, costUsd } }, { type: "task_completed" });
      await store.recordCall("r", { task: `t${i}`, position: 0, kind: "model", requestHash: "h", response: null, usage: { inputTokens: 1, outputTokens: 1, costUsd }, at: "2026-01-01T00:00:00.000Z" });
    }
    const run = (await store.getRun("r"))!;
    expect(run.tasks.map((t) => t.usage!.costUsd)).toEqual(costs);
    for (const [i, costUsd] of costs.entries()) expect((await store.calls("r", `t${i}`))[0]!.usage!.costUsd).toBe(costUsd);

    const raw = new Database(file);
    try {
      raw.prepare(`UPDATE tasks SET usage = '{"inputTokens":3,"outputTokens":4}' WHERE name = 't1'`).run();
      raw.prepare(`UPDATE calls SET usage = '{"inputTokens":3,"outputTokens":4}' WHERE task = 't1'`).run();
    } finally {
      raw.close();
    }
    expect((await store.getRun("r"))!.tasks[1]!.usage).toEqual({ inputTokens: 3, outputTokens: 4, costUsd: null });
    expect((await store.calls("r", "t1"))[0]!.usage).toEqual({ inputTokens: 3, outputTokens: 4, costUsd: null });
  });
});
