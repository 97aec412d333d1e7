/**
 * What only the Redis store has to get right: its key layout and schema version key, a claim's
 * script and a commit chain's replayed, and its key prefix. What it shares with the PostgreSQL store as a store on a
 * server — concurrency, leases, CLIENT KILL, lost replies, outages, hostile names — is in
 * `server-store.ts`; what every store shares is in the conformance suite (`redis.test.ts`).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { REDIS_SCHEMA_VERSION, RedisStore } from "../../src/stores/redis/store.js";
import { newTaskRecord, type Lease, type NextClaim, type TaskRecord } from "../../src/stores/store.js";
import { freshName, REDIS_URL, redisService, startTcpProxy, viaPort, withParam } from "../services.js";
import { completed, describeServerStore } from "./server-store.js";

const service = await redisService();

describe.skipIf(!service.available)("RedisStore", () => {
  let admin: Redis;
  const prefixes: string[] = [];
  const opened: RedisStore[] = [];

  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
    for (const prefix of prefixes) await deleteKeys(prefix);
    admin.disconnect();
  });

  async function keysOf(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    return keys.sort();
  }

  async function deleteKeys(prefix: string): Promise<void> {
    const keys = await keysOf(prefix);
    if (keys.length > 0) await admin.del(...keys);
  }

  /** Every key under `prefix` with its serialized value, to compare before and after. */
  async function snapshot(prefix: string): Promise<Record<string, string | null>> {
    const result: Record<string, string | null> = {};
    for (const key of await keysOf(prefix)) {
      if (key.includes(":op:")) continue; // idempotency keys expire on their own
      result[key] = (await admin.dumpBuffer(key))?.toString("base64") ?? null;
    }
    return result;
  }

  /** A URL naming a key prefix of its own (deleted after the file). */
  function freshUrl(params: Record<string, string> = {}, base = REDIS_URL): { url: string; prefix: string } {
    const prefix = `${freshName("redis")}:`;
    prefixes.push(prefix);
    let url = withParam(base, "prefix", prefix);
    for (const [key, value] of Object.entries(params)) url = withParam(url, key, value);
    return { url, prefix };
  }

  async function open(url: string): Promise<RedisStore> {
    const store = await RedisStore.open(url);
    opened.push(store);
    return store;
  }

  describe("keys and schema version", () => {
    it("keeps everything under the prefix from the URL and records the schema version", async () => {
      const { url, prefix } = freshUrl();
      const store = await open(url);
      expect(await admin.get(`${prefix}version`)).toBe(String(REDIS_SCHEMA_VERSION));
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await store.saveTask("r", completed("t"), { type: "task_completed" });
      await store.recordCall("r", { task: "t", position: 0, kind: "model", requestHash: "h", response: 1, usage: null, at: "2026-01-01T00:00:00.000Z" });
      const keys = (await keysOf(prefix)).filter((key) => !key.startsWith(`${prefix}op:`));
      expect(keys).toEqual(
        ["run:r", "run:r:calls:t", "run:r:completed", "run:r:events", "run:r:journals", "run:r:leases", "run:r:order", "run:r:tasks", "runs", "version"].map(
          (key) => prefix + key,
        ),
      );
      expect(await admin.ttl((await keysOf(`${prefix}op:`))[0]!)).toBeGreaterThan(0);
    });

    it("uses the crewstate: prefix when the URL names none", async () => {
      const store = await RedisStore.open(REDIS_URL);
      try {
        expect(store.prefix).toBe("crewstate:");
      } finally {
        await store.close();
      }
    });

    it("refuses a schema version newer than the code, naming both, and writes nothing", async () => {
      const { url, prefix } = freshUrl();
      const store = await RedisStore.open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await store.saveTask("r", completed("t"), { type: "task_completed" });
      await store.close();
      const newer = REDIS_SCHEMA_VERSION + 1;
      await admin.set(`${prefix}version`, String(newer));
      const before = await snapshot(prefix);
      const error = await RedisStore.open(url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCrewstateError(error, "UNSUPPORTED_SCHEMA_VERSION")).toBe(true);
      expect((error as Error).message).toContain(`"${prefix}"`);
      expect((error as Error).message).toContain(`version ${newer}`);
      expect((error as Error).message).toContain(`version ${REDIS_SCHEMA_VERSION}`);
      expect(await snapshot(prefix)).toEqual(before);
    });

    it("lets concurrent opens of a fresh prefix all succeed, recording the version once", async () => {
      const { url, prefix } = freshUrl();
      const stores = await Promise.all(Array.from({ length: 6 }, () => open(url)));
      expect(await keysOf(prefix)).toEqual([`${prefix}version`]);
      await stores[0]!.beginRun({ runId: "r", crew: "c", inputs: {} });
      expect((await stores[5]!.getRun("r"))?.crew).toBe("c");
    });

    it("opens an existing prefix again without changing it", async () => {
      const { url, prefix } = freshUrl();
      const store = await RedisStore.open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      await store.close();
      const before = await snapshot(prefix);
      await Promise.all([open(url), open(url), open(url)]);
      expect(await snapshot(prefix)).toEqual(before);
    });
  });

  describe("leases", () => {
    it("replays a claim as the lease it granted while that lease stands, and as a new claim once another claim replaced it", async () => {
      const { url, prefix } = freshUrl();
      const [store, other] = [await open(url), await open(url)];
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const spy = vi.spyOn(Redis.prototype, "sendCommand");
      let sent: { name: string; args: (string | number)[] };
      try {
        await store.claimTask("r", "t", "worker-a", 30_000);
        sent = spy.mock.calls.map(([command]) => command as unknown as { name: string; args: (string | number)[] }).find((c) => c.name.startsWith("eval"))!;
      } finally {
        spy.mockRestore();
      }
      // The very script call again, op key and all: what a retry after a lost reply sends.
      const replay = () => admin.call(sent.name, ...sent.args);
      const task = (await store.getRun("r"))!.tasks[0]!;
      expect(await replay()).toEqual(["granted", "1", task.leaseExpiresAt]);
      expect((await store.getRun("r"))!.tasks[0]).toEqual(task);

      await other.claimTask("r", "t", "worker-b", 30_000, { takeOverFrom: "worker-a" });
      expect(await replay()).toEqual(["held"]);
      expect((await store.getRun("r"))!.tasks[0]).toMatchObject({ worker: "worker-b", fencingToken: 2 });
      expect((await admin.hget(`${prefix}run:r:leases`, "t"))?.split("\n")[0]).toBe("2");
    });
  });

  describe("commit chain", () => {
    const started = (name: string): TaskRecord => ({ ...newTaskRecord(name), status: "running", inputHash: "h".repeat(64), startedAt: "2026-01-01T00:00:00.000Z", attempts: 1 });
    const next = (task: string, seenToken = 0): NextClaim => ({ task, worker: "worker-a", ttlMs: 30_000, seenToken, start: { task: started(task), event: { type: "task_started" } } });

    it("replays a commit with a next claim as the lease it granted, changing nothing; once another claim replaced that lease, as done", async () => {
      const { url, prefix } = freshUrl();
      const [store, other] = [await open(url), await open(url)];
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const spy = vi.spyOn(Redis.prototype, "sendCommand");
      let sent: { name: string; args: (string | number)[] };
      let lease: Lease | undefined;
      try {
        lease = await store.saveTask("r", completed("a"), { type: "task_completed" }, { next: next("b") });
        sent = spy.mock.calls.map(([command]) => command as unknown as { name: string; args: (string | number)[] }).find((c) => c.name.startsWith("eval"))!;
      } finally {
        spy.mockRestore();
      }
      expect(lease).toMatchObject({ task: "b", worker: "worker-a", token: 1 });
      // The very script call again, op key and all: what a retry after a lost reply sends.
      const replay = () => admin.call(sent.name, ...sent.args);
      const before = await snapshot(prefix);
      expect(await replay()).toEqual(["granted", "1", lease!.expiresAt]);
      expect(await snapshot(prefix)).toEqual(before);

      await other.claimTask("r", "b", "worker-b", 30_000, { takeOverFrom: "worker-a" });
      const taken = await snapshot(prefix);
      expect(await replay()).toEqual(["done"]);
      expect(await snapshot(prefix)).toEqual(taken);
      expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "task_started"]);
    });

    it("answers a chain commit, a reuse and a planned begin retried after a lost reply as done once, with the lease the commit granted", async () => {
      const proxy = await startTcpProxy(REDIS_URL);
      try {
        const store = await open(freshUrl({}, viaPort(REDIS_URL, proxy.port)).url);
        const cut = async <T>(write: () => Promise<T>): Promise<T> => {
          const happened = proxy.cutNextReply();
          const result = await write();
          await happened;
          return result;
        };
        await cut(() => store.beginRun({ runId: "r", crew: "c", inputs: {}, planned: { tasks: ["a", "b"] } }));
        const lease = await cut(() => store.saveTask("r", completed("a"), { type: "task_completed" }, { next: next("b") }));
        expect(lease).toMatchObject({ task: "b", worker: "worker-a", token: 1 });
        expect((await store.getRun("r"))!.tasks[1]).toMatchObject({ status: "running", fencingToken: 1, leaseExpiresAt: lease!.expiresAt });
        const end = { status: "completed" as const, error: null, event: { type: "run_completed" as const } };
        await cut(() => store.saveTask("r", { ...completed("b"), fencingToken: 1 }, { type: "task_completed" }, { fencingToken: 1, endRun: end }));
        await cut(() => store.reuseTasks("r", [{ record: completed("a"), fencingToken: 0 }], { type: "tasks_reused", data: { tasks: ["a"] } }, { endRun: end }));
        expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "run_planned", "task_completed", "task_started", "task_completed", "run_completed", "tasks_reused", "run_completed"]);
        expect((await store.getRun("r"))!.status).toBe("completed");
      } finally {
        await proxy.close();
      }
    });
  });

  describe("hostile names", () => {
    it("refuses a prefix with control characters", async () => {
      await expect(RedisStore.open(withParam(REDIS_URL, "prefix", "a\nb"))).rejects.toMatchObject({ code: "UNKNOWN_STORE" });
    });
  });

  describeServerStore({
    name: "Redis",
    serverUrl: REDIS_URL,
    freshUrl: (base) => {
      const { url, prefix } = freshUrl({}, base);
      return { url, scope: prefix };
    },
    open,
    killable: () => {
      const name = freshName("conn");
      const kill = async () => {
        const ids = ((await admin.client("LIST")) as string)
          .split("\n")
          .filter((line) => line.includes(` name=${name} `))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!);
        for (const id of ids) await admin.client("KILL", "ID", id);
        return ids.length;
      };
      return { url: freshUrl({ connectionName: name }).url, kill };
    },
    kills: { one: "CLIENT KILL", many: "CLIENT KILLs" },
    // TIME, truncated as the scripts truncate it.
    serverNow: async () => {
      const [seconds, micros] = await admin.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    },
    snapshot,
    expectLeaseStored: async (prefix, lease) => expect(await admin.hget(`${prefix}run:r:leases`, "t")).toBe(`${lease.token}\n"${lease.expiresAt}"\n"${lease.worker}"`),
    expectLayoutIntact: async (prefix) => expect(await admin.get(`${prefix}version`)).toBe(String(REDIS_SCHEMA_VERSION)),
    unreachable: { urls: ["redis://crew:s3cret-pw@127.0.0.1:1", "redis://:s3cret-pw@127.0.0.1:1/2?prefix=x:"], shownAs: ":***@127.0.0.1:1" },
    reconnectsLater: true,
  });
});
