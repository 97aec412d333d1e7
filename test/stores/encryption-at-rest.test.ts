/**
 * Encryption at rest, scanned at the bytes: a crew run with a key plants a canary in an input, a
 * model answer and a tool result; afterwards no store's raw bytes — the SQLite files with WAL and
 * journal, the JSON store's files, every text of every table in the PostgreSQL schema, every
 * Redis value under the prefix, the in-process stores' state — nor the debug log hold any of them.
 * The same run without a key leaves all three in the bytes (the scan can see them).
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { Redis } from "ioredis";
import pg from "pg";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { MapStore } from "../../examples/custom-store/map-store.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { BaseStore } from "../../src/stores/base-store.js";
import { MemoryStore } from "../../src/stores/memory/store.js";
import { openStore } from "../../src/stores/open.js";
import type { EncryptionOptions } from "../../src/stores/seal.js";
import type { Store } from "../../src/stores/store.js";
import { freshName, PG_URL, postgresService, REDIS_URL, redisService, withParam } from "../services.js";

const pgService = await postgresService();
const redisSvc = await redisService();
const KEY: EncryptionOptions = { key: Buffer.alloc(32, 5).toString("base64"), keyId: "scan" };
const CANARIES = { input: "canary-input-91c2", answer: "canary-answer-4d7e", tool: "canary-tool-a03f" };

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };

/** Fails once quoting the input (a failed attempt is logged), calls `lookup` once, then answers with the answer canary. */
function model(): MockLanguageModelV3 {
  let calls = 0;
  return new MockLanguageModelV3({
    doGenerate: async (options): Promise<LanguageModelV3GenerateResult> => {
      if (calls++ === 0) throw Object.assign(new Error(`the model choked on ${CANARIES.input}`), { code: "ECONNRESET" });
      if (!options.prompt.some((m) => m.role === "tool")) {
        return { content: [{ type: "tool-call", toolCallId: "c1", toolName: "lookup", input: JSON.stringify({ id: "P-1" }) }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage, warnings: [] };
      }
      return { content: [{ type: "text", text: `covered: ${CANARIES.answer}` }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] };
    },
  });
}

/** Runs a two-task crew on `store` with a debug logger; returns what was logged. */
async function runCrew(store: Store): Promise<string> {
  const lookup = tool({ description: "Look a policy up", inputSchema: z.object({ id: z.string() }), execute: async ({ id }) => ({ id, note: CANARIES.tool }) });
  const agent = new Agent({ role: "Adjuster", goal: "Check cover", backstory: "Careful.", model: model(), tools: { lookup } });
  const check = new Task({ name: "check", description: "Check the claim: {notes}", expectedOutput: "A verdict.", agent });
  const write = new Task({ name: "write", description: "Write it up.", expectedOutput: "A letter.", agent, context: [check] });
  let log = "";
  const logger = pino({ level: "trace" }, new Writable({ write: (chunk, _enc, done) => ((log += String(chunk)), done()) }));
  await new Crew({ name: "scanned", agents: [agent], tasks: [check, write], store }).kickoff({ runId: "scan-1", inputs: { notes: `notes ${CANARIES.input}` }, logger, retryDelayMs: 1 });
  const run = await store.getRun("scan-1");
  expect(run?.status).toBe("completed");
  expect(run?.inputs.notes).toBe(`notes ${CANARIES.input}`);
  expect(run?.tasks[0]?.output).toContain(CANARIES.answer);
  expect(JSON.stringify(await store.calls("scan-1", "check"))).toContain(CANARIES.tool);
  return log;
}

function files(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString("utf8"))
    .join("\n");
}

/** Everything the process-held stores keep, Maps and all. */
function heldState(store: Store): string {
  const holder = store as unknown as { image?: unknown; runs?: unknown };
  return JSON.stringify(holder.image ?? holder.runs, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v instanceof Set ? [...v] : v));
}

