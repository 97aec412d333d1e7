/**
 * Flows on the queue: `enqueue` and `worker` take flows as they take crews. Two jobs of one flow
 * run on two workers: one works it, the other waits for its claim and then reuses every step, so
 * each step runs once. A feedback step pauses the run under the queue; after the answer, the
 * next job completes it. Real pg-boss and BullMQ.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { enqueueRun, startWorker, type RunningWorker } from "../../src/engine/worker.js";
import { Flow, giveFeedback, runFlow } from "../../src/index.js";
import { defaultLogger } from "../../src/log.js";
import { openStore } from "../../src/stores/open.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";

const pg = await postgresService();
const redis = await redisService();
const backends = [
  { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("flowq")) },
  { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("flowq")}:`) },
];

/** three slow steps in a line, then a feedback step and a last one. */
function queuedFlow(calls: Map<string, number>) {
  const flow = new Flow({ name: "queued", state: z.object({ n: z.number().default(0) }) });
  const step = (name: string) => async (state: { n: number }) => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 300));
    state.n += 1;
    return state.n;
  };
  const a = flow.start("a", step("a"));
  const b = flow.listen("b", a, step("b"));
  const c = flow.listen("c", b, step("c"));
  const ask = flow.feedback("ask", c, "Go on?", (state) => state.n);
  flow.listen("end", ask, step("end"));
  return flow;
}

const workers: RunningWorker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
});

async function until(done: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe.each(backends)("flow workers on $name", ({ available, url: freshUrl }) => {
  it.skipIf(!available)("one worker at a time works a flow run: a second kickoff of it waits for the claim and reuses every step", async () => {
    const url = freshUrl();
    const calls = new Map<string, number>();
    const flow = queuedFlow(calls);
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i++) {
      workers.push(await startWorker(flow, { store: url, leaseTtlMs: 5_000, logger: defaultLogger("silent"), onRun: (e) => outcomes.push(e.outcome) }));
    }
    await enqueueRun(flow, { runId: "q-1", inputs: {} }, url);
    await until(() => calls.get("a") === 1);
    // Another process kicks the same run off while the worker holds it.
    const second = await runFlow(flow, { runId: "q-1", store: url, worker: "intruder", logger: defaultLogger("silent") });
    await until(() => outcomes.length >= 1);
    expect(outcomes).toEqual(["paused"]);
    expect(second.status).toBe("paused");
    expect(second.steps.map((s) => s.outcome)).toEqual(["reused", "reused", "reused"]);
    expect(Object.fromEntries(calls)).toEqual({ a: 1, b: 1, c: 1 });
    const store = await openStore(url);
    try {
      const run = (await store.getRun("q-1"))!;
      expect(run.kind).toBe("flow");
      expect(run.status).toBe("paused");
      const claims = (await store.events("q-1")).filter((e) => e.type === "task_started" && e.task === "flow");
      expect(claims).toHaveLength(2);
      await giveFeedback(store, "q-1", "ask", { verdict: "approved" }, "ops@desk");
      await enqueueRun(flow, { runId: "q-1", inputs: {} }, url);
      await until(() => outcomes.length >= 2);
      expect(outcomes[1]).toBe("completed");
      expect(Object.fromEntries(calls)).toEqual({ a: 1, b: 1, c: 1, end: 1 });
      expect((await store.getRun("q-1"))!.status).toBe("completed");
    } finally {
      await store.close();
    }
  }, 120_000);

  it.skipIf(!available)("a step that fails fails the run once; the queue does not retry it", async () => {
    const url = freshUrl();
    const flow = new Flow({ name: "failing", state: z.object({}) });
    let runs = 0;
    flow.start("boom", () => {
      runs += 1;
      throw new Error("the API said no");
    });
    const outcomes: { outcome: string; detail?: string }[] = [];
    workers.push(await startWorker(flow, { store: url, leaseTtlMs: 5_000, logger: defaultLogger("silent"), onRun: (e) => outcomes.push(e) }));
    await enqueueRun(flow, { runId: "f-1", inputs: {} }, url);
    await until(() => outcomes.length >= 1);
    expect(outcomes[0]).toMatchObject({ outcome: "failed" });
    expect(outcomes[0]!.detail).toMatch(/step "boom#1" of flow "failing" threw: the API said no/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(runs).toBe(1);
  }, 60_000);
});
