import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { Agent, Crew, MemoryStore, Task, type Store } from "../../src/index.js";
import { invalidateTask } from "../../src/engine/operator.js";
import { costOf } from "../../src/llm/prices.js";

const answer = (t: string): LanguageModelV3GenerateResult => ({
  content: [{ type: "text", text: t }],
  finishReason: { unified: "stop", raw: "stop" },
  usage: { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } },
  warnings: [],
});

// $1 per input token and $2 per output token: a call costs exactly $20.
const prices = { "mock-provider:mock-model-id": { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } };

function threeTasks(store: Store) {
  let calls = 0;
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      calls++;
      return answer(`answer of length ${JSON.stringify(options.prompt).length}`);
    },
  });
  const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
  const tasks = ["one", "two", "three"].map((name) => new Task({ name, description: `do ${name}`, expectedOutput: "e", agent }));
  return { crew: new Crew({ name: "ledger", tasks, store }), calls: () => calls };
}

describe("the ledger", () => {
  it("prices every call and totals tokens and cost per task and per kickoff", async () => {
    const store = new MemoryStore();
    const { crew } = threeTasks(store);
    const result = await crew.kickoff({ runId: "l", prices });
    expect(result.usage).toEqual({ inputTokens: 30, outputTokens: 15, costUsd: 60 });
    expect(result.tasks.map((t) => t.usage)).toEqual(Array(3).fill({ inputTokens: 10, outputTokens: 5, costUsd: 20 }));
    expect((await store.calls("l", "one"))[0]!.usage).toEqual({ inputTokens: 10, outputTokens: 5, costUsd: 20 });
  });

  it("knows the built-in prices and says when a price is unknown", () => {
    expect(costOf("openai:gpt-4o-mini", 1_000_000, 1_000_000)).toBeCloseTo(0.75);
    expect(costOf("openai:gpt-4o-2024-08-06", 1_000_000, 0)).toBeCloseTo(2.5);
    expect(costOf("someone:unknown-model", 10, 10)).toBeNull();
  });

  it("enforces a budget across restarts, and keeps everything done within it", async () => {
    const store = new MemoryStore();
    const { crew, calls } = threeTasks(store);
    await expect(crew.kickoff({ runId: "b", prices, budget: { maxTokens: 25 } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    let run = await store.getRun("b");
    expect(run?.status).toBe("failed");
    expect(run?.error).toMatch(/over its budget \(30 tokens spent of a budget of 25\)/);
    expect(run?.tasks.map((t) => t.status)).toEqual(["completed", "completed", "failed"]);
    expect(calls()).toBe(2);

    // A restart does not reset what was spent, nor does discarding a task's journal.
    await invalidateTask(store, "b", "one");
    await expect(crew.kickoff({ runId: "b", prices, budget: { maxCostUsd: 40 } })).rejects.toThrow(/\$40\.0000 spent of a budget of \$40/);
    expect(calls()).toBe(2);

    const done = await crew.kickoff({ runId: "b", prices, budget: { maxCostUsd: 200 } });
    expect(done.tasks.map((t) => t.outcome)).toEqual(["ran", "reused", "ran"]);
    expect(calls()).toBe(4);
    run = await store.getRun("b");
    expect(run?.status).toBe("completed");
  });

  it("counts calls answered from the journal as saved, not spent", async () => {
    const store = new MemoryStore();
    const { crew } = threeTasks(store);
    await crew.kickoff({ runId: "s", prices });
    // Forget that task two finished: its journal still holds the answer.
    const run = (await store.getRun("s"))!;
    await store.saveTask("s", { ...run.tasks[1]!, status: "running" }, { type: "task_started" });
    const resumed = await crew.kickoff({ runId: "s", prices });
    expect(resumed.tasks.map((t) => t.outcome)).toEqual(["reused", "ran", "reused"]);
    expect(resumed.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: null });
    expect(resumed.saved).toEqual({ inputTokens: 10, outputTokens: 5, costUsd: 20 });
    expect(resumed.calls).toEqual({ made: 0, replayed: 1 });
  });
});
