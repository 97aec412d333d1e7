/**
 * `pruneRuns` (what `crewstate prune` and retention do) on every store: removal by age, status,
 * keep-last and crew; running, paused and leased runs never removed; a dry run changes nothing;
 * `journals` keeps the runs; a run a queued job names is kept (pg-boss, BullMQ).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { enqueueRun } from "../../src/queue/enqueue.js";
import { pruneRuns } from "../../src/runs/prune.js";
import type { PruneRules } from "../../src/runs/prune-plan.js";
import { openStore } from "../../src/stores/open.js";
import type { Store } from "../../src/stores/store.js";
import { call } from "../../src/testing/specs/support.js";
import { DAY, NOW, SEED, seeded } from "./prune-fixtures.js";
import { freshName, PG_URL, postgresService, REDIS_URL, redisService, withParam } from "../services.js";

const [postgres, redis] = await Promise.all([postgresService(), redisService()]);
const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-prune-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));


interface Backend {
  name: string;
  available: boolean;
  /** A URL naming fresh state, and how to remove it. */
  fresh(): { url: string; cleanup: () => Promise<void> };
  queue: boolean;
}

const backends: Backend[] = [
  { name: "memory", available: true, queue: false, fresh: () => ({ url: "memory:", cleanup: async () => {} }) },
  { name: "sqlite", available: true, queue: false, fresh: () => ({ url: `sqlite:${path.join(scratch, `${freshName("p")}.db`)}`, cleanup: async () => {} }) },
  { name: "json", available: true, queue: false, fresh: () => ({ url: `json:${path.join(scratch, `${freshName("p")}.json`)}`, cleanup: async () => {} }) },
  {
    name: "postgres",
    available: postgres.available,
    queue: true,
    fresh: () => {
      const schema = freshName("prune");
      return {
        url: withParam(PG_URL, "schema", schema),
        cleanup: async () => {
          const client = new pg.Client(PG_URL);
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_queue" CASCADE`).finally(() => client.end());
        },
      };
    },
  },
  {
    name: "redis",
    available: redis.available,
    queue: true,
    fresh: () => {
      const prefix = `${freshName("prune")}:`;
      return {
        url: withParam(REDIS_URL, "prefix", prefix),
        cleanup: async () => {
          const client = new Redis(REDIS_URL);
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          client.disconnect();
        },
      };
    },
  },
];

const rules = (r: Partial<PruneRules>): PruneRules => ({ statuses: ["completed", "failed"], ...r });
const remaining = async (store: Store) => (await store.listRuns()).map((r) => r.runId).sort();
const all = SEED.map(([id]) => id).sort();
const without = (...gone: string[]) => all.filter((id) => !gone.includes(id));

