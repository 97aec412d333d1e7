/**
 * What only the Redis store has to get right: its key layout and schema version key, atomic
 * scripts under concurrency, reconnecting after CLIENT KILL or an outage, and a lost reply. The
 * shared behaviour is in the conformance suite (`redis.test.ts`).
 */
import { Redis } from "ioredis";
import { APICallError } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { openStore } from "../../src/stores/open.js";
import { REDIS_SCHEMA_VERSION, RedisStore } from "../../src/stores/redis-store.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { newTaskRecord, type ClaimOptions, type Lease, type Store, type TaskRecord } from "../../src/stores/store.js";
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

  describe("leases", () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /** The server's clock (TIME) in ms, truncated as the scripts truncate it. */
    async function serverNow(): Promise<number> {
      const [seconds, micros] = await admin.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    }
    const granted = (leases: (Lease | undefined)[]): Lease[] => leases.filter((lease): lease is Lease => lease !== undefined);

    it("grants exactly one of 16 simultaneous claims through 16 connections: first claims, re-claims and takeovers alike", async () => {
      const { url, prefix } = freshUrl();
      const stores = await Promise.all(Array.from({ length: 16 }, () => open(url)));
      try {
        await stores[0]!.beginRun({ runId: "r", crew: "c", inputs: {} });
        const race = (ttlMs: number, who: (i: number) => boolean = () => true, options?: ClaimOptions) =>
          Promise.all(stores.map((store, i) => (who(i) ? store.claimTask("r", "t", `w${i}`, ttlMs, options) : undefined)));

        const first = granted(await race(300));
        expect(first.map((l) => l.token)).toEqual([1]);
        await sleep(400);
        const second = granted(await race(30_000));
        expect(second.map((l) => l.token)).toEqual([2]);
        const holder = second[0]!.worker;
        const third = granted(await race(30_000, (i) => `w${i}` !== holder, { takeOverFrom: holder }));
        expect(third.map((l) => l.token)).toEqual([3]);

        expect(await admin.hget(`${prefix}run:r:leases`, "t")).toBe(`3\n"${third[0]!.expiresAt}"\n"${third[0]!.worker}"`);
        expect((await stores[5]!.getRun("r"))?.tasks).toEqual([{ ...newTaskRecord("t"), worker: third[0]!.worker, fencingToken: 3, leaseExpiresAt: third[0]!.expiresAt }]);
        expect((await stores[5]!.events("r")).map((e) => e.type)).toEqual(["run_started"]);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    it("judges and stamps lease expiry by the server's clock (TIME), whatever this process's clock says", async () => {
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
      const { url, prefix } = freshUrl();
      const [a, b] = [await open(url), await open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      const old = (await a.claimTask("r", "t", "worker-a", 30_000))!;
      const taken = (await b.claimTask("r", "t", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      expect(taken).toMatchObject({ worker: "worker-b", token: 2 });

      const before = await snapshot(prefix);
      await expect(a.heartbeat(old, 30_000)).rejects.toMatchObject({ code: "FENCED_OUT", context: { runId: "r", task: "t" } });
      const zombie = { ...completed("t", "from a"), worker: "worker-a", fencingToken: old.token };
      await expect(a.saveTask("r", zombie, { type: "task_completed" }, { fencingToken: old.token })).rejects.toMatchObject({ code: "FENCED_OUT" });
      await a.releaseTask(old);
      expect(await snapshot(prefix)).toEqual(before);

      const renewed = await b.heartbeat(taken, 30_000);
      expect(renewed).toMatchObject({ worker: "worker-b", token: 2 });
      const done = { ...completed("t", "from b"), worker: "worker-b", fencingToken: taken.token };
      await b.saveTask("r", done, { type: "task_completed" }, { fencingToken: taken.token });
      expect((await a.getRun("r"))?.tasks).toEqual([done]);
      expect((await a.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    });

    it("answers a claim retried after a lost reply with the lease it granted, not a second token", async () => {
      const proxy = await startTcpProxy(REDIS_URL);
      try {
        const { url } = freshUrl({}, viaPort(REDIS_URL, proxy.port));
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

    it("keeps costs exactly in task records and call journals, through export and import", async () => {
      const { url } = freshUrl();
      const store = await open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const costs = [0.1 + 0.2, 0.000045, 1e-9, 123456.789012345, 5e-324, Number.MAX_VALUE, 0, null];
      for (const [i, costUsd] of costs.entries()) {
        await store.saveTask("r", { ...completed(`t${i}`), usage: { inputTokens: i, outputTokens: 2 * i, costUsd } }, { type: "task_completed" });
        await store.recordCall("r", { task: `t${i}`, position: 0, kind: "model", requestHash: "h", response: i, usage: { inputTokens: i, outputTokens: 1, costUsd }, at: "2026-01-01T00:00:00.000Z" });
      }
      const check = async (runId: string) => {
        expect((await store.getRun(runId))!.tasks.map((t) => t.usage!.costUsd)).toEqual(costs);
        for (const [i, costUsd] of costs.entries()) expect((await store.calls(runId, `t${i}`))[0]!.usage!.costUsd).toBe(costUsd);
      };
      await check("r");
      const dump = (await store.exportRun("r"))!;
      await store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } });
      await check("copy");
      await expect(store.saveTask("r", { ...completed("nan"), usage: { inputTokens: 1, outputTokens: 1, costUsd: Number.NaN } }, { type: "task_completed" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
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
