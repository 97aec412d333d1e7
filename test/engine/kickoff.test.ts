import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { APICallError, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { Agent, Crew, MemoryStore, Task, type Store } from "../../src/index.js";
import { approveTask, editTaskOutput, invalidateTask } from "../../src/engine/operator.js";
import { planRun } from "../../src/engine/plan-run.js";
import { spentSoFar } from "../../src/engine/ledger.js";

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };

function text(answer: string): LanguageModelV3GenerateResult {
  return { content: [{ type: "text", text: answer }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] };
}

function toolCall(id: string, name: string, input: unknown): LanguageModelV3GenerateResult {
  return {
    content: [{ type: "tool-call", toolCallId: id, toolName: name, input: JSON.stringify(input) }],
    finishReason: { unified: "tool-calls", raw: "tool_calls" },
    usage,
    warnings: [],
  };
}

/** A `lookup` tool taking `{ id: number }` and answering what `execute` gives. */
function lookupTool(execute: (id: number) => Promise<unknown>) {
  return tool({ description: "look something up", inputSchema: z.object({ id: z.number() }), execute: async ({ id }) => execute(id) });
}

function lastUserText(options: LanguageModelV3CallOptions): string {
  const users = options.prompt.filter((m) => m.role === "user");
  const last = users[users.length - 1];
  return last && typeof last.content !== "string" ? last.content.map((p) => ("text" in p ? p.text : "")).join("") : "";
}

/** A model that answers each task from `answers` by a substring of its prompt, counting calls per task. */
function scriptedModel(answers: Record<string, () => string>) {
  const calls: Record<string, number> = {};
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      const prompt = lastUserText(options);
      const key = Object.keys(answers).find((k) => prompt.includes(k));
      if (!key) throw new Error(`no scripted answer for prompt: ${prompt.slice(0, 80)}`);
      calls[key] = (calls[key] ?? 0) + 1;
      return text(answers[key]!());
    },
  });
  return { model, calls };
}

function threeTaskCrew(model: MockLanguageModelV3, store: Store) {
  const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model });
  const extract = new Task({ name: "extract", description: "EXTRACT from {notes}", expectedOutput: "facts", agent });
  const classify = new Task({ name: "classify", description: "CLASSIFY the facts", expectedOutput: "a class", agent, context: [extract] });
  const report = new Task({ name: "report", description: "REPORT on the class", expectedOutput: "a report", agent, context: [classify] });
  return new Crew({ name: "chain", tasks: [extract, classify, report], store });
}

