/**
 * A worker never resumes a failed run (`resumeFailed: false`): a second delivery of the job of a
 * run whose task was dead-lettered or failed must not start that task again. An operator's
 * kickoff (the default) does.
 */
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { Agent, Crew, MemoryStore, Task } from "../../src/index.js";
import { isCrewstateError } from "../../src/errors.js";

function crewOf(store: MemoryStore, answer: () => string) {
  let calls = 0;
  const model = new MockLanguageModelV3({
    doGenerate: async () => {
      calls++;
      return {
        content: [{ type: "text", text: answer() }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } },
        warnings: [],
      };
    },
  });
  const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
  const tasks = ["first", "second"].map((name) => new Task({ name, description: name, expectedOutput: "e", agent, retries: 0 }));
  return { crew: new Crew({ name: "failing", tasks, store }), calls: () => calls };
}

describe("resumeFailed", () => {
  it("a worker's kickoff of a failed run refuses in one error naming the run, writing nothing; an operator's resumes it", async () => {
    const store = new MemoryStore();
    let fail = true;
    const { crew, calls } = crewOf(store, () => {
      if (fail) throw new Error("the model is down");
      return "fine";
    });
    await expect(crew.kickoff({ runId: "r", retryDelayMs: 1 })).rejects.toThrow(/failed/);
    expect((await store.getRun("r"))!.status).toBe("failed");
    const before = { run: await store.getRun("r"), events: await store.events("r") };
    const made = calls();

    fail = false;
    const refused = await crew.kickoff({ runId: "r", resumeFailed: false }).catch((error: unknown) => error);
    expect(isCrewstateError(refused, "TASK_FAILED")).toBe(true);
    expect((refused as Error).message).toMatch(/^run "r" has failed \(task "first": .*\); a worker does not resume it/);
    expect({ run: await store.getRun("r"), events: await store.events("r") }).toEqual(before);
    expect(calls()).toBe(made);

    const resumed = await crew.kickoff({ runId: "r" });
    expect(resumed.status).toBe("completed");
    expect(resumed.tasks.map((t) => t.outcome)).toEqual(["ran", "ran"]);
  });
});
