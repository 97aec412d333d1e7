/**
 * What only the Redis store has to get right: its key layout and schema version key, atomic
 * scripts under concurrency, reconnecting after CLIENT KILL or an outage, and a lost reply. The
 * shared behaviour is in the conformance suite (`redis.test.ts`).
 */
import { Redis } from "ioredis";
import { APICallError } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { openStore } from "../../src/stores/open.js";
import { REDIS_SCHEMA_VERSION, RedisStore } from "../../src/stores/redis-store.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { newTaskRecord, type Store, type TaskRecord } from "../../src/stores/store.js";
import { runCli } from "../support/cli.js";
import { freshName, REDIS_URL, redisService, startTcpProxy, viaPort, withParam } from "../services.js";

const service = await redisService();

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

  const completed = (name: string, output = `output of ${name}`): TaskRecord => ({
    ...newTaskRecord(name),
    status: "completed",
    output,
    inputHash: "i".repeat(64),
    outputHash: "o".repeat(64),
    attempts: 1,
  });

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
        ["run:r", "run:r:calls:t", "run:r:completed", "run:r:events", "run:r:journals", "run:r:order", "run:r:tasks", "run:r:tokens", "runs", "version"].map(
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

  describe("atomic scripts", () => {
    it("lets exactly one of concurrent claims carrying the same token win", async () => {
      const { url } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (const [from, to] of [
        [0, 1],
        [1, 2],
      ] as const) {
        const outcomes = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? a : b).saveTask("r", { ...newTaskRecord("t"), status: "running", worker: `w${i}`, fencingToken: to }, { type: "task_started" }, { fencingToken: from }),
          ),
        );
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "FENCED_OUT" });
      }
      expect((await a.getRun("r"))?.tasks[0]?.fencingToken).toBe(2);
      expect((await b.events("r")).filter((e) => e.type === "task_started")).toHaveLength(2);
    });

    it("keeps every commit when two stores write different tasks of one run at once", async () => {
      const { url } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).saveTask("r", completed(`t${i}`), { type: "task_completed" })));
      const run = await b.getRun("r");
      expect(new Set(run?.tasks.map((t) => t.name)).size).toBe(60);
      expect((await a.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
      expect((await a.listRuns())[0]).toMatchObject({ runId: "r", taskCount: 60, completedCount: 60 });
    });

    it("keeps the order tasks were first recorded in, through updates, removals and imports", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (const name of ["zeta", "alpha", "mid", "beta"]) await store.saveTask("r", { ...newTaskRecord(name), status: "running" }, { type: "task_started" });
      await store.saveTask("r", completed("alpha"), { type: "task_completed" });
      await store.removeTask("r", "mid", { type: "task_invalidated" });
      await store.saveTask("r", completed("mid"), { type: "task_completed" });
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["zeta", "alpha", "beta", "mid"]);
      const dump = (await store.exportRun("r"))!;
      await store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } });
      await store.saveTask("copy", completed("last"), { type: "task_completed" });
      expect((await store.getRun("copy"))?.tasks.map((t) => t.name)).toEqual(["zeta", "alpha", "beta", "mid", "last"]);
    });
  });

  describe("faults", () => {
    it("reconnects after CLIENT KILL between commits and loses nothing", async () => {
      const name = freshName("conn");
      const { url } = freshUrl({ connectionName: name });
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (let i = 0; i < 10; i++) {
        await store.saveTask("r", completed(`t${i}`), { type: "task_completed" });
        const ids = ((await admin.client("LIST")) as string)
          .split("\n")
          .filter((line) => line.includes(` name=${name} `))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!);
        expect(ids.length).toBeGreaterThan(0);
        for (const id of ids) await admin.client("KILL", "ID", id);
      }
      await store.saveTask("r", completed("after"), { type: "task_completed" });
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual([...Array.from({ length: 10 }, (_, i) => `t${i}`), "after"]);
      expect((await store.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    });

    it("runs a crew through CLIENT KILLs: nothing committed lost, no committed task run twice", async () => {
      const name = freshName("conn");
      const { url } = freshUrl({ connectionName: name });
      const store = await open(url);
      const kill = async () => {
        const ids = ((await admin.client("LIST")) as string)
          .split("\n")
          .filter((line) => line.includes(` name=${name} `))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!);
        for (const id of ids) await admin.client("KILL", "ID", id);
        return ids.length;
      };
      expectCrewSurvived(await crewThroughFaults(store, kill));
    });

    it("treats a write whose reply was lost as done: retried once, recorded once", async () => {
      const proxy = await startTcpProxy(REDIS_URL);
      try {
        const { url } = freshUrl({}, viaPort(REDIS_URL, proxy.port));
        const store = await open(url);
        const cut = async <T>(write: () => Promise<T>): Promise<T> => {
          const happened = proxy.cutNextReply();
          const result = await write();
          await happened;
          return result;
        };
        expect((await cut(() => store.beginRun({ runId: "r", crew: "c", inputs: {} }))).attempts).toBe(1);
        await cut(() => store.saveTask("r", completed("t"), { type: "task_completed" }));
        await cut(() => store.setRunStatus("r", "paused", null, { type: "run_paused" }));
        expect(await cut(() => store.removeTask("r", "t", { type: "task_invalidated" }))).toBe(true);
        const dump = (await store.exportRun("r"))!;
        await cut(() => store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } }));
        const events = await store.events("r");
        expect(events.map((e) => e.type)).toEqual(["run_started", "task_completed", "run_paused", "task_invalidated"]);
        expect(await store.exportRun("copy")).toEqual({ ...dump, run: { ...dump.run, runId: "copy" }, events: dump.events.map((e) => ({ ...e, runId: "copy" })) });
      } finally {
        await proxy.close();
      }
    });

    it("reports an outage as STORE_UNAVAILABLE quickly, then works again when the server is back", async () => {
      const proxy = await startTcpProxy(REDIS_URL);
      try {
        const { url } = freshUrl({}, viaPort(REDIS_URL, proxy.port));
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
        await expect.poll(() => store.saveTask("r", completed("after"), { type: "task_completed" }).then(() => true, () => false), { timeout: 5_000 }).toBe(true);
        expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["before", "after"]);
      } finally {
        await proxy.close();
      }
    });

    it("makes the CLI report an unreachable server in one line naming the store, without a stack or the password", async () => {
      const result = await runCli(["runs", "--store", "redis://crew:s3cret-pw@127.0.0.1:1"]);
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/Redis store .*crew:\*\*\*@127\.0\.0\.1:1.* is unavailable/);
      expect(result.stderr).not.toContain("s3cret");
    });

    it("reports an unreachable server in one line, within seconds, without the password", async () => {
      for (const url of ["redis://crew:s3cret-pw@127.0.0.1:1", "redis://:s3cret-pw@127.0.0.1:1/2?prefix=x:"]) {
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
        expect(message).toContain(":***@127.0.0.1:1");
      }
    });
  });

  describe("hostile names", () => {
    const names = ["'; DROP TABLE runs; --", "$1", "*", "{tag}", "a\\b", "run:x:tasks", "calls:*", "[a-z]?", "ünïcödé 🦀", "%s"];

    it("round-trips names that look like key patterns or commands, never interpreting them", async () => {
      const { url, prefix } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "FLUSHALL *", inputs: { "*": "{tag}", "$1": "'; DROP" } });
      for (const name of names) {
        await store.saveTask("r", completed(name, name), { type: "task_completed", data: { name } });
        await store.recordCall("r", { task: name, position: 0, kind: "tool", requestHash: name, response: name, usage: null, at: "2026-01-01T00:00:00.000Z" });
      }
      const run = await store.getRun("r");
      expect(run?.crew).toBe("FLUSHALL *");
      expect(run?.inputs).toEqual({ "*": "{tag}", "$1": "'; DROP" });
      expect(run?.tasks.map((t) => [t.name, t.output])).toEqual(names.map((n) => [n, n]));
      for (const name of names) expect((await store.calls("r", name)).map((c) => c.response)).toEqual([name]);
      expect(await store.removeTask("r", "*", { type: "task_invalidated" })).toBe(true);
      expect(await store.calls("r", "calls:*")).toHaveLength(1);
      expect((await store.getRun("r"))?.tasks).toHaveLength(names.length - 1);
      expect(await admin.get(`${prefix}version`)).toBe(String(REDIS_SCHEMA_VERSION));
    });

    it("refuses a prefix with control characters", async () => {
      await expect(RedisStore.open(withParam(REDIS_URL, "prefix", "a\nb"))).rejects.toMatchObject({ code: "UNKNOWN_STORE" });
    });
  });
});
