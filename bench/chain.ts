import type { LanguageModelV3 } from "@ai-sdk/provider";
import { createHash } from "node:crypto";
import { Agent, Crew, Task } from "../src/index.js";

/** A zero-latency model: answers every prompt at once with `bytes` of text derived from it. */
export function instantModel(bytes = 1024): LanguageModelV3 {
  return {
    specificationVersion: "v3",
    provider: "bench",
    modelId: "instant",
    supportedUrls: {},
    async doGenerate(options) {
      const seed = createHash("sha256").update(JSON.stringify(options.prompt)).digest("hex");
      const text = seed.repeat(Math.ceil(bytes / seed.length)).slice(0, bytes);
      return {
        content: [{ type: "text", text }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: {
          inputTokens: { total: 100, noCache: 100, cacheRead: 0, cacheWrite: 0 },
          outputTokens: { total: 256, text: 256, reasoning: 0 },
        },
        warnings: [],
      };
    },
    async doStream() {
      throw new Error("the bench model does not stream");
    },
  };
}

/** A linear chain of `n` tasks, each reading only the previous task's output. */
export function chainCrew(n: number, model: LanguageModelV3 = instantModel()): Crew {
  const agent = new Agent({ role: "Step worker", goal: "Carry the chain forward", backstory: "A benchmark agent.", model });
  const tasks: Task[] = [];
  for (let i = 0; i < n; i++) {
    const previous = tasks[i - 1];
    tasks.push(
      new Task({
        name: `step_${String(i).padStart(4, "0")}`,
        description: `Step ${i} of the chain: transform the previous output.`,
        expectedOutput: "1 KiB of text",
        agent,
        context: previous ? [previous] : [],
      }),
    );
  }
  return new Crew({ name: `chain-${n}`, tasks });
}
