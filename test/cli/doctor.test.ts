/**
 * `crewstate doctor` through the real binary: exit 0 on a healthy store of each kind, one line per
 * finding and a non-zero exit on damage — including a SQLite WAL that SQLite would open without a word.
 */
import { copyFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { outputHashOf } from "../../src/hash.js";
import { SqliteStore } from "../../src/stores/sqlite/store.js";
import { newTaskRecord } from "../../src/stores/store.js";
import { assertBuilt, linesOf, testWorkspace, type Workspace } from "../support/cli.js";
import { freshName, PG_URL, postgresService, REDIS_URL, redisService, withParam } from "../services.js";
import { TWO_STEP } from "./crews.js";

const [postgres, redis] = await Promise.all([postgresService(), redisService()]);
const NOTES = "notes=Policy PN-7. Hail on the roof.";

beforeAll(() => assertBuilt());

/** Runs the two-step crew into `store` with the demo model; returns the workspace. */
async function ranInto(ws: Workspace, store: string): Promise<void> {
  const crew = ws.write("crew.ts", TWO_STEP);
  const run = await ws.run(["run", crew, "--run-id", "r1", "--input", NOTES, "--store", store, "--model", "demo"]);
  expect(run.code, run.stderr).toBe(0);
}

describe("crewstate doctor on a healthy store exits 0", () => {
  const kinds: [string, boolean, (ws: Workspace) => Promise<{ url: string; cleanup?: () => Promise<void> }>][] = [
    ["sqlite", true, async (ws) => ({ url: `sqlite:${ws.path("state.db")}` })],
    ["json", true, async (ws) => ({ url: `json:${ws.path("state.json")}` })],
    [
      "postgres",
      postgres.available,
      async () => {
        const schema = freshName("doctor");
        const admin = async () => {
          const client = new pg.Client(PG_URL);
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
        };
        return { url: withParam(PG_URL, "schema", schema), cleanup: admin };
      },
    ],
    [
      "redis",
      redis.available,
      async () => {
        const prefix = `${freshName("doctor")}:`;
        const cleanup = async () => {
          const client = new Redis(REDIS_URL);
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          client.disconnect();
        };
        return { url: withParam(REDIS_URL, "prefix", prefix), cleanup };
      },
    ],
  ];
  for (const [name, available, make] of kinds) {
    it.skipIf(!available)(`${name}: one line saying healthy, and healthy: true in --json`, async (context) => {
      const ws = testWorkspace(context);
      const { url, cleanup } = await make(ws);
      try {
        await ranInto(ws, url);
        const plain = await ws.run(["doctor", "--store", url]);
        expect(plain.code, plain.stderr).toBe(0);
        expect(linesOf(plain.stdout)).toEqual([expect.stringMatching(/: healthy \(1 run\(s\), 2 task record\(s\), \d+ event\(s\) checked\)$/)]);
        const json = await ws.run(["doctor", "--store", url, "--run", "r1", "--json"]);
        expect(json.code, json.stderr).toBe(0);
        expect(JSON.parse(json.stdout)).toMatchObject({ healthy: true, runs: 1, tasks: 2, findings: [] });
      } finally {
        await cleanup?.();
      }
    });
  }

  it("memory: healthy with nothing in it", async (context) => {
    const ws = testWorkspace(context);
    const result = await ws.run(["doctor", "--store", "memory:"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("memory:: healthy (0 run(s), 0 task record(s), 0 event(s) checked)\n");
  });
});

describe("crewstate doctor on a damaged store", () => {
  it("names the run and task whose stored output was changed behind the store's back, and exits 1", async (context) => {
    const ws = testWorkspace(context);
    const url = `sqlite:${ws.path("state.db")}`;
    await ranInto(ws, url);
    const db = new Database(ws.path("state.db"));
    db.prepare("UPDATE tasks SET output = ? WHERE name = 'analyze_task'").run(JSON.stringify("forged"));
    db.close();
    const before = readFileSync(ws.path("state.db"));
    const result = await ws.run(["doctor", "--store", url]);
    expect(result.code).toBe(1);
    expect(linesOf(result.stdout)).toEqual([expect.stringMatching(/the stored output of task "analyze_task" in run "r1" does not match its output hash/)]);
    expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^crewstate: doctor found 1 problem\(s\) in sqlite:/)]);
    expect(readFileSync(ws.path("state.db")).equals(before)).toBe(true);
  });

  it("finds a gap in the event log and the record whose last commit it lost", async (context) => {
    const ws = testWorkspace(context);
    const url = `sqlite:${ws.path("state.db")}`;
    await ranInto(ws, url);
    const db = new Database(ws.path("state.db"));
    const seq = db.prepare("SELECT seq FROM events WHERE task = 'draft_task' AND type = 'task_completed'").pluck().get() as number;
    db.prepare("DELETE FROM events WHERE seq = ?").run(seq);
    db.close();
    const result = await ws.run(["doctor", "--store", url]);
    expect(result.code).toBe(1);
    const lines = linesOf(result.stdout);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`run "r1": event ${seq} of \\d+ has sequence number ${seq + 1}: the log has a gap`)));
    expect(lines).toContainEqual(expect.stringMatching(/run "r1" task "draft_task": the record is completed, but the last event about it \(\d+\) is task_started: a commit is missing/));
  });

  it("reports a WAL frame SQLite would drop, left by a store that never checkpointed", async (context) => {
    const ws = testWorkspace(context);
    const live = ws.path("live", "state.db");
    const store = await SqliteStore.open(live);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    for (let i = 0; i < 8; i++) {
      const output = `output ${i}`;
      await store.saveTask("r", { ...newTaskRecord(`t${i}`), status: "completed", inputHash: "i", output, outputHash: outputHashOf(output, null) }, { type: "task_completed" });
    }
    const file = ws.path("state.db");
    for (const suffix of ["", "-wal", "-shm"]) copyFileSync(live + suffix, file + suffix);
    await store.close();
    const wal = readFileSync(`${file}-wal`);
    const frames = Math.floor((statSync(`${file}-wal`).size - 32) / 4120);
    wal[32 + (frames - 3) * 4120 + 24 + 7]! ^= 0x01;
    writeFileSync(`${file}-wal`, wal);
    const result = await ws.run(["doctor", "--store", `sqlite:${file}`]);
    expect(result.code).toBe(1);
    expect(linesOf(result.stdout)).toContainEqual(expect.stringMatching(new RegExp(`state\\.db-wal: frame ${frames - 2} of ${frames} fails its checksum`)));
  });
});
