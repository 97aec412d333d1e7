import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Agent, Crew, MemoryStore, Task, type RunObserver } from "../../src/index.js";

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };
const finish = { unified: "stop", raw: "stop" } as const;

/** Calls `lookup` once, then answers; fails the first answer when `failOnce` is set. */
function lookupModel(failOnce = false) {
  let calls = 0;
  return new MockLanguageModelV3({
    doGenerate: async (options): Promise<LanguageModelV3GenerateResult> => {
      calls += 1;
      const answered = options.prompt.some((m) => m.role === "tool");
      if (!answered) {
        return { content: [{ type: "tool-call", toolCallId: "c1", toolName: "lookup", input: JSON.stringify({ id: "P-1" }) }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage, warnings: [] };
      }
      if (failOnce && calls === 2) throw new Error("model went away");
      return { content: [{ type: "text", text: "covered" }], finishReason: finish, usage, warnings: [] };
    },
  });
}

function crewWith(model: MockLanguageModelV3, store: MemoryStore) {
  const lookup = tool({ description: "Look a policy up", inputSchema: z.object({ id: z.string() }), execute: async ({ id }) => ({ id, limit: 2500 }) });
  const agent = new Agent({ role: "Adjuster", goal: "Check cover", backstory: "Careful.", model, tools: { lookup } });
  const task = new Task({ name: "check", description: "Check the claim.", expectedOutput: "A verdict.", agent });
  return new Crew({ name: "observed", agents: [agent], tasks: [task], store });
}

function recorder() {
  const seen: string[] = [];
  const observer: RunObserver = {
    onRunStart: (e) => seen.push(`run start ${e.tasks.join(",")} attempt ${e.attempt}`),
    onTaskStart: (e) => seen.push(`task start ${e.task} by ${e.agent}`),
    onCallStart: (e) => seen.push(`${e.kind} ${e.name} start${e.replayed ? " replayed" : ""}`),
    onCallEnd: (e) => seen.push(`${e.kind} ${e.name} end${e.replayed ? " replayed" : ""}${e.error ? ` error ${e.error}` : ""} ${JSON.stringify(e.output)}`),
    onRunEnd: (e) => seen.push(`run end ${e.status}`),
  };
  return { seen, observer };
}

describe("run observers", () => {
  it("see the run, the task and each model and tool call, live, with inputs and outputs", async () => {
    const store = new MemoryStore();
    const { seen, observer } = recorder();
    await crewWith(lookupModel(), store).kickoff({ runId: "r", observers: [observer], retryDelayMs: 1 });
    expect(seen).toEqual([
      "run start check attempt 1",
      "task start check by Adjuster",
      "model mock-provider:mock-model-id start",
      'model mock-provider:mock-model-id end ""',
      'tool lookup start',
      'tool lookup end {"id":"P-1","limit":2500}',
      "model mock-provider:mock-model-id start",
      'model mock-provider:mock-model-id end "covered"',
      "run end completed",
    ]);
  });

  it("see journaled answers as replayed calls when a failed task is resumed", async () => {
    const store = new MemoryStore();
    const first = recorder();
    await expect(crewWith(lookupModel(true), store).kickoff({ runId: "r", observers: [first.observer], maxAttempts: 1, retryDelayMs: 1 })).rejects.toThrow();
    expect(first.seen).toContain("model mock-provider:mock-model-id end error model went away null");
    expect(first.seen[first.seen.length - 1]).toBe("run end failed");

    const second = recorder();
    await crewWith(lookupModel(), store).kickoff({ runId: "r", observers: [second.observer], retryDelayMs: 1 });
    expect(second.seen.filter((line) => line.includes("replayed"))).toEqual([
      "model mock-provider:mock-model-id start replayed",
      'model mock-provider:mock-model-id end replayed ""',
      "tool lookup start replayed",
      'tool lookup end replayed {"id":"P-1","limit":2500}',
    ]);
  });

  it("never change a run: an observer that throws is logged and ignored", async () => {
    const store = new MemoryStore();
    const result = await crewWith(lookupModel(), store).kickoff({
      runId: "r",
      observers: [{ onCallStart: () => { throw new Error("view crashed"); } }],
    });
    expect(result.output).toBe("covered");
  });
});
