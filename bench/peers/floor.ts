/**
 * The physical floor: what one durable step costs at the least on this machine, with no
 * framework at all. Each sample performs `min(N, FLOOR_OPS)` operations on fresh state and
 * reports the time per operation, which does not depend on N.
 *
 * - `floor:fsync`: append 1 KiB to a file, then fsync it.
 * - `floor:sqlite-normal` / `floor:sqlite-full`: one autocommitted INSERT of a 1 KiB row
 *   (better-sqlite3, WAL, synchronous=NORMAL — no fsync per commit — or FULL — fsync of the WAL).
 * - `floor:postgres`: one autocommitted INSERT of a 1 KiB row over `pg` (the server fsyncs its WAL).
 * - `floor:redis`: one SET of a 1 KiB value over `ioredis`, a round trip (the bench's Redis keeps
 *   no AOF, so nothing reaches the disk).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Redis } from "ioredis";
import type pg from "pg";
import { dirBytes } from "../targets.js";
import { schemaBytes } from "./langgraph.js";
import { elapsedSince, type Sample, type System } from "./system.js";
import { OUTPUT_BYTES, stepOutput } from "./workload.js";

export const FLOOR_OPS = 200;

const payload = stepOutput(0, "floor");
const opsFor = (n: number) => Math.min(n, FLOOR_OPS);

function timeOps(ops: number, op: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) op(i);
  return elapsedSince(start);
}

async function timeOpsAsync(ops: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await op(i);
  return elapsedSince(start);
}

export function floorSystems(scratch: string, pgAdmin: pg.Client | undefined, redis: Redis | undefined): System[] {
  const family = "floor" as const;
  const dirOf = (id: string, tag: string) => path.join(scratch, id.replace(":", "-"), tag);
  const fileFloor = (): System => ({
    id: "floor:fsync",
    label: "1 KiB write + fsync",
    family,
    durability: "power loss",
    async run(n, tag) {
      const dir = dirOf("floor:fsync", tag);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "floor.bin");
      const fd = openSync(file, "a");
      const buffer = Buffer.from(payload);
      let ms: number;
      try {
        ms = timeOps(opsFor(n), () => {
          writeSync(fd, buffer);
          fsyncSync(fd);
        });
      } finally {
        closeSync(fd);
      }
      const bytes = statSync(file).size;
      rmSync(dir, { recursive: true, force: true });
      return { ms, steps: opsFor(n), bytes };
    },
    async close() {},
  });
  const sqliteFloor = (synchronous: "normal" | "full"): System => {
    const id = `floor:sqlite-${synchronous}`;
    return {
      id,
      label: `SQLite commit (WAL, synchronous=${synchronous.toUpperCase()})`,
      family,
      durability: synchronous === "full" ? "power loss" : "process crash",
      async run(n, tag) {
        const dir = dirOf(id, tag);
        mkdirSync(dir, { recursive: true });
        const db = new Database(path.join(dir, "floor.db"));
        let ms: number;
        try {
          db.pragma("journal_mode = WAL");
          db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
          db.exec("CREATE TABLE floor (id INTEGER PRIMARY KEY, value TEXT NOT NULL)");
          const insert = db.prepare("INSERT INTO floor (value) VALUES (?)");
          ms = timeOps(opsFor(n), () => insert.run(payload));
        } finally {
          db.close();
        }
        const bytes = dirBytes(dir);
        rmSync(dir, { recursive: true, force: true });
        return { ms, steps: opsFor(n), bytes };
      },
      async close() {},
    };
  };
  const systems: System[] = [fileFloor(), sqliteFloor("normal"), sqliteFloor("full")];
  if (pgAdmin) {
    const schema = `floor_bench_${process.pid}`;
    systems.push({
      id: "floor:postgres",
      label: "PostgreSQL commit (1 KiB INSERT)",
      family,
      durability: "server crash",
      async run(n) {
        await pgAdmin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pgAdmin.query(`CREATE SCHEMA "${schema}"`);
        await pgAdmin.query(`CREATE TABLE "${schema}".floor (id bigserial PRIMARY KEY, value text NOT NULL)`);
        const sql = `INSERT INTO "${schema}".floor (value) VALUES ($1)`;
        const ms = await timeOpsAsync(opsFor(n), () => pgAdmin.query(sql, [payload]));
        const sample: Sample = { ms, steps: opsFor(n), bytes: await schemaBytes(pgAdmin, schema) };
        await pgAdmin.query(`DROP SCHEMA "${schema}" CASCADE`);
        return sample;
      },
      async close() {
        await pgAdmin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    });
  }
  if (redis) {
    const prefix = `floor:${process.pid}:`;
    systems.push({
      id: "floor:redis",
      label: "Redis round trip (1 KiB SET)",
      family,
      durability: "— (no AOF here)",
      async run(n) {
        const ops = opsFor(n);
        const ms = await timeOpsAsync(ops, (i) => redis.set(`${prefix}${i}`, payload));
        let bytes = 0;
        for (let i = 0; i < ops; i++) bytes += Number((await redis.call("MEMORY", "USAGE", `${prefix}${i}`)) ?? 0);
        await redis.del(...Array.from({ length: ops }, (_, i) => `${prefix}${i}`));
        return { ms, steps: ops, bytes };
      },
      async close() {},
    });
  }
  if (payload.length !== OUTPUT_BYTES) throw new Error("floor payload is not 1 KiB");
  return systems;
}
