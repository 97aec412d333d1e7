/**
 * What the PostgreSQL and Redis stores must both get right as stores on a server: concurrency
 * between real connections, leases judged by the server's clock, connections killed by the server,
 * lost replies and outages (through `startTcpProxy`), and hostile names. `describeServerStore`
 * registers these tests inside a store's own test file, given a `ServerStoreContext`; what only
 * one server has (schema and migrations, key layout, statements sent) stays in that file.
 */
import { APICallError } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it, vi } from "vitest";
import { outputHashOf } from "../../src/hash.js";
import { openStore } from "../../src/stores/open.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { newTaskRecord, type CallRecord, type ClaimOptions, type Lease, type Store, type TaskRecord } from "../../src/stores/store.js";
import { runCli } from "../support/cli.js";
import { startTcpProxy, viaPort, type TcpProxy } from "../services.js";

export interface ServerStoreContext {
  /** How the CLI names the store: "PostgreSQL", "Redis". */
  name: string;
  /** The server's URL, for a proxy to stand in front of. */
  serverUrl: string;
  /** A URL onto state of its own (removed after the file), on `base` (a proxy's URL) if given; `scope` is its schema or key prefix. */
  freshUrl(base?: string): { url: string; scope: string };
  /** Opens a store that the file closes after its tests. */
  open(url: string): Promise<Store>;
  /** A fresh URL whose connections the server can be made to drop, and `kill` doing it: how many it dropped. */
  killable(): { url: string; kill: () => Promise<number> };
  /** What `kill` is called, in titles: once, and through a crew. */
  kills: { one: string; many: string };
  /** The server's clock in ms, truncated as the store truncates it. */
  serverNow(): Promise<number>;
  /** Everything stored in `scope`, to compare before and after. */
  snapshot(scope: string): Promise<unknown>;
  /** Asserts how the server holds `lease`, the only lease in `scope`, of a task that has no record. */
  expectLeaseStored(scope: string, lease: Lease): Promise<void>;
  /** Asserts that the store's own layout in `scope` is as it was made (tables, version key). */
  expectLayoutIntact(scope: string): Promise<void>;
  /** URLs of a server that is not there, with the password `s3cret-pw`, and what their messages show instead. */
  unreachable: { urls: [string, string]; shownAs: string };
  /** The client reconnects on a schedule of its own, so the first write once the server is back may still fail. */
  reconnectsLater?: boolean;
  /** A cost of -0 comes back as -0, not 0 (a double column keeps the sign; JSON text does not). */
  keepsNegativeZero?: boolean;
}

