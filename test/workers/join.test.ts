/**
 * Workers share a run's parallel tasks: the worker that has the run queues joins, and the workers
 * that take them work the tasks no one holds yet. Real pg-boss and BullMQ, two workers.
 */
import type { LanguageModelV3 } from "@ai-sdk/provider";
import { afterEach, describe, expect, it } from "vitest";
import { enqueueRun, startWorker, type RunningWorker } from "../../src/engine/worker.js";
import { Agent, Crew, Task } from "../../src/index.js";
import { defaultLogger } from "../../src/log.js";
import { openStore } from "../../src/stores/open.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";

const pg = await postgresService();
const redis = await redisService();
const backends = [
  { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("join")) },
  { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("join")}:`) },
];

/** plan → four async researchers (400 ms each) → summary; at most two at once per kickoff. */
function parallelCrew(calls: Map<string, number>): Crew {
  const model: LanguageModelV3 = {
    specificationVersion: "v3",
    provider: "join",
    modelId: "slow",
    supportedUrls: {},
    async doGenerate(options) {
      const task = /Current Task: (\w+)/.exec(JSON.stringify(options.prompt))?.[1] ?? "?";
      calls.set(task, (calls.get(task) ?? 0) + 1);
      if (task.startsWith("research")) await new Promise((r) => setTimeout(r, 400));
      return {
        content: [{ type: "text", text: `${task} done` }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } },
        warnings: [],
      };
    },
    async doStream() {
      throw new Error("no streaming");
    },
  };
  const agent = new Agent({ role: "Researcher", goal: "Research", backstory: "Thorough.", model });
  const plan = new Task({ name: "plan", description: "plan", expectedOutput: "a plan", agent });
  const researchers = ["a", "b", "c", "d"].map((x) => new Task({ name: `research_${x}`, description: `research_${x}`, expectedOutput: "facts", agent, asyncExecution: true }));
  const summary = new Task({ name: "summary", description: "summary", expectedOutput: "a summary", agent });
  return new Crew({ name: "joined", tasks: [plan, ...researchers, summary], maxConcurrency: 2 });
}

const workers: RunningWorker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
});

describe.each(backends)("workers on $name", ({ available, url: freshUrl }) => {
  it.skipIf(!available)("share one run's parallel tasks: a join is queued and taken, each task runs once, both workers work", async () => {
    const url = freshUrl();
    const calls = new Map<string, number>();
    const crew = parallelCrew(calls);
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i++) {
      workers.push(await startWorker(crew, { store: url, leaseTtlMs: 5_000, logger: defaultLogger("silent"), onRun: (e) => outcomes.push(e.outcome) }));
    }
    await enqueueRun(crew, { runId: "shared", inputs: {} }, url);
    const store = await openStore(url);
    try {
      const deadline = Date.now() + 60_000;
      while (outcomes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const run = (await store.getRun("shared"))!;
      expect(run.status).toBe("completed");
      expect(Object.fromEntries(calls)).toEqual({ plan: 1, research_a: 1, research_b: 1, research_c: 1, research_d: 1, summary: 1 });
      const events = await store.events("shared");
      const starts = events.filter((e) => e.type === "task_started" && e.task!.startsWith("research"));
      expect(starts).toHaveLength(4);
      expect(new Set(starts.map((e) => (e.data as { worker: string }).worker)).size).toBe(2);
      expect(events.filter((e) => e.type === "task_completed")).toHaveLength(6);
      expect(outcomes.sort()).toEqual(["completed", "completed"]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