describe("kickoff", () => {
  it("checkpoints every task and reuses them all on a rerun", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts-1", CLASSIFY: () => "class-A", REPORT: () => "report-A" });
    const crew = threeTaskCrew(model, store);
    const first = await crew.kickoff({ runId: "r1", inputs: { notes: "n1" } });
    expect(first.tasks.map((t) => t.outcome)).toEqual(["ran", "ran", "ran"]);
    expect(first.output).toBe("report-A");
    const second = await crew.kickoff({ runId: "r1", inputs: { notes: "n1" } });
    expect(second.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "reused"]);
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 1 });
    const run = await store.getRun("r1");
    expect(run?.attempts).toBe(2);
    expect(run?.status).toBe("completed");
  });

  it("decides again when another kickoff finished a task after this one read the run: reused, never run twice", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts-1", CLASSIFY: () => "class-A", REPORT: () => "report-A" });
    const inputs = { notes: "n1" };
    // Kickoff A reads the run; just before its first claim, kickoff B runs the whole crew.
    let raced = false;
    const racing: Store = Object.create(store);
    racing.claimTask = async (...args) => {
      if (!raced) {
        raced = true;
        await threeTaskCrew(model, store).kickoff({ runId: "r", inputs });
      }
      return store.claimTask(...args);
    };
    const a = await threeTaskCrew(model, store).kickoff({ runId: "r", inputs, store: racing });
    expect(a.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "reused"]);
    expect(a.output).toBe("report-A");
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 1 });
  });

  it("decides again when the worker it waited for finishes the task and lets go of it: reused, never run twice", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts-1", CLASSIFY: () => "class-A", REPORT: () => "report-A" });
    const inputs = { notes: "n1" };
    const done = (await threeTaskCrew(model, store).kickoff({ runId: "first", inputs })).tasks[0]!;
    const finished = (await store.getRun("first"))!.tasks.find((t) => t.name === "extract")!;

    // Run "r": a worker on another host holds "extract" when kickoff A reads the run.
    await store.beginRun({ runId: "r", crew: "chain", inputs });
    const holder = "elsewhere:1:abc";
    await store.claimTask("r", "extract", holder, 30_000, { start: { task: { ...finished, status: "running", output: null, structured: null, outputHash: null }, event: { type: "task_started" } } });
    // A's claim is refused; before A looks at the holder, the holder commits the task and lets go.
    const racing: Store = Object.create(store);
    racing.claimTask = async (...args) => {
      const lease = await store.claimTask(...args);
      if (!lease && args[1] === "extract") {
        await store.saveTask("r", { ...finished, worker: holder, fencingToken: 1, leaseExpiresAt: null }, { type: "task_completed" }, { fencingToken: 1 });
      }
      return lease;
    };
    const a = await threeTaskCrew(model, store).kickoff({ runId: "r", inputs, store: racing });
    expect(a.tasks.map((t) => t.outcome)).toEqual(["reused", "ran", "ran"]);
    expect(a.outputs.extract).toBe(done.output);
    expect(calls.EXTRACT).toBe(1);
  });

  it("stops at an unchanged output (early cutoff) and reruns past a changed one", async () => {
    const store = new MemoryStore();
    let classAnswer = "class-A";
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => classAnswer, REPORT: () => "report" });
    const crew = threeTaskCrew(model, store);
    await crew.kickoff({ runId: "r", inputs: { notes: "n1" } });

    // New notes: extract reruns but says the same thing, so classify and report stay valid.
    const cutoff = await crew.kickoff({ runId: "r", inputs: { notes: "n2" } });
    expect(cutoff.tasks.map((t) => t.outcome)).toEqual(["rerun", "reused", "reused"]);
    expect(cutoff.tasks[0]!.reason).toBe("rerun: stale because input notes changed");
    expect(calls).toEqual({ EXTRACT: 2, CLASSIFY: 1, REPORT: 1 });

    // Invalidate classify; it reruns and now answers differently, so report reruns too.
    await invalidateTask(store, "r", "classify");
    classAnswer = "class-B";
    const changed = await crew.kickoff({ runId: "r", inputs: { notes: "n2" } });
    expect(changed.tasks.map((t) => t.outcome)).toEqual(["reused", "ran", "rerun"]);
    expect(changed.tasks[2]!.reason).toBe("rerun: stale because upstream output changed");
    expect(calls).toEqual({ EXTRACT: 2, CLASSIFY: 2, REPORT: 2 });
  });

  it("keeps completed work when a task fails, and resumes at the failed task", async () => {
    const store = new MemoryStore();
    let fail = true;
    const { model, calls } = scriptedModel({
      EXTRACT: () => "facts",
      CLASSIFY: () => {
        if (fail) throw new APICallError({ message: "bad request", url: "http://x", requestBodyValues: {}, statusCode: 400, isRetryable: false });
        return "class";
      },
      REPORT: () => "report",
    });
    const crew = threeTaskCrew(model, store);
    await expect(crew.kickoff({ runId: "f", inputs: { notes: "n" } })).rejects.toMatchObject({ code: "TASK_FAILED", context: { task: "classify" } });
    const failed = await store.getRun("f");
    expect(failed?.status).toBe("failed");
    expect(failed?.tasks.map((t) => [t.name, t.status])).toEqual([["extract", "completed"], ["classify", "failed"]]);
    expect(failed?.tasks[1]!.error).toMatch(/bad request/);
    fail = false;
    const resumed = await crew.kickoff({ runId: "f", inputs: { notes: "n" } });
    expect(resumed.tasks.map((t) => t.outcome)).toEqual(["reused", "ran", "ran"]);
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 2, REPORT: 1 });
  });

  it("retries a rate-limited call with backoff and records each attempt", async () => {
    const store = new MemoryStore();
    let failures = 1;
    const { model } = scriptedModel({
      EXTRACT: () => {
        if (failures-- > 0) throw new APICallError({ message: "rate limited", url: "http://x", requestBodyValues: {}, statusCode: 429, isRetryable: true });
        return "facts";
      },
      CLASSIFY: () => "c",
      REPORT: () => "r",
    });
    await threeTaskCrew(model, store).kickoff({ runId: "retry", inputs: { notes: "n" }, retryDelayMs: 1 });
    const run = await store.getRun("retry");
    expect(run?.tasks[0]).toMatchObject({ name: "extract", status: "completed", attempts: 2, error: null });
    const types = (await store.events("retry")).filter((e) => e.task === "extract").map((e) => e.type);
    expect(types).toEqual(["task_started", "task_retry", "task_completed"]);
  });

  it("resumes a task's agent loop from its journal without repeating answered calls", async () => {
    const store = new MemoryStore();
    let modelCalls = 0;
    let broken = true;
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        modelCalls++;
        const toolResults = options.prompt.filter((m) => m.role === "tool").length;
        if (toolResults < 2) return toolCall(`call-${toolResults}`, "lookup", { id: toolResults });
        if (broken) throw new APICallError({ message: "invalid", url: "http://x", requestBodyValues: {}, statusCode: 400, isRetryable: false });
        return text("done after 2 lookups");
      },
    });
    let executions = 0;
    const lookup = lookupTool(async (id) => {
      executions++;
      return { id, value: `v${id}` };
    });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model, tools: { lookup } });
    const crew = new Crew({ name: "tools", tasks: [new Task({ name: "look", description: "Look up two things", expectedOutput: "x", agent })], store });

    await expect(crew.kickoff({ runId: "j" })).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect([modelCalls, executions]).toEqual([3, 2]);
    expect((await store.calls("j", "look")).map((c) => c.kind)).toEqual(["model", "tool", "model", "tool"]);

    broken = false;
    const resumed = await crew.kickoff({ runId: "j" });
    expect(resumed.output).toBe("done after 2 lookups");
    expect([modelCalls, executions]).toEqual([4, 2]);
    expect(resumed.calls).toEqual({ made: 1, replayed: 4 });
  });

  it("commits every answer before the next call leaves the process, and the last ones with the task's result", async () => {
    const store = new MemoryStore();
    const journaled = () => store.calls("c", "look").then((calls) => calls.map((c) => `${c.position}:${c.kind}`));
    const seen: string[][] = [];
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        seen.push(await journaled());
        return options.prompt.some((m) => m.role === "tool") ? text("looked up") : toolCall("call-0", "lookup", { id: 1 });
      },
    });
    const lookup = lookupTool(async (id) => {
      seen.push(await journaled());
      return { id };
    });
    const recordCall = vi.spyOn(store, "recordCall");
    const saveTask = vi.spyOn(store, "saveTask");
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model, tools: { lookup } });
    const crew = new Crew({ name: "tools", tasks: [new Task({ name: "look", description: "Look one thing up", expectedOutput: "x", agent })], store });

    await crew.kickoff({ runId: "c" });
    // Before the tool runs, the model's request for it is stored; before the second model call, the tool's result.
    expect(seen).toEqual([[], ["0:model"], ["0:model", "1:tool"]]);
    expect(recordCall).toHaveBeenCalledTimes(2);
    // The final answer rides in the completion commit.
    const completion = saveTask.mock.calls.find(([, record]) => record.status === "completed")!;
    expect(completion[3]?.calls?.map((c) => c.position)).toEqual([2]);
    expect(await journaled()).toEqual(["0:model", "1:tool", "2:model"]);
  });

  it("commits the answer asking for parallel tool calls before either runs, and both results before the next call", async () => {
    const store = new MemoryStore();
    const journaled = () => store.calls("p", "look").then((calls) => calls.map((c) => `${c.position}:${c.kind}`).sort());
    const seen: string[][] = [];
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        seen.push(await journaled());
        if (options.prompt.some((m) => m.role === "tool")) return text("both looked up");
        return {
          content: [
            { type: "tool-call", toolCallId: "a", toolName: "lookup", input: JSON.stringify({ id: 1 }) },
            { type: "tool-call", toolCallId: "b", toolName: "lookup", input: JSON.stringify({ id: 2 }) },
          ],
          finishReason: { unified: "tool-calls", raw: "tool_calls" },
          usage,
          warnings: [],
        };
      },
    });
    const lookup = lookupTool(async (id) => {
      seen.push(await journaled());
      await new Promise((resolve) => setTimeout(resolve, id === 1 ? 20 : 1));
      return { id };
    });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model, tools: { lookup } });
    const crew = new Crew({ name: "tools", tasks: [new Task({ name: "look", description: "Look two things up", expectedOutput: "x", agent })], store });

    const result = await crew.kickoff({ runId: "p" });
    expect(result.output).toBe("both looked up");
    expect(seen).toEqual([[], ["0:model"], ["0:model"], ["0:model", "1:tool", "2:tool"]]);
    expect(await journaled()).toEqual(["0:model", "1:tool", "2:tool", "3:model"]);
  });

  it("keeps a failed task's last answer: the failure commit journals it, and a resume replays it", async () => {
    const store = new MemoryStore();
    let modelCalls = 0;
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        modelCalls++;
        return options.prompt.some((m) => m.role === "tool") ? text("looked up") : toolCall("call-0", "lookup", { id: 1 });
      },
    });
    let executions = 0;
    const lookup = lookupTool(async (id) => {
      executions++;
      return { id };
    });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model, tools: { lookup } });
    const crew = new Crew({ name: "tools", tasks: [new Task({ name: "look", description: "Look one thing up", expectedOutput: "x", agent })], store });
    // The budget stops the loop before its second model call: the tool's result is the last answer.
    await expect(crew.kickoff({ runId: "f", budget: { maxTokens: 15 } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect([modelCalls, executions]).toEqual([1, 1]);
    expect((await store.calls("f", "look")).map((c) => c.kind)).toEqual(["model", "tool"]);

    const resumed = await crew.kickoff({ runId: "f", budget: { maxTokens: 100 } });
    expect(resumed.calls).toEqual({ made: 1, replayed: 2 });
    expect([modelCalls, executions]).toEqual([2, 1]);
  });

  it("asks afresh after answers that never matched the schema, on a retry and on a resume, keeping their cost", async () => {
    const store = new MemoryStore();
    let modelCalls = 0;
    let valid = false;
    const model = new MockLanguageModelV3({
      doGenerate: async () => {
        modelCalls++;
        return text(valid ? '{"amount":12}' : '{"amount":"twelve"}');
      },
    });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
    const task = new Task({ name: "facts", description: "d", expectedOutput: "e", agent, retries: 1, output: z.object({ amount: z.number() }) });
    const crew = new Crew({ name: "s", tasks: [task], store });
    await expect(crew.kickoff({ runId: "f", retryDelayMs: 1 })).rejects.toMatchObject({ code: "TASK_FAILED" });
    const perAttempt = modelCalls / 2;
    expect(perAttempt).toBeGreaterThan(1);
    expect(await store.calls("f", "facts")).toEqual([]);

    valid = true;
    const resumed = await crew.kickoff({ runId: "f", budget: { maxTokens: 1_000 } });
    expect(resumed.calls).toEqual({ made: 1, replayed: 0 });
    expect(resumed.tasks[0]!.structured).toEqual({ amount: 12 });
    // Every call ever made is still on the ledger: 15 tokens each.
    const spent = await spentSoFar(store, "f", ["facts"], await store.events("f"));
    expect(spent.inputTokens + spent.outputTokens).toBe(15 * modelCalls);
  });

  it("validates structured output with a zod schema", async () => {
    const store = new MemoryStore();
    const model = new MockLanguageModelV3({ doGenerate: async () => text('{"policy":"HO-1","amount":12}') });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
    const task = new Task({ name: "facts", description: "d", expectedOutput: "e", agent, output: z.object({ policy: z.string(), amount: z.number() }) });
    const result = await new Crew({ name: "s", tasks: [task], store }).kickoff({ runId: "s" });
    expect(result.tasks[0]!.structured).toEqual({ policy: "HO-1", amount: 12 });
  });

  it("re-asks a structured answer that fails its schema, with the validation error", async () => {
    const store = new MemoryStore();
    const prompts: string[] = [];
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        prompts.push(lastUserText(options));
        return text(prompts.length === 1 ? '{"amount":"twelve"}' : '{"amount":12}');
      },
    });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
    const task = new Task({ name: "facts", description: "d", expectedOutput: "e", agent, output: z.object({ amount: z.number() }) });
    const result = await new Crew({ name: "s", tasks: [task], store }).kickoff({ runId: "s" });
    expect(result.tasks[0]!.structured).toEqual({ amount: 12 });
    expect(prompts[1]).toMatch(/did not match the required JSON schema/);
  });

  it("raises a missing input before any model call", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "x" });
    await expect(threeTaskCrew(model, store).kickoff({ runId: "m" })).rejects.toMatchObject({ code: "MISSING_INPUT" });
    expect(calls).toEqual({});
    expect(await store.getRun("m")).toBeUndefined();
  });

  it("refuses to resume another crew's run", async () => {
    const store = new MemoryStore();
    const { model } = scriptedModel({ EXTRACT: () => "x", CLASSIFY: () => "y", REPORT: () => "z" });
    await threeTaskCrew(model, store).kickoff({ runId: "x", inputs: { notes: "n" } });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
    const other = new Crew({ name: "other", tasks: [new Task({ name: "t", description: "d", expectedOutput: "e", agent })], store });
    await expect(other.kickoff({ runId: "x" })).rejects.toMatchObject({ code: "RUN_MISMATCH" });
  });

  it("handles tasks by name when the crew changes: new ones run, vanished ones are kept unused", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "x", CLASSIFY: () => "y", REPORT: () => "z", EXTRA: () => "w" });
    await threeTaskCrew(model, store).kickoff({ runId: "c", inputs: { notes: "n" } });
    const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model });
    const extract = new Task({ name: "extract", description: "EXTRACT from {notes}", expectedOutput: "facts", agent });
    const extra = new Task({ name: "extra", description: "EXTRA work", expectedOutput: "w", agent, context: [extract] });
    const crew = new Crew({ name: "chain", tasks: [extract, extra], store });
    const plan = await planRun(crew, store, { runId: "c", inputs: { notes: "n" } });
    expect(plan.tasks.map((t) => t.explanation)).toEqual(["reuse", "run: new"]);
    expect(plan.orphaned).toEqual(["classify", "report"]);
    const result = await crew.kickoff({ runId: "c", inputs: { notes: "n" } });
    expect(result.tasks.map((t) => t.outcome)).toEqual(["reused", "ran"]);
    expect(result.orphaned).toEqual(["classify", "report"]);
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 1, EXTRA: 1 });
    expect((await store.getRun("c"))?.tasks.map((t) => t.name)).toEqual(["extract", "classify", "report", "extra"]);
  });

  it("keeps an operator's edit and reruns the tasks that read it", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => "class", REPORT: () => "report" });
    const crew = threeTaskCrew(model, store);
    await crew.kickoff({ runId: "e", inputs: { notes: "n" } });
    await editTaskOutput(store, "e", "classify", "class (corrected by a person)");
    const plan = await planRun(crew, store, { runId: "e", inputs: { notes: "n" } });
    expect(plan.tasks.map((t) => t.explanation)).toEqual(["reuse", "reuse", "rerun: stale because upstream output changed"]);
    const result = await crew.kickoff({ runId: "e", inputs: { notes: "n" } });
    expect(result.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "rerun"]);
    expect(result.outputs.classify).toBe("class (corrected by a person)");
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 2 });
  });
});

