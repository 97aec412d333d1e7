import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { APICallError } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { Agent, Crew, MemoryStore, Task } from "../../src/index.js";

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
const text = (t: string): LanguageModelV3GenerateResult => ({ content: [{ type: "text", text: t }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] });

function toolResults(options: LanguageModelV3CallOptions): string[] {
  return options.prompt
    .filter((m) => m.role === "tool")
    .flatMap((m) => m.content)
    .map((part) => (part.type === "tool-result" && part.output.type === "text" ? part.output.value : JSON.stringify(part)));
}

describe("hierarchical process", () => {
  function setup() {
    const counts = { manager: 0, writer: 0 };
    let managerFailsAtSecondCall = true;
    const managerModel = new MockLanguageModelV3({
      doGenerate: async (options) => {
        counts.manager++;
        const results = toolResults(options);
        if (results.length === 0) {
          return {
            content: [{ type: "tool-call", toolCallId: "d1", toolName: "delegate_work_to_coworker", input: JSON.stringify({ coworker: "writer", task: "Write the note", context: "Policy HO-1" }) }],
            finishReason: { unified: "tool-calls", raw: "tool_calls" },
            usage,
            warnings: [],
          };
        }
        if (managerFailsAtSecondCall) {
          managerFailsAtSecondCall = false;
          throw new APICallError({ message: "bad gateway config", url: "http://x", requestBodyValues: {}, statusCode: 400, isRetryable: false });
        }
        return text(`final: ${results[0]}`);
      },
    });
    const writerModel = new MockLanguageModelV3({
      doGenerate: async () => {
        counts.writer++;
        return text("a note about HO-1");
      },
    });
    const writer = new Agent({ role: "Writer", goal: "Write notes", backstory: "Writes.", model: writerModel });
    const store = new MemoryStore();
    const crew = new Crew({
      name: "managed",
      process: "hierarchical",
      managerModel,
      agents: [writer],
      tasks: [new Task({ name: "note", description: "Produce a triage note", expectedOutput: "a note" })],
      store,
    });
    return { crew, store, counts };
  }

  it("lets the manager delegate, journals the coworker's calls apart, and resumes without redoing the delegation", async () => {
    const { crew, store, counts } = setup();
    await expect(crew.kickoff({ runId: "h" })).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect(counts).toEqual({ manager: 2, writer: 1 });
    const journal = await store.calls("h", "note");
    expect(journal.map((c) => [c.position, c.kind])).toEqual([
      [0, "model"],
      [1, "tool"],
      [2_000_000, "model"],
    ]);

    const result = await crew.kickoff({ runId: "h" });
    expect(result.output).toBe("final: a note about HO-1");
    expect(counts).toEqual({ manager: 3, writer: 1 });
    expect(result.calls).toEqual({ made: 1, replayed: 2 });
  });

  it("uses CrewAI's default manager and requires agents to delegate to", async () => {
    const { crew } = setup();
    expect(crew.manager?.role).toBe("Crew Manager");
    expect(() => new Crew({ name: "x", process: "hierarchical", tasks: [new Task({ name: "t", description: "d", expectedOutput: "e" })] })).toThrow(
      /lists no agents/,
    );
  });
});
