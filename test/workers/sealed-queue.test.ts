import { describe, expect, it } from "vitest";
import { sealedQueue } from "../../src/queue/sealed-queue.js";
import type { RunJob, RunQueue } from "../../src/queue/run-queue.js";
import { Sealer } from "../../src/stores/seal.js";

const CANARY = "canary-queue-33aa";

/** A queue that keeps what it is given, as pg-boss's table or BullMQ's keys would. */
function keepingQueue(): RunQueue & { kept: RunJob[] } {
  const kept: RunJob[] = [];
  return {
    kept,
    enqueue: async (job) => void kept.push(structuredClone(job)),
    activeJobs: async () => kept.map((job) => ({ job, takenAt: new Date(0) })),
    work: async (_options, handler) => {
      for (const job of kept) await handler(job);
    },
    close: async () => {},
  };
}

describe("sealed queue", () => {
  it("keeps job inputs sealed and bound to the run; workers get them opened", async () => {
    const inner = keepingQueue();
    const sealer = new Sealer({ key: Buffer.alloc(32, 4) });
    const queue = sealedQueue(inner, sealer);
    await queue.enqueue({ runId: "r1", inputs: { notes: CANARY, n: 1 } });
    expect(JSON.stringify(inner.kept)).not.toContain(CANARY);
    expect(inner.kept[0]?.runId).toBe("r1");
    const got: RunJob[] = [];
    await queue.work({ concurrency: 1, jobTimeoutMs: 1000 }, async (job) => void got.push(job));
    expect(got).toEqual([{ runId: "r1", inputs: { notes: CANARY, n: 1 } }]);
    expect((await queue.activeJobs())[0]?.job.inputs).toEqual({ notes: CANARY, n: 1 });
    // Moved to another run's job, the inputs do not open.
    inner.kept[0] = { ...inner.kept[0]!, runId: "r2" };
    await expect(queue.activeJobs()).rejects.toMatchObject({ code: "KEY_MISMATCH" });
  });
});