export const completed = (name: string, output = `output of ${name}`): TaskRecord => ({
  ...newTaskRecord(name),
  status: "completed",
  output,
  inputHash: "i".repeat(64),
  outputHash: outputHashOf(output, null),
  attempts: 1,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const granted = (leases: (Lease | undefined)[]): Lease[] => leases.filter((lease): lease is Lease => lease !== undefined);

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

/** Runs `test` with a fresh store behind a TCP proxy, and `cut`: a write whose reply the proxy drops. */
async function behindProxy(
  server: ServerStoreContext,
  test: (store: Store, proxy: TcpProxy, cut: <T>(write: () => Promise<T>) => Promise<T>) => Promise<void>,
): Promise<void> {
  const proxy = await startTcpProxy(server.serverUrl);
  try {
    const store = await server.open(server.freshUrl(viaPort(server.serverUrl, proxy.port)).url);
    await test(store, proxy, async (write) => {
      const happened = proxy.cutNextReply();
      const result = await write();
      await happened;
      return result;
    });
  } finally {
    await proxy.close();
  }
}

export function describeServerStore(server: ServerStoreContext): void {
  const fresh = () => server.open(server.freshUrl().url);

  describe("concurrency", () => {
    it("lets exactly one of concurrent claims carrying the same token win", async () => {
      const { url } = server.freshUrl();
      const [a, b] = [await server.open(url), await server.open(url)];
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
      expect((await b.events("r")).filter((e) => e.type === "task_started")).toHaveLength(2);
    });

    it("keeps every commit when two stores write different tasks of one run at once", async () => {
      const { url } = server.freshUrl();
      const [a, b] = [await server.open(url), await server.open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).saveTask("r", completed(`t${i}`), { type: "task_completed" })));
      const run = await b.getRun("r");
      expect(new Set(run?.tasks.map((t) => t.name)).size).toBe(60);
      expect((await a.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
      expect((await a.listRuns())[0]).toMatchObject({ runId: "r", taskCount: 60, completedCount: 60 });
    });
  });

  describe("storage", () => {
    it("keeps the order tasks were first recorded in, through updates, removals and imports", async () => {
      const store = await fresh();
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (const name of ["zeta", "alpha", "mid", "beta"]) await store.saveTask("r", { ...newTaskRecord(name), status: "running" }, { type: "task_started" });
      await store.saveTask("r", completed("alpha"), { type: "task_completed" });
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["zeta", "alpha", "mid", "beta"]);
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
    it("grants exactly one of 16 simultaneous claims through 16 connections: first claims, re-claims and takeovers alike", async () => {
      const { url, scope } = server.freshUrl();
      const stores = await Promise.all(Array.from({ length: 16 }, () => server.open(url)));
      try {
        await stores[0]!.beginRun({ runId: "r", crew: "c", inputs: {} });
        const race = (ttlMs: number, who: (i: number) => boolean = () => true, options?: ClaimOptions) =>
          Promise.all(stores.map((store, i) => (who(i) ? store.claimTask("r", "t", `w${i}`, ttlMs, options) : undefined)));

        // A task without a record: the losers wait on (or see) the winner's write and then its lease.
        const first = granted(await race(300));
        expect(first.map((l) => l.token)).toEqual([1]);
        await sleep(400);
        const second = granted(await race(30_000));
        expect(second.map((l) => l.token)).toEqual([2]);
        // Everyone else takes over from the holder at once: the first takeover makes a new holder.
        const holder = second[0]!.worker;
        const third = granted(await race(30_000, (i) => `w${i}` !== holder, { takeOverFrom: holder }));
        expect(third.map((l) => l.token)).toEqual([3]);

        await server.expectLeaseStored(scope, third[0]!);
        expect((await stores[5]!.getRun("r"))?.tasks).toEqual([{ ...newTaskRecord("t"), worker: third[0]!.worker, fencingToken: 3, leaseExpiresAt: third[0]!.expiresAt }]);
        expect((await stores[5]!.events("r")).map((e) => e.type)).toEqual(["run_started"]);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    it("judges and stamps lease expiry by the server's clock, whatever this process's clock says", async () => {
      const store = await fresh();
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const skew = 3_600_000;
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - skew });
      try {
        const before = await server.serverNow();
        const lease = (await store.claimTask("r", "a", "worker-a", 60_000))!;
        const after = await server.serverNow();
        expect(lease.expiresAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        expect(Date.parse(lease.expiresAt)).toBeGreaterThanOrEqual(before + 60_000);
        expect(Date.parse(lease.expiresAt)).toBeLessThanOrEqual(after + 60_000);
        expect(Date.parse(lease.expiresAt) - (Date.now() + 60_000)).toBeGreaterThan(skew - 60_000);

        // This process, an hour behind, thinks this lease has an hour to go; by the server's clock it ran out.
        const ranOut = { ...newTaskRecord("b"), status: "running" as const, worker: "worker-a", fencingToken: 1, leaseExpiresAt: new Date((await server.serverNow()) - 1_000).toISOString() };
        await store.saveTask("r", ranOut, { type: "task_started" });
        expect(await store.claimTask("r", "b", "worker-b", 60_000)).toMatchObject({ worker: "worker-b", token: 2 });

        // An hour ahead, it thinks this one ran out long ago; by the server's clock it has a minute left.
        vi.setSystemTime(Date.now() + 2 * skew);
        const running = { ...ranOut, name: "c", leaseExpiresAt: new Date((await server.serverNow()) + 60_000).toISOString() };
        await store.saveTask("r", running, { type: "task_started" });
        expect(await store.claimTask("r", "c", "worker-b", 60_000)).toBeUndefined();

        // A heartbeat renews from the server's now too.
        const from = await server.serverNow();
        const renewed = await store.heartbeat(lease, 120_000);
        const to = await server.serverNow();
        expect(Date.parse(renewed.expiresAt)).toBeGreaterThanOrEqual(from + 120_000);
        expect(Date.parse(renewed.expiresAt)).toBeLessThanOrEqual(to + 120_000);
      } finally {
        vi.useRealTimers();
      }
    });

    it("fences the previous holder's heartbeat, commit and release out after a takeover through another connection", async () => {
      const { url, scope } = server.freshUrl();
      const [a, b] = [await server.open(url), await server.open(url)];
      await a.beginRun({ runId: "r", crew: "c", inputs: {} });
      const old = (await a.claimTask("r", "t", "worker-a", 30_000))!;
      const taken = (await b.claimTask("r", "t", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      expect(taken).toMatchObject({ worker: "worker-b", token: 2 });

      const before = await server.snapshot(scope);
      await expect(a.heartbeat(old, 30_000)).rejects.toMatchObject({ code: "FENCED_OUT", context: { runId: "r", task: "t" } });
      const zombie = { ...completed("t", "from a"), worker: "worker-a", fencingToken: old.token };
      await expect(a.saveTask("r", zombie, { type: "task_completed" }, { fencingToken: old.token })).rejects.toMatchObject({ code: "FENCED_OUT" });
      await a.releaseTask(old);
      expect(await server.snapshot(scope)).toEqual(before);

      const renewed = await b.heartbeat(taken, 30_000);
      expect(renewed).toMatchObject({ worker: "worker-b", token: 2 });
      const done = { ...completed("t", "from b"), worker: "worker-b", fencingToken: taken.token };
      await b.saveTask("r", done, { type: "task_completed" }, { fencingToken: taken.token });
      expect((await a.getRun("r"))?.tasks).toEqual([done]);
      expect((await a.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    });

    it("answers a claim retried after a lost reply with the lease it granted, not a second token", async () => {
      await behindProxy(server, async (store, _proxy, cut) => {
        await store.beginRun({ runId: "r", crew: "c", inputs: {} });
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
      });
    });

    it("keeps costs exactly in task records and call journals, through export and import", async () => {
      const store = await fresh();
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const costs = [0.1 + 0.2, 0.000045, 1e-9, 123456.789012345, 5e-324, Number.MAX_VALUE, 0, ...(server.keepsNegativeZero ? [-0] : []), null];
      for (const [i, costUsd] of costs.entries()) {
        await store.saveTask("r", { ...completed(`t${i}`), usage: { inputTokens: i, outputTokens: 2 * i, costUsd } }, { type: "task_completed" });
        await store.recordCall("r", { task: `t${i}`, position: 0, kind: "model", requestHash: "h", response: i, usage: { inputTokens: i, outputTokens: 1, costUsd }, at: "2026-01-01T00:00:00.000Z" });
      }
      const check = async (runId: string) => {
        const run = (await store.getRun(runId))!;
        expect(run.tasks).toHaveLength(costs.length);
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
      await expect(store.saveTask("r", { ...completed("nan"), usage: { inputTokens: 1, outputTokens: 1, costUsd: Number.NaN } }, { type: "task_completed" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    });
  });

  describe("faults", () => {
    it(`reconnects after ${server.kills.one} between commits and loses nothing`, async () => {
      const { url, kill } = server.killable();
      const store = await server.open(url);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      for (let i = 0; i < 10; i++) {
        await store.saveTask("r", completed(`t${i}`), { type: "task_completed" });
        expect(await kill()).toBeGreaterThan(0);
      }
      await store.saveTask("r", completed("after"), { type: "task_completed" });
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual([...Array.from({ length: 10 }, (_, i) => `t${i}`), "after"]);
      expect((await store.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    });

    it(`runs a crew through ${server.kills.many}: nothing committed lost, no committed task run twice`, async () => {
      const { url, kill } = server.killable();
      const { calls, resumed, run } = await crewThroughFaults(await server.open(url), kill);
      // Nothing committed was lost (t1–t4 are reused) and no committed task ran twice.
      expect(resumed.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "reused", "reused", "ran", "ran", "ran", "ran"]);
      expect(calls).toEqual({ t1: 1, t2: 1, t3: 1, t4: 1, t5: 2, t6: 1, t7: 1, t8: 1 });
      expect(run.status).toBe("completed");
      expect(run.tasks.map((t) => [t.name, t.status, t.output])).toEqual(Array.from({ length: 8 }, (_, i) => [`t${i + 1}`, "completed", `output of t${i + 1}`]));
    });

    it("treats a write whose reply was lost as done: retried once, recorded once", async () => {
      await behindProxy(server, async (store, _proxy, cut) => {
        expect((await cut(() => store.beginRun({ runId: "r", crew: "c", inputs: {} }))).attempts).toBe(1);
        await cut(() => store.saveTask("r", completed("t"), { type: "task_completed" }));
        await cut(() => store.setRunStatus("r", "paused", null, { type: "run_paused" }));
        expect(await cut(() => store.removeTask("r", "t", { type: "task_invalidated" }))).toBe(true);
        await cut(() => store.recordCall("r", { task: "u", position: 0, kind: "model", requestHash: "h", response: "x", usage: null, at: "2026-01-01T00:00:00.000Z" }));
        const dump = (await store.exportRun("r"))!;
        await cut(() => store.importRun({ ...dump, run: { ...dump.run, runId: "copy" } }));
        expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed", "run_paused", "task_invalidated"]);
        expect(await store.calls("r", "u")).toHaveLength(1);
        expect(await store.exportRun("copy")).toEqual({ ...dump, run: { ...dump.run, runId: "copy" }, events: dump.events.map((e) => ({ ...e, runId: "copy" })) });
      });
    });

    it("reports an outage as STORE_UNAVAILABLE quickly, then works again when the server is back", async () => {
      await behindProxy(server, async (store, proxy) => {
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
        const after = () => store.saveTask("r", completed("after"), { type: "task_completed" });
        if (server.reconnectsLater) await expect.poll(() => after().then(() => true, () => false), { timeout: 5_000 }).toBe(true);
        else await after();
        expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["before", "after"]);
      });
    });

    it("makes the CLI report an unreachable server in one line naming the store, without a stack or the password", async () => {
      const result = await runCli(["runs", "--store", server.unreachable.urls[0]]);
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`${server.name} store .*crew:\\*\\*\\*@127\\.0\\.0\\.1:1.* is unavailable`));
      expect(result.stderr).not.toContain("s3cret");
    });

    it("reports an unreachable server in one line, within seconds, without the password", async () => {
      for (const url of server.unreachable.urls) {
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
        expect(message).toContain(server.unreachable.shownAs);
      }
    });
  });

  describe("hostile names", () => {
    const names = ["'; DROP TABLE runs; --", "$1", "*", "{tag}", "a\\b", '"quoted"', "%s %d", "%s", "tab\u00a0nbsp", "ünïcödé 🦀", "'", ") OR 1=1 --", "run:x:tasks", "calls:*", "[a-z]?"];
    const crew = "'; DROP SCHEMA public; -- FLUSHALL *";
    const inputs = { "$1": "'; DELETE FROM runs; --", "{tag}": "*", "*": "{tag}" };

    it("round-trips task names, crew names and inputs that look like SQL, key patterns or commands, never interpreting them", async () => {
      const { url, scope } = server.freshUrl();
      const store = await server.open(url);
      await store.beginRun({ runId: "r", crew, inputs });
      for (const name of names) {
        await store.saveTask("r", completed(name, name), { type: "task_completed", data: { name } });
        await store.recordCall("r", { task: name, position: 0, kind: "tool", requestHash: name, response: name, usage: null, at: "2026-01-01T00:00:00.000Z" });
      }
      const run = await store.getRun("r");
      expect(run?.crew).toBe(crew);
      expect(run?.inputs).toEqual(inputs);
      expect(run?.tasks.map((t) => [t.name, t.output])).toEqual(names.map((n) => [n, n]));
      for (const name of names) expect((await store.calls("r", name)).map((c) => c.response)).toEqual([name]);
      expect(await store.removeTask("r", "*", { type: "task_invalidated" })).toBe(true);
      expect(await store.calls("r", "calls:*")).toHaveLength(1);
      expect((await store.getRun("r"))?.tasks).toHaveLength(names.length - 1);
      await server.expectLayoutIntact(scope);
    });

    it("refuses SQL-looking run IDs before they reach the server", async () => {
      const store = await fresh();
      for (const runId of ["'; DROP TABLE runs; --", "$1", "a b", "x\ny", "../etc"]) {
        await expect(store.beginRun({ runId, crew: "c", inputs: {} })).rejects.toMatchObject({ code: "INVALID_RUN_ID" });
      }
      expect(await store.listRuns()).toEqual([]);
    });
  });
}
