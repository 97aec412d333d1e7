import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";

/** One store under benchmark: how to give each measurement fresh state, and how big the state got. */
export interface StoreTarget {
  name: string;
  /** False for the memory store, whose state does not outlive its handle. */
  persistent: boolean;
  /** A store URL naming fresh, empty state for `tag`. */
  prepare(tag: string): Promise<string>;
  /** The URL `prepare(tag)` returned, without resetting its state (to reopen a finished run). */
  urlOf(tag: string): string;
  /** Frees the state of `tag` once it has been measured. */
  discard(tag: string): Promise<void>;
  /** Bytes the state for `tag` occupies. */
  bytes(tag: string): Promise<number>;
  cleanup(): Promise<void>;
}

export const PG_URL = process.env.CREWSTATE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.CREWSTATE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export async function storeTargets(scratch: string): Promise<StoreTarget[]> {
  /** A store kept in files under `scratch/name/tag/`; `options` is the URL's query (`?synchronous=full`). */
  const fileTarget = (name: string, scheme: string, file: string, options = ""): StoreTarget => {
    const dirOf = (tag: string) => path.join(scratch, name, tag);
    const urlOf = (tag: string) => `${scheme}:${path.join(dirOf(tag), file)}${options}`;
    return {
      name,
      persistent: true,
      async prepare(tag) {
        rmSync(dirOf(tag), { recursive: true, force: true });
        mkdirSync(dirOf(tag), { recursive: true });
        return urlOf(tag);
      },
      urlOf,
      async discard(tag) {
        rmSync(dirOf(tag), { recursive: true, force: true });
      },
      async bytes(tag) {
        return dirBytes(dirOf(tag));
      },
      async cleanup() {},
    };
  };
  const targets: StoreTarget[] = [
    {
      name: "memory",
      persistent: false,
      prepare: async () => "memory:",
      urlOf: () => "memory:",
      discard: async () => {},
      bytes: async () => 0,
      cleanup: async () => {},
    },
    fileTarget("sqlite", "sqlite", "state.db"),
    // Power-loss durability: every commit waits for the WAL's fsync.
    fileTarget("sqlite-full", "sqlite", "state.db", "?synchronous=full"),
    fileTarget("json", "json", "state.json"),
  ];
  const pg = await postgresTarget();
  if (pg) targets.push(pg);
  const redis = await redisTarget();
  if (redis) targets.push(redis);
  return targets;
}

async function postgresTarget(): Promise<StoreTarget | undefined> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
  } catch (error) {
    process.stderr.write(`bench: PostgreSQL at ${PG_URL} not reachable, skipped (${(error as Error).message})\n`);
    return undefined;
  }
  const schemas = new Set<string>();
  const schemaOf = (tag: string) => `bench_${tag.replace(/[^a-z0-9]/gi, "_").toLowerCase()}_${process.pid}`;
  const urlOf = (tag: string) => `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schemaOf(tag)}`;
  return {
    name: "postgres",
    persistent: true,
    async prepare(tag) {
      const schema = schemaOf(tag);
      schemas.add(schema);
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      return urlOf(tag);
    },
    urlOf,
    async discard(tag) {
      await client.query(`DROP SCHEMA IF EXISTS "${schemaOf(tag)}" CASCADE`);
      schemas.delete(schemaOf(tag));
    },
    async bytes(tag) {
      const { rows } = await client.query(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
        [schemaOf(tag)],
      );
      return Number(rows[0].bytes);
    },
    async cleanup() {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

async function redisTarget(): Promise<StoreTarget | undefined> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
  } catch (error) {
    process.stderr.write(`bench: Redis at ${REDIS_URL} not reachable, skipped (${(error as Error).message})\n`);
    redis.disconnect();
    return undefined;
  }
  const prefixOf = (tag: string) => `bench:${process.pid}:${tag}:`;
  const keysOf = async (prefix: string) => {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    return keys;
  };
  const used = new Set<string>();
  const dropKeys = async (prefix: string) => {
    const keys = await keysOf(prefix);
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  };
  const urlOf = (tag: string) => `${REDIS_URL}${REDIS_URL.includes("?") ? "&" : "?"}prefix=${encodeURIComponent(prefixOf(tag))}`;
  return {
    name: "redis",
    persistent: true,
    async prepare(tag) {
      used.add(prefixOf(tag));
      await dropKeys(prefixOf(tag));
      return urlOf(tag);
    },
    urlOf,
    async discard(tag) {
      await dropKeys(prefixOf(tag));
      used.delete(prefixOf(tag));
    },
    async bytes(tag) {
      let total = 0;
      for (const key of await keysOf(prefixOf(tag))) total += Number((await redis.call("MEMORY", "USAGE", key)) ?? 0);
      return total;
    },
    async cleanup() {
      for (const prefix of used) await dropKeys(prefix);
      redis.disconnect();
    },
  };
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(full) : statSync(full).size;
  }
  return total;
}
