import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { MockLanguageModelV3 } from "ai/test";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Agent, ConditionalTask, Crew, MemoryStore, Task, type AgentStep, type TaskOutput } from "../../src/index.js";
import { invalidateTask } from "../../src/engine/operator.js";
import { planRun } from "../../src/engine/plan-run.js";

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };

function text(answer: string): LanguageModelV3GenerateResult {
  return { content: [{ type: "text", text: answer }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] };
}

function lastUserText(options: LanguageModelV3CallOptions): string {
  const users = options.prompt.filter((m) => m.role === "user");
  const last = users[users.length - 1];
  return last && typeof last.content !== "string" ? last.content.map((p) => ("text" in p ? p.text : "")).join("") : "";
}

function firstUserText(options: LanguageModelV3CallOptions): string {
  const first = options.prompt.find((m) => m.role === "user");
  return first && typeof first.content !== "string" ? first.content.map((p) => ("text" in p ? p.text : "")).join("") : "";
}

/**
 * A model whose answer to a task is picked by a key in its task prompt, after `latencyMs`; it logs
 * when each call starts and ends, so a test sees overlap rather than assuming it.
 */
function timedModel(answers: Record<string, (call: number, options: LanguageModelV3CallOptions) => string>, latencyMs: Record<string, number> = {}) {
  const calls: Record<string, number> = {};
  const log: { key: string; start: number; end: number }[] = [];
  let active = 0;
  let maxActive = 0;
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      const prompt = firstUserText(options);
      const key = Object.keys(answers).find((k) => prompt.includes(k));
      if (!key) throw new Error(`no scripted answer for prompt: ${prompt.slice(0, 80)}`);
      calls[key] = (calls[key] ?? 0) + 1;
      const start = performance.now();
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, latencyMs[key] ?? 0));
      active -= 1;
      log.push({ key, start, end: performance.now() });
      return text(answers[key]!(calls[key]!, options));
    },
  });
  return { model, calls, log, maxActive: () => maxActive };
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "crewstate-surface-"));
  dirs.push(dir);
  return dir;
}

function fanOut(model: MockLanguageModelV3, options: { maxConcurrency?: number; joinContext?: boolean } = {}) {
  const agent = new Agent({ role: "Researcher", goal: "Find things", backstory: "Quick.", model });
  const plan = new Task({ name: "plan", description: "PLAN the research on {topic}", expectedOutput: "a plan", agent });
  const a = new Task({ name: "a", description: "RESEARCH-A", expectedOutput: "facts", agent, asyncExecution: true });
  const b = new Task({ name: "b", description: "RESEARCH-B", expectedOutput: "facts", agent, asyncExecution: true });
  const c = new Task({ name: "c", description: "RESEARCH-C", expectedOutput: "facts", agent, asyncExecution: true });
  const join = new Task({ name: "join", description: "JOIN the findings", expectedOutput: "a summary", agent, ...(options.joinContext ? { context: [c, a, b] } : {}) });
  return new Crew({ name: "fan-out", tasks: [plan, a, b, c, join], store: new MemoryStore(), maxConcurrency: options.maxConcurrency });
}

const FAN_ANSWERS = {
  PLAN: () => "plan-1",
  "RESEARCH-A": () => "found-a",
  "RESEARCH-B": () => "found-b",
  "RESEARCH-C": () => "found-c",
  JOIN: (_: number, o: LanguageModelV3CallOptions) => `joined:${["found-a", "found-b", "found-c"].filter((f) => lastUserText(o).includes(f)).join(",")}`,
};