describe("cassette replay", () => {
  it("reruns a crew from another run's recorded answers without calling the model", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => "class", REPORT: () => "report" });
    const crew = threeTaskCrew(model, store);
    const original = await crew.kickoff({ runId: "tape", inputs: { notes: "n" } });
    const replay = await crew.kickoff({ runId: "replay", inputs: { notes: "n" }, replayFrom: "tape" });
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 1 });
    expect(replay.outputs).toEqual(original.outputs);
    expect(replay.calls).toEqual({ made: 0, replayed: 3 });
    expect((await store.calls("replay", "extract")).length).toBe(1);
  });

  it("fails on a call the recording has no answer for, naming the task and position", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => "class", REPORT: () => "report" });
    const crew = threeTaskCrew(model, store);
    await crew.kickoff({ runId: "tape", inputs: { notes: "n" } });
    await expect(crew.kickoff({ runId: "replay2", inputs: { notes: "other" }, replayFrom: "tape" })).rejects.toThrow(
      /task "extract" has no recorded answer for its model call at position 0/,
    );
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1, REPORT: 1 });
  });

  it("needs no API key to replay a run recorded on a remote model", async () => {
    vi.stubEnv("OPENAI_API_KEY", "");
    vi.stubEnv("OPENAI_BASE_URL", "");
    const store = new MemoryStore();
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model: "openai:gpt-4o-mini" });
    const crew = new Crew({ name: "remote", tasks: [new Task({ name: "t", description: "d", expectedOutput: "e", agent })], store });
    await expect(crew.kickoff({ runId: "x" })).rejects.toMatchObject({ code: "MISSING_API_KEY" });
    await expect(crew.kickoff({ runId: "x", replayFrom: "missing" })).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    vi.unstubAllEnvs();
  });
});