describe.each(backends)("prune on $name", (backend) => {
  const withStore = async (body: (store: Store, url: string) => Promise<void>) => {
    const { url, cleanup } = backend.fresh();
    const store = await openStore(url);
    try {
      await body(store, url);
    } finally {
      await store.close();
      await cleanup();
    }
  };

  it.skipIf(!backend.available)("removes completed and failed runs by age, whole, and never running or paused ones; reports bytes", async () => {
    await withStore(async (store) => {
      const before = await seeded(store);
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW });
      expect(report.removed.map((r) => r.run.runId)).toEqual(["b-old-done", "a-old-done", "a-old-failed"]);
      for (const { bytes } of report.removed) expect(bytes).toBeGreaterThan(0);
      expect(report.bytes).toBe(report.removed.reduce((sum, r) => sum + r.bytes!, 0));
      expect(await remaining(store)).toEqual(without("b-old-done", "a-old-done", "a-old-failed"));
      for (const id of ["b-old-done", "a-old-done"]) {
        expect(await store.exportRun(id)).toBeUndefined();
        expect(await store.calls(id, "a")).toEqual([]);
      }
      for (const id of await remaining(store)) expect(await store.exportRun(id)).toEqual(before.get(id));
    });
  });

  it.skipIf(!backend.available)("by status, keep-last per crew and crew", async () => {
    await withStore(async (store) => {
      await seeded(store);
      await pruneRuns(store, rules({ statuses: ["failed"], olderThanMs: 0 }), { now: NOW });
      expect(await remaining(store)).toEqual(without("a-old-failed"));
      await pruneRuns(store, rules({ keepLast: 1, crew: "beta" }), { now: NOW });
      expect(await remaining(store)).toEqual(without("a-old-failed", "b-old-done"));
      await pruneRuns(store, rules({ keepLast: 1 }), { now: NOW });
      expect(await remaining(store)).toEqual(["a-new-done", "a-old-paused", "a-old-running", "b-mid-done"]);
    });
  });

  it.skipIf(!backend.available)("a run whose task holds a live lease is kept, the store saying why; the rest go", async () => {
    await withStore(async (store) => {
      const before = await seeded(store);
      await store.claimTask("a-old-done", "a", "w1", 60_000);
      const leased = await store.exportRun("a-old-done");
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW });
      expect(report.removed.map((r) => r.run.runId)).toEqual(["b-old-done", "a-old-failed"]);
      expect(report.kept).toHaveLength(1);
      expect(report.kept[0]!.reason).toMatch(/run "a-old-done" cannot be deleted: task "a" holds a lease until/);
      expect(await store.exportRun("a-old-done")).toEqual(leased);
      expect(await store.exportRun("a-old-running")).toEqual(before.get("a-old-running"));
    });
  });

  it.skipIf(!backend.available)("a dry run changes nothing and lists what would go", async () => {
    await withStore(async (store) => {
      const before = await seeded(store);
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW, dryRun: true });
      expect(report.removed.map((r) => [r.run.runId, r.bytes])).toEqual([["b-old-done", null], ["a-old-done", null], ["a-old-failed", null]]);
      for (const [id, dumped] of before) expect(await store.exportRun(id)).toEqual(dumped);
    });
  });

  it.skipIf(!backend.available)("journals: keeps every run, drops the completed tasks' journals of those selected", async () => {
    await withStore(async (store) => {
      const before = await seeded(store);
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW, journals: true });
      expect(report.removed.map((r) => r.run.runId)).toEqual(["b-old-done", "a-old-done", "a-old-failed"]);
      expect(await remaining(store)).toEqual(all);
      for (const id of ["b-old-done", "a-old-done"]) {
        const after = (await store.exportRun(id))!;
        expect(after.run).toEqual(before.get(id)!.run);
        expect(after.events).toEqual(before.get(id)!.events);
        expect(after.calls).toEqual([]);
      }
      // The failed task's journal stays: only completed tasks' journals go.
      expect((await store.exportRun("a-old-failed"))!.calls).toEqual([call("b", 0)]);
      expect(await store.exportRun("a-new-done")).toEqual(before.get("a-new-done"));
    });
  });
});

/** Whether anything of a crew queue exists at `url`: pg-boss's schema, or BullMQ's keys. */
async function queueTraces(name: string, url: string): Promise<number> {
  if (name === "postgres") {
    const schema = new URL(url).searchParams.get("schema")!;
    const client = new pg.Client(PG_URL);
    await client.connect();
    try {
      return (await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [`${schema}_queue`])).rowCount ?? 0;
    } finally {
      await client.end();
    }
  }
  const client = new Redis(REDIS_URL);
  try {
    return (await client.keys(`${new URL(url).searchParams.get("prefix")}queue*`)).length;
  } finally {
    client.disconnect();
  }
}

describe.each(backends.filter((b) => b.queue))("prune on $name with its queue", (backend) => {
  it.skipIf(!backend.available)("reading a queue never used creates nothing", async () => {
    const { url, cleanup } = backend.fresh();
    const store = await openStore(url);
    try {
      await seeded(store);
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW, storeUrl: url, dryRun: true });
      expect(report.removed).toHaveLength(3);
      expect(await queueTraces(backend.name, url)).toBe(0);
    } finally {
      await store.close();
      await cleanup();
    }
  });

  it.skipIf(!backend.available)("a run a queued job still names is kept", async () => {
    const { url, cleanup } = backend.fresh();
    const store = await openStore(url);
    try {
      await seeded(store);
      await enqueueRun({ name: "alpha" }, { runId: "a-old-done", inputs: {} }, url);
      const report = await pruneRuns(store, rules({ olderThanMs: 30 * DAY }), { now: NOW, storeUrl: url });
      expect(report.removed.map((r) => r.run.runId)).toEqual(["b-old-done", "a-old-failed"]);
      expect(report.kept).toEqual([{ run: expect.objectContaining({ runId: "a-old-done" }), reason: "a queued job still names it" }]);
      expect(await store.getRun("a-old-done")).toBeDefined();
    } finally {
      await store.close();
      await cleanup();
    }
  });
});
