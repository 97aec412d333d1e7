/**
 * Recovery of a dead worker's run (RELIABILITY B4). Real worker processes on the real PostgreSQL
 * (pg-boss) and Redis (BullMQ); the queue's own job expiry is set to 10 minutes, so only a live
 * worker noticing that the run's task lease ran out can bring the run back within the test.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/stores/open.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";
import { enqueueHangingRun, killHard, ledger, startRecoveryWorker, waitFor } from "./fixtures/recovery-harness.js";
import { eventsPerTask } from "../../src/engine/task-events.js";

const pg = await postgresService();
const redis = await redisService();
const LEASE_TTL_MS = 1_500;
const QUEUE_EXPIRY_MS = 600_000;

const backends = [
  { name: "postgres (pg-boss)", available: pg.available, url: () => withParam(pg.url, "schema", freshName("recovery")) },
  { name: "redis (BullMQ)", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("recovery")}:`) },
];

const workers: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map(killHard));
});

describe.each(backends)("a worker SIGKILLed mid-run on $name", ({ available, url: freshUrl }) => {
  it.skipIf(!available)(
    "is replaced by a live worker once its lease runs out, long before the queue expires its job: committed tasks reused, none run twice",
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-recovery-"));
      const url = freshUrl();
      const store = await openStore(url);
      try {
        for (let i = 0; i < 2; i++) workers.push(await startRecoveryWorker(url, dir, LEASE_TTL_MS, QUEUE_EXPIRY_MS));
        await enqueueHangingRun(url, dir, "orphan", QUEUE_EXPIRY_MS);
        const hung = await waitFor("a worker to hang in step_01", () => ledger(dir).find((l) => l.hang), 30_000);
        await killHard(workers.find((w) => w.pid === hung.pid)!);

        const run = await waitFor("the run to complete", async () => ((await store.getRun("orphan"))?.status === "completed" ? store.getRun("orphan") : undefined), 60_000);
        const survivor = workers.find((w) => w.pid !== hung.pid)!.pid;
        expect(run!.tasks.map((t) => t.status)).toEqual(["completed", "completed", "completed"]);
        // step_00 was committed before the kill: reused, not run again; step_01 ran again (its first call never answered).
        expect(ledger(dir).map((l) => `${l.task} ${l.pid === hung.pid ? "dead" : l.pid === survivor ? "survivor" : l.pid}${l.hang ? " hang" : ""}`)).toEqual([
          "step_00 dead",
          "step_01 dead hang",
          "step_01 survivor",
          "step_02 survivor",
        ]);
        const events = await store.events("orphan");
        expect(eventsPerTask(events).filter((e) => e.type === "task_reused").map((e) => e.task)).toContain("step_00");
        expect(events.filter((e) => e.type === "task_completed").map((e) => e.task)).toEqual(["step_00", "step_01", "step_02"]);
        for (const task of ["step_00", "step_01", "step_02"]) expect(await store.calls("orphan", task)).toHaveLength(1);
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