interface Subject {
  name: string;
  skip?: boolean;
  /** Opens a fresh store; `raw` reads every byte of its state (after the store is closed); `cleanup` removes it. */
  make(): Promise<{ store: Store; raw(): Promise<string>; cleanup(): Promise<void> }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

const SUBJECTS: Subject[] = [
  {
    name: "memory",
    make: async () => {
      const store = new MemoryStore();
      return { store, raw: async () => heldState(store), cleanup: async () => {} };
    },
  },
  {
    name: "map (example)",
    make: async () => {
      const store = new MapStore();
      return { store, raw: async () => heldState(store), cleanup: async () => {} };
    },
  },
  {
    name: "sqlite",
    make: async () => {
      const dir = mkdtempSync(join(tmpdir(), "crewstate-scan-sqlite-"));
      const store = await openStore(`sqlite:${join(dir, "state.db")}`);
      return { store, raw: async () => files(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "json",
    make: async () => {
      const dir = mkdtempSync(join(tmpdir(), "crewstate-scan-json-"));
      const store = await openStore(`json:${join(dir, "state.json")}`);
      return { store, raw: async () => files(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "postgres",
    skip: !pgService.available,
    make: async () => {
      const schema = freshName("pgscan");
      const store = await openStore(withParam(PG_URL, "schema", schema));
      const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          return await work(client);
        } finally {
          await client.end();
        }
      };
      return {
        store,
        raw: () =>
          admin(async (client) => {
            const tables = await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [schema]);
            expect(tables.rows.length).toBeGreaterThan(0);
            let text = "";
            for (const { table_name } of tables.rows) {
              const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${table_name}" t`);
              text += rows.rows.map((r) => r.row).join("\n");
            }
            return text;
          }),
        cleanup: () => admin(async (client) => void (await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))),
      };
    },
  },
  {
    name: "redis",
    skip: !redisSvc.available,
    make: async () => {
      const prefix = `${freshName("redisscan")}:`;
      const store = await openStore(withParam(REDIS_URL, "prefix", prefix));
      const keysOf = async (client: Redis) => {
        const keys: string[] = [];
        let cursor = "0";
        do {
          const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
          keys.push(...batch);
          cursor = next;
        } while (cursor !== "0");
        return keys;
      };
      const admin = async <T>(work: (client: Redis) => Promise<T>): Promise<T> => {
        const client = new Redis(REDIS_URL);
        try {
          return await work(client);
        } finally {
          client.disconnect();
        }
      };
      return {
        store,
        raw: () =>
          admin(async (client) => {
            let text = "";
            const keys = await keysOf(client);
            expect(keys.length).toBeGreaterThan(0);
            for (const key of keys) {
              const type = await client.type(key);
              const value =
                type === "string" ? await client.get(key)
                : type === "hash" ? await client.hgetall(key)
                : type === "list" ? await client.lrange(key, 0, -1)
                : type === "set" ? await client.smembers(key)
                : type === "zset" ? await client.zrange(key, 0, -1, "WITHSCORES")
                : type === "stream" ? await client.xrange(key, "-", "+")
                : `(unscanned type ${type})`;
              text += `${key} ${JSON.stringify(value)}\n`;
            }
            expect(text).not.toContain("(unscanned type");
            return text;
          }),
        cleanup: () => admin(async (client) => {
          const keys = await keysOf(client);
          if (keys.length > 0) await client.del(...keys);
        }),
      };
    },
  },
];

for (const subject of SUBJECTS) {
  describe.skipIf(subject.skip === true)(`encryption at rest, raw bytes: ${subject.name}`, () => {
    it("with a key, no canary in the store's bytes or the debug log", async () => {
      const { store, raw, cleanup } = await subject.make();
      cleanups.push(cleanup);
      (store as BaseStore).useEncryption(KEY);
      const log = await runCrew(store);
      // While open (the SQLite WAL, the JSON journal not yet compacted) and after closing.
      const open = await raw();
      await store.close();
      const bytes = `${open}\n${await raw()}`;
      expect(bytes).toContain("cs1:scan:");
      for (const canary of Object.values(CANARIES)) {
        expect(bytes, `${canary} in the bytes`).not.toContain(canary);
        expect(log, `${canary} in the log`).not.toContain(canary);
      }
      expect(log).toContain('"runId":"scan-1"');
    });

    it("without a key (negative control), every canary is in the bytes", async () => {
      const { store, raw, cleanup } = await subject.make();
      cleanups.push(cleanup);
      const log = await runCrew(store);
      const open = await raw();
      await store.close();
      const bytes = `${open}\n${await raw()}`;
      for (const canary of Object.values(CANARIES)) expect(bytes, canary).toContain(canary);
      // The failed attempt's error, quoting the input, is logged when nothing is sealed.
      expect(log).toContain(CANARIES.input);
      expect(bytes).not.toContain("cs1:");
    });
  });
}