describe("human review", () => {
  it("pauses after a reviewed task until it is approved, then goes on", async () => {
    const store = new MemoryStore();
    const { model, calls } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => "class", REPORT: () => "report" });
    const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model });
    const extract = new Task({ name: "extract", description: "EXTRACT from {notes}", expectedOutput: "facts", agent, humanReview: true });
    const classify = new Task({ name: "classify", description: "CLASSIFY the facts", expectedOutput: "a class", agent });
    const crew = new Crew({ name: "reviewed", tasks: [extract, classify], store });

    const first = await crew.kickoff({ runId: "rv", inputs: { notes: "n" } });
    expect([first.status, first.awaiting, first.tasks.length]).toEqual(["paused", "extract", 1]);
    expect((await store.getRun("rv"))?.status).toBe("paused");
    const again = await crew.kickoff({ runId: "rv", inputs: { notes: "n" } });
    expect([again.status, again.tasks[0]!.outcome]).toEqual(["paused", "reused"]);

    await approveTask(store, "rv", "extract");
    const done = await crew.kickoff({ runId: "rv", inputs: { notes: "n" } });
    expect([done.status, done.awaiting, done.output]).toEqual(["completed", null, "class"]);
    expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 1 });
  });

  it("counts an operator's edit as the reviewed result", async () => {
    const store = new MemoryStore();
    const { model } = scriptedModel({ EXTRACT: () => "facts", CLASSIFY: () => "class" });
    const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model });
    const extract = new Task({ name: "extract", description: "EXTRACT from {notes}", expectedOutput: "facts", agent, humanReview: true });
    const classify = new Task({ name: "classify", description: "CLASSIFY the facts", expectedOutput: "a class", agent });
    const crew = new Crew({ name: "reviewed", tasks: [extract, classify], store });
    await crew.kickoff({ runId: "ed", inputs: { notes: "n" } });
    await editTaskOutput(store, "ed", "extract", "facts, checked by a person");
    const done = await crew.kickoff({ runId: "ed", inputs: { notes: "n" } });
    expect(done.status).toBe("completed");
    expect(done.outputs.extract).toBe("facts, checked by a person");
  });
});