describe("parallel tasks", () => {
  it("runs async tasks in a row together, after the task before them, and the join after all of them", async () => {
    const { model, log, maxActive } = timedModel(FAN_ANSWERS, { "RESEARCH-A": 80, "RESEARCH-B": 80, "RESEARCH-C": 80 });
    const result = await fanOut(model).kickoff({ runId: "r", inputs: { topic: "x" } });
    const at = (key: string) => log.find((l) => l.key === key)!;
    expect(overlaps(at("RESEARCH-A"), at("RESEARCH-B"))).toBe(true);
    expect(overlaps(at("RESEARCH-B"), at("RESEARCH-C"))).toBe(true);
    expect(maxActive()).toBe(3);
    for (const key of ["RESEARCH-A", "RESEARCH-B", "RESEARCH-C"]) {
      expect(at(key).start).toBeGreaterThanOrEqual(at("PLAN").end);
      expect(at("JOIN").start).toBeGreaterThanOrEqual(at(key).end);
    }
    // The join sees every finding; the results come back in crew order.
    expect(result.output).toBe("joined:found-a,found-b,found-c");
    expect(result.tasks.map((t) => t.name)).toEqual(["plan", "a", "b", "c", "join"]);
  });

  it("caps the tasks that run at once with maxConcurrency", async () => {
    const { model, maxActive } = timedModel(FAN_ANSWERS, { "RESEARCH-A": 40, "RESEARCH-B": 40, "RESEARCH-C": 40 });
    await fanOut(model, { maxConcurrency: 2 }).kickoff({ runId: "r", inputs: { topic: "x" } });
    expect(maxActive()).toBe(2);
  });

  it("an async task's default context is the tasks before its row, not the tasks it runs beside", async () => {
    const seen: Record<string, string> = {};
    const { model } = timedModel({
      ...FAN_ANSWERS,
      "RESEARCH-B": (_, o) => {
        seen.b = lastUserText(o);
        return "found-b";
      },
    });
    await fanOut(model).kickoff({ runId: "r", inputs: { topic: "x" } });
    expect(seen.b).toContain("plan-1");
    expect(seen.b).not.toContain("found-a");
  });

  it("hashes a join by its context's outputs, whatever order they finished in", async () => {
    const runs = [
      { "RESEARCH-A": 60, "RESEARCH-B": 30, "RESEARCH-C": 0 },
      { "RESEARCH-A": 0, "RESEARCH-B": 30, "RESEARCH-C": 60 },
    ];
    const hashes: string[] = [];
    for (const [i, latency] of runs.entries()) {
      const { model, log } = timedModel(FAN_ANSWERS, latency);
      const crew = fanOut(model, { joinContext: true });
      await crew.kickoff({ runId: `r${i}`, inputs: { topic: "x" } });
      const order = log.filter((l) => l.key.startsWith("RESEARCH")).sort((x, y) => x.end - y.end).map((l) => l.key);
      expect(order[0]).toBe(i === 0 ? "RESEARCH-C" : "RESEARCH-A");
      const store = crew.store as MemoryStore;
      hashes.push((await store.getRun(`r${i}`))!.tasks.find((t) => t.name === "join")!.inputHash!);
    }
    expect(hashes[0]).toBe(hashes[1]);
  });

  it("resumes a parallel phase: committed siblings are reused, the rest run, and an unchanged rerun leaves the join alone", async () => {
    let failB = true;
    const { model, calls } = timedModel({
      ...FAN_ANSWERS,
      "RESEARCH-B": () => {
        if (failB) throw Object.assign(new Error("bad request"), { statusCode: 400 });
        return "found-b";
      },
    });
    const crew = fanOut(model);
    await expect(crew.kickoff({ runId: "r", inputs: { topic: "x" }, retryDelayMs: 1 })).rejects.toMatchObject({ code: "TASK_FAILED" });
    const store = crew.store as MemoryStore;
    const afterFailure = Object.fromEntries((await store.getRun("r"))!.tasks.map((t) => [t.name, t.status]));
    // The failure stopped the join from starting; the siblings already under way finished and committed.
    expect(afterFailure).toEqual({ plan: "completed", a: "completed", b: "failed", c: "completed" });
    failB = false;
    const resumed = await crew.kickoff({ runId: "r", inputs: { topic: "x" } });
    expect(resumed.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual(["plan:reused", "a:reused", "b:ran", "c:reused", "join:ran"]);
    expect(calls["RESEARCH-A"]).toBe(1);
    expect(calls["RESEARCH-C"]).toBe(1);

    // Rerun a with the same answer: early cutoff keeps the join.
    await invalidateTask(store, "r", "a");
    const again = await crew.kickoff({ runId: "r", inputs: { topic: "x" } });
    expect(again.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual(["plan:reused", "a:ran", "b:reused", "c:reused", "join:reused"]);
  });

  it("two workers on one run share its parallel tasks: each works the free ones first, none is called twice", async () => {
    const { model, calls } = timedModel(FAN_ANSWERS, { "RESEARCH-A": 150, "RESEARCH-B": 150, "RESEARCH-C": 150 });
    const crew = fanOut(model, { maxConcurrency: 1 });
    const store = crew.store as MemoryStore;
    // The second worker joins once the first is at work on the first parallel task.
    let joined: Promise<unknown> | undefined;
    const first = new Promise<Awaited<ReturnType<typeof crew.kickoff>>>((resolve, reject) => {
      joined = new Promise<void>((start) => {
        const onProgress = (e: { task: string; state: string }) => e.task === "a" && e.state === "running" && start();
        void crew.kickoff({ runId: "shared", inputs: { topic: "x" }, worker: "w-one", leaseTtlMs: 2_000, onProgress }).then(resolve, reject);
      });
    });
    await joined;
    const both = await Promise.all([first, crew.kickoff({ runId: "shared", inputs: { topic: "x" }, worker: "w-two", leaseTtlMs: 2_000 })]);
    expect(both.map((r) => r.output)).toEqual(["joined:found-a,found-b,found-c", "joined:found-a,found-b,found-c"]);
    expect(calls).toEqual({ PLAN: 1, "RESEARCH-A": 1, "RESEARCH-B": 1, "RESEARCH-C": 1, JOIN: 1 });
    const workers = new Set((await store.getRun("shared"))!.tasks.filter((t) => ["a", "b", "c"].includes(t.name)).map((t) => t.worker));
    expect(workers).toEqual(new Set(["w-one", "w-two"]));
  });

  it("plans a parallel crew like any other", async () => {
    const { model } = timedModel(FAN_ANSWERS);
    const crew = fanOut(model);
    await crew.kickoff({ runId: "r", inputs: { topic: "x" } });
    await invalidateTask(crew.store as MemoryStore, "r", "b");
    const plan = await planRun(crew, crew.store as MemoryStore, { runId: "r", inputs: { topic: "x" } });
    expect(plan.tasks.map((t) => `${t.name}: ${t.explanation}`)).toEqual([
      "plan: reuse",
      "a: reuse",
      expect.stringMatching(/^b: run: invalidated by \S+@\S+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      "c: reuse",
      "join: run: b will run first (reused if its output comes out the same)",
    ]);
  });

  it("refuses what cannot be scheduled, before any model call", () => {
    const agent = new Agent({ role: "R", goal: "g", backstory: "b", model: "demo" });
    const later = new Task({ name: "later", description: "d", expectedOutput: "e", agent, asyncExecution: true });
    const early = new Task({ name: "early", description: "d", expectedOutput: "e", agent, context: [later] });
    expect(() => new Crew({ name: "c", tasks: [early, later] })).toThrow(/"later" in its context, but that task comes later in the crew.*async task/);
    expect(() => new Crew({ name: "c", tasks: [later], maxConcurrency: 0 })).toThrow(/maxConcurrency 0; use a whole number ≥ 1/);
    expect(() => new Task({ name: "t", description: "d", expectedOutput: "e", asyncExecution: "yes" as unknown as boolean })).toThrow(/asyncExecution/);
  });
});

function reviewCrew(model: MockLanguageModelV3, condition: (previous: TaskOutput) => boolean | Promise<boolean>) {
  const agent = new Agent({ role: "Reviewer", goal: "Check", backstory: "Strict.", model });
  const check = new Task({ name: "check", description: "CHECK the claim {claim}", expectedOutput: "ok or flagged", agent });
  const escalate = new ConditionalTask({ name: "escalate", description: "ESCALATE the claim", expectedOutput: "a memo", agent, condition });
  const close = new Task({ name: "close", description: "CLOSE the case", expectedOutput: "a note", agent });
  return new Crew({ name: "review", tasks: [check, escalate, close], store: new MemoryStore() });
}

describe("conditional tasks", () => {
  it("records a task whose condition says no as skipped, with no model call, and reuses the decision", async () => {
    let asked = 0;
    const { model, calls } = timedModel({ CHECK: () => "ok", ESCALATE: () => "memo", CLOSE: () => "closed" });
    const crew = reviewCrew(model, (previous) => {
      asked += 1;
      return previous.raw.includes("flagged");
    });
    const first = await crew.kickoff({ runId: "r", inputs: { claim: "c1" } });
    expect(first.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual(["check:ran", "escalate:skipped", "close:ran"]);
    expect(calls.ESCALATE).toBeUndefined();
    const store = crew.store as MemoryStore;
    const run = (await store.getRun("r"))!;
    expect(run.tasks.find((t) => t.name === "escalate")!.status).toBe("skipped");
    expect((await store.events("r")).some((e) => e.type === "task_skipped" && e.task === "escalate")).toBe(true);

    const second = await crew.kickoff({ runId: "r", inputs: { claim: "c1" } });
    expect(second.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual(["check:reused", "escalate:skipped", "close:reused"]);
    expect(asked).toBe(1);
  });

  it("decides again when the previous output changes", async () => {
    let verdict = "ok";
    const { model, calls } = timedModel({ CHECK: () => verdict, ESCALATE: () => "memo", CLOSE: () => "closed" });
    const crew = reviewCrew(model, (previous) => previous.raw === "flagged");
    await crew.kickoff({ runId: "r", inputs: { claim: "c1" } });
    verdict = "flagged";
    const changed = await crew.kickoff({ runId: "r", inputs: { claim: "c2" } });
    expect(changed.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual(["check:rerun", "escalate:rerun", "close:rerun"]);
    expect(calls.ESCALATE).toBe(1);
    const plan = await planRun(crew, crew.store as MemoryStore, { runId: "r", inputs: { claim: "c1" } });
    expect(plan.tasks[1]!.explanation).toMatch(/condition says yes, else skipped/);
  });

  it("refuses a conditional task first in the crew, or a condition that is not a function", () => {
    const agent = new Agent({ role: "R", goal: "g", backstory: "b", model: "demo" });
    const cond = new ConditionalTask({ name: "cond", description: "d", expectedOutput: "e", agent, condition: () => true });
    expect(() => new Crew({ name: "c", tasks: [cond] })).toThrow(/conditional task "cond" is the first task of crew "c"/);
    expect(() => new ConditionalTask({ name: "x", description: "d", expectedOutput: "e", agent, condition: "yes" as never })).toThrow(
      /conditional task "x" needs a condition function \(got string\)/,
    );
  });

  it("a condition that throws fails the run naming the task, and writes no record for it", async () => {
    const { model } = timedModel({ CHECK: () => "ok", ESCALATE: () => "memo", CLOSE: () => "closed" });
    const crew = reviewCrew(model, () => {
      throw new Error("boom");
    });
    await expect(crew.kickoff({ runId: "r", inputs: { claim: "c1" } })).rejects.toThrow(/the condition of task "escalate" threw: boom/);
    const run = (await (crew.store as MemoryStore).getRun("r"))!;
    expect(run.status).toBe("failed");
    expect(run.tasks.map((t) => t.name)).toEqual(["check"]);
  });
});

describe("guardrails", () => {
  function guarded(model: MockLanguageModelV3, guardrail: Task["guardrail"], retries?: number) {
    const agent = new Agent({ role: "Writer", goal: "Write", backstory: "Terse.", model });
    const write = new Task({ name: "write", description: "WRITE a title", expectedOutput: "a title", agent, guardrail, guardrailMaxRetries: retries });
    return new Crew({ name: "guarded", tasks: [write], store: new MemoryStore() });
  }

  it("asks again in the same attempt with the feedback; refused answers are journaled and paid for; only the accepted output is committed", async () => {
    const { model, calls } = timedModel({ WRITE: (n, o) => (n < 3 ? `draft ${n}` : `final ${lastUserText(o).includes("too short") ? "(with feedback)" : ""}`) });
    const crew = guarded(model, (out) => (out.raw.startsWith("final") ? { ok: true, output: out.raw.toUpperCase() } : { ok: false, feedback: "too short" }));
    const result = await crew.kickoff({ runId: "r" });
    expect(result.output).toBe("FINAL (WITH FEEDBACK)");
    expect(calls.WRITE).toBe(3);
    const store = crew.store as MemoryStore;
    expect(await store.calls("r", "write")).toHaveLength(3);
    expect((await store.getRun("r"))!.tasks[0]!.usage).toMatchObject({ inputTokens: 30, outputTokens: 15 });
    // Reused as committed: no guardrail, no call.
    const again = await crew.kickoff({ runId: "r" });
    expect(again.tasks[0]!.outcome).toBe("reused");
    expect(calls.WRITE).toBe(3);
  });

  it("fails the task with the last feedback once the retries run out, and a resume asks afresh", async () => {
    const { model, calls } = timedModel({ WRITE: (n) => `draft ${n}` });
    let accept = false;
    const crew = guarded(model, (out) => (accept ? { ok: true } : { ok: false, feedback: `no good: ${out.raw}` }), 1);
    await expect(crew.kickoff({ runId: "r" })).rejects.toThrow(/guardrail refused 2 answer\(s\); last feedback: no good: draft 2/);
    expect(calls.WRITE).toBe(2);
    const store = crew.store as MemoryStore;
    expect((await store.getRun("r"))!.tasks[0]!.status).toBe("failed");
    accept = true;
    const resumed = await crew.kickoff({ runId: "r" });
    expect(resumed.output).toBe("draft 3");
  });

  it("a guardrail that throws or returns nonsense fails the task naming it; a non-function is refused", async () => {
    const { model } = timedModel({ WRITE: () => "t" });
    await expect(guarded(model, () => ({ ok: "maybe" }) as never).kickoff({ runId: "r" })).rejects.toThrow(/guardrail of task "write" returned \{"ok":"maybe"\}/);
    await expect(
      guarded(model, () => {
        throw new Error("kaput");
      }).kickoff({ runId: "r" }),
    ).rejects.toThrow(/guardrail of task "write" threw: kaput/);
    expect(() => new Task({ name: "t", description: "d", expectedOutput: "e", guardrail: 3 as never })).toThrow(/task "t" has a guardrail that is not a function \(got number\)/);
  });
});

describe("output files, callbacks, inputs and types", () => {
  it("writes the output file after the commit, and again on reuse when it is missing or differs", async () => {
    const dir = tempDir();
    const { model, calls } = timedModel({ REPORT: () => "# Report\nall good" });
    const agent = new Agent({ role: "Writer", goal: "Write", backstory: "Terse.", model });
    const report = new Task({ name: "report", description: "REPORT on {topic}", expectedOutput: "markdown", agent, outputFile: path.join(dir, "out", "{topic}.md") });
    const crew = new Crew({ name: "files", tasks: [report], store: new MemoryStore() });
    await crew.kickoff({ runId: "r", inputs: { topic: "claims" } });
    const file = path.join(dir, "out", "claims.md");
    expect(readFileSync(file, "utf8")).toBe("# Report\nall good");
    rmSync(file);
    await crew.kickoff({ runId: "r", inputs: { topic: "claims" } });
    expect(readFileSync(file, "utf8")).toBe("# Report\nall good");
    writeFileSync(file, "tampered");
    await crew.kickoff({ runId: "r", inputs: { topic: "claims" } });
    expect(readFileSync(file, "utf8")).toBe("# Report\nall good");
    expect(calls.REPORT).toBe(1);
  });

  it("refuses a bad output file path before any model call", async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "a-file"), "x");
    mkdirSync(path.join(dir, "a-dir"));
    const { model, calls } = timedModel({ REPORT: () => "r" });
    const agent = new Agent({ role: "Writer", goal: "Write", backstory: "Terse.", model });
    for (const [outputFile, why] of [
      [path.join(dir, "a-file", "x.md"), /is not a folder/],
      [path.join(dir, "a-dir"), /exists and is not a regular file/],
      [`${dir}/`, /names a folder/],
    ] as const) {
      const task = new Task({ name: "report", description: "REPORT", expectedOutput: "m", agent, outputFile });
      await expect(new Crew({ name: "files", tasks: [task], store: new MemoryStore() }).kickoff({ runId: "r" })).rejects.toThrow(why);
    }
    expect(calls.REPORT).toBeUndefined();
  });

  it("calls callbacks before the commit and steps as they finish; a throwing callback fails the task, and the resume replays its answer", async () => {
    const seen: string[] = [];
    const steps: AgentStep[] = [];
    let fail = true;
    const { model, calls } = timedModel({ "TASK-ONE": () => "out-a", "TASK-TWO": () => "out-b" });
    const agent = new Agent({ role: "Worker", goal: "Work", backstory: "Busy.", model });
    const a = new Task({ name: "a", description: "TASK-ONE", expectedOutput: "x", agent, callback: (o) => void seen.push(`task:${o.name}:${o.raw}`) });
    const b = new Task({ name: "b", description: "TASK-TWO", expectedOutput: "x", agent });
    const crew = new Crew({
      name: "cb",
      tasks: [a, b],
      store: new MemoryStore(),
      taskCallback: (o) => {
        if (o.name === "b" && fail) throw new Error("webhook down");
        seen.push(`crew:${o.name}:${o.agent}`);
      },
      stepCallback: (step) => void steps.push(step),
    });
    await expect(crew.kickoff({ runId: "r" })).rejects.toThrow(/the crew's taskCallback of task "b" threw: webhook down/);
    expect(seen).toEqual(["task:a:out-a", "crew:a:Worker"]);
    expect(steps.map((s) => `${s.task}:${s.text}`)).toEqual(["a:out-a", "b:out-b"]);
    expect((await (crew.store as MemoryStore).getRun("r"))!.tasks.find((t) => t.name === "b")!.status).toBe("failed");
    fail = false;
    const resumed = await crew.kickoff({ runId: "r" });
    expect(resumed.calls).toEqual({ made: 0, replayed: 1 });
    expect(calls["TASK-TWO"]).toBe(1);
    // Reused results fire no callback unless callbackOnReuse.
    expect(seen).toEqual(["task:a:out-a", "crew:a:Worker", "crew:b:Worker"]);
  });

  it("takes JSON inputs: interpolated as CrewAI does and hashed canonically", async () => {
    const prompts: string[] = [];
    const { model } = timedModel({ SUM: (_, o) => (prompts.push(firstUserText(o)), "ok") });
    const agent = new Agent({ role: "Clerk", goal: "Add", backstory: "Exact.", model });
    const task = new Task({ name: "sum", description: "SUM {count} items of {order} urgent={urgent} tags={tags}", expectedOutput: "n", agent });
    const crew = new Crew({ name: "json-inputs", tasks: [task], store: new MemoryStore() });
    await crew.kickoff({ runId: "r", inputs: { count: 3, order: { b: 1, a: "x" }, urgent: true, tags: ["x", "y"] } });
    expect(prompts[0]).toContain('SUM 3 items of {"b":1,"a":"x"} urgent=true tags=["x","y"]');
    // The same values with keys in another order are the same inputs: reused.
    const again = await crew.kickoff({ runId: "r", inputs: { tags: ["x", "y"], urgent: true, order: { a: "x", b: 1 }, count: 3 } });
    expect(again.tasks[0]!.outcome).toBe("reused");
    // The number 3 and the text "3" are different inputs.
    const text3 = await crew.kickoff({ runId: "r", inputs: { count: "3", order: { a: "x", b: 1 }, urgent: true, tags: ["x", "y"] } });
    expect(text3.tasks[0]!.outcome).toBe("rerun");
  });

  it("types a task's structured result by its schema", async () => {
    const { model } = timedModel({ FACTS: () => JSON.stringify({ policy: "P-1", amount: 120 }) });
    const agent = new Agent({ role: "Clerk", goal: "Extract", backstory: "Exact.", model });
    const facts = new Task({ name: "facts", description: "FACTS", expectedOutput: "json", agent, output: z.object({ policy: z.string(), amount: z.number() }) });
    const result = await new Crew({ name: "typed", tasks: [facts], store: new MemoryStore() }).kickoff({ runId: "r" });
    const structured = result.get(facts)?.structured;
    // Compiles only because `structured` is typed { policy: string; amount: number } | null.
    const amount: number | undefined = structured?.amount;
    expect(amount).toBe(120);
    expect(existsSync).toBeTypeOf("function");
  });
});

describe("failures after the commit", () => {
  it("an output file that cannot be written fails the run, keeps the result, and is written by the next run once the path is fixed", async () => {
    const dir = tempDir();
    const { model, calls } = timedModel({ REPORT: () => "report text" });
    const agent = new Agent({ role: "Writer", goal: "Write", backstory: "Terse.", model });
    const report = new Task({ name: "report", description: "REPORT", expectedOutput: "m", agent, outputFile: path.join(dir, "out", "report.md") });
    const crew = new Crew({ name: "files", tasks: [report], store: new MemoryStore() });
    // A file appears where the folder must go after the path was checked, while the task runs.
    const blocker = path.join(dir, "out");
    const store = crew.store as MemoryStore;
    const run = crew.kickoff({ runId: "r", onProgress: (e) => e.state === "running" && writeFileSync(blocker, "in the way") });
    await expect(run).rejects.toMatchObject({ code: "OUTPUT_FILE_FAILED" });
    const failed = (await store.getRun("r"))!;
    expect(failed.status).toBe("failed");
    expect(failed.tasks[0]!.status).toBe("completed");
    rmSync(blocker);
    const again = await crew.kickoff({ runId: "r" });
    expect(again.tasks[0]!.outcome).toBe("reused");
    expect(readFileSync(path.join(dir, "out", "report.md"), "utf8")).toBe("report text");
    expect(calls.REPORT).toBe(1);
  });
});
