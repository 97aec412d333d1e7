/**
 * The durable agent loop through the real binary (issue 4, item 6), counted at a fake
 * OpenAI-compatible server: a SIGKILL inside a loop of five tool calls resumes with exactly the
 * calls that had not answered; a 429 is retried with backoff and recorded; a token budget holds
 * across restarts; a cassette replay touches no network; the ledger adds up to what the server
 * reported. Every run uses the SQLite store in a throwaway workspace and a plain .js crew module
 * (no TypeScript loader: faster). The tests run concurrently (the work happens in child processes);
 * where two tests look at one scenario, it runs once and both await it.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { assertBuilt, linesOf, runCliUntil, testWorkspace, Workspace, type CliResult } from "../support/cli.js";
import { answerFor, FakeOpenAI, type FakeRequest } from "../support/fake-openai.js";
import { MODEL, SQLITE, TOOL_LOOP, toolLoopResult, TWO_STEP, WITH_TOOL } from "./crews.js";

/** Several CLI processes per test, slower when the tests share two loaded cores. */
const TIMEOUT = 90_000;

beforeAll(() => assertBuilt());

interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
}

interface ShowJson {
  status: string;
  error: string | null;
  tasks: { name: string; status: string; attempts: number; output: string | null; error: string | null; usage: TokenUsage | null }[];
  ledger: { spent: TokenUsage; saved: TokenUsage };
  events?: { seq: number; type: string; task: string | null; data: Record<string, unknown> | null }[];
}

interface RunJson {
  status: string;
  outputs: Record<string, string>;
  usage: TokenUsage;
  saved: TokenUsage;
  calls: { made: number; replayed: number };
  tasks: { name: string; outcome: string }[];
}

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

function expectFailed(result: CliResult): void {
  expect(result.signal, `signal; stderr:\n${result.stderr}`).toBeNull();
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).not.toBe(0);
}

/** The text after the CLI's closing `--- <task> ---` header: the crew's final output. */
function finalOutput(stdout: string): string {
  const at = stdout.lastIndexOf("\n--- ");
  expect(at, `no final output in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  return linesOf(stdout.slice(at + 1)).slice(1).join("\n");
}

function parse<T>(result: CliResult): T {
  expectOk(result);
  return JSON.parse(result.stdout) as T;
}

/** Tool results the request carries back to the model. */
const toolResultsIn = (r: FakeRequest) => r.messages.filter((m) => m.role === "tool").length;

/** The policies a request's answer asked the tool to look up. */
const askedFor = (r: FakeRequest) => r.toolCalls?.map((c) => String(c.args.policy)) ?? null;

/** Input and output tokens the server reported for these requests, priced like `openai:gpt-4o-mini` ($0.15 / $0.60 per million). */
function reported(requests: FakeRequest[]): { inputTokens: number; outputTokens: number; costUsd: number } {
  const answered = requests.filter((r) => r.usage !== null);
  const inputTokens = answered.reduce((n, r) => n + r.usage!.promptTokens, 0);
  const outputTokens = answered.reduce((n, r) => n + r.usage!.completionTokens, 0);
  return { inputTokens, outputTokens, costUsd: (inputTokens * 0.15 + outputTokens * 0.6) / 1_000_000 };
}

function readLog(ws: Workspace): string[] {
  try {
    return linesOf(readFileSync(ws.path("tool-calls.log"), "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** A URL on 127.0.0.1 where nothing listens. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/v1`;
}

/** A fresh server, and a workspace (kept when the test fails) holding the crew module as crew.js. */
async function setup(context: TestContext, crewSource: string, link: string[] = []) {
  const server = await FakeOpenAI.forTest(context);
  const ws = testWorkspace(context, { link });
  const crew = ws.write("crew.js", crewSource);
  const store = ["--store", SQLITE.url(ws)];
  return { server, ws, crew, store };
}

/**
 * A scenario that several tests inspect: built once, on first use, with a server and workspace of
 * its own; both are dropped after the file's tests, the workspace kept if a test that used it failed.
 */
function sharedScenario<T>(link: string[], build: (server: FakeOpenAI, ws: Workspace) => Promise<T>) {
  let built: Promise<{ server: FakeOpenAI; ws: Workspace; result: T }> | undefined;
  let failed = false;
  afterAll(async () => {
    if (!built) return;
    const { server, ws } = await built.catch(() => ({ server: undefined, ws: undefined }));
    await server?.close();
    if (ws && failed) process.stderr.write(`kept the workspace of a failed scenario: ${ws.dir}\n`);
    else ws?.remove();
  });
  return async (context: TestContext) => {
    context.onTestFailed(() => {
      failed = true;
    });
    built ??= (async () => {
      const server = await FakeOpenAI.start();
      const ws = new Workspace({ link });
      return { server, ws, result: await build(server, ws) };
    })();
    return built;
  };
}

const POLICIES = ["PN-1", "PN-2", "PN-3", "PN-4", "PN-5"];
const PRICED_MODEL = ["--model", "openai:gpt-4o-mini"];

/**
 * The crash scenario: `investigate_task`'s model asks for one `lookup_policy` call per round,
 * PN-1 … PN-5, then answers. The 4th model request (the one carrying the 3rd tool result) hangs,
 * and the CLI is SIGKILLed once the server has it; then the same run is resumed and shown.
 */
const crashScenario = sharedScenario(["ai", "zod"], async (server, ws) => {
  const crew = ws.write("crew.js", TOOL_LOOP);
  const store = ["--store", SQLITE.url(ws)];
  const args = ["run", crew, "--run-id", "loop-1", "--input", "notes=Policies PN-1 to PN-5; storm damage.", ...store, ...PRICED_MODEL];
  const hangs = (r: FakeRequest) => r.taskPrompt.includes("INVESTIGATE") && toolResultsIn(r) === 3;
  server.when("INVESTIGATE", { toolCalls: (round) => [{ name: "lookup_policy", args: { policy: POLICIES[round]! } }], toolRounds: 5 });
  server.when(hangs, { delayMs: "forever", times: 1 });

  const killed = await runCliUntil(args, {
    cwd: ws.dir,
    env: server.env(),
    killWhen: /\[1\/1\] investigate_task: running/,
    beforeKill: () => server.waitFor(hangs),
  });
  const beforeResume = server.requests.map((r) => ({ ...r }));
  const logAtKill = readLog(ws);
  const resumed = await ws.run(args, { env: server.env() });
  const afterResume = server.requests.slice(beforeResume.length);
  const show = await ws.run(["show", "loop-1", "--json", ...store]);
  return { killed, beforeResume, logAtKill, resumed, afterResume, logAtEnd: readLog(ws), show };
});

/** A 429 on the first task's first call, then success; the run shown with its events. */
const retryScenario = sharedScenario([], async (server, ws) => {
  const crew = ws.write("crew.js", TWO_STEP);
  const store = ["--store", SQLITE.url(ws)];
  server.when("ANALYZE", { fail: 429, times: 1 });
  const run = await ws.run(["run", crew, "--run-id", "retry-1", "--input", "notes=Policy PN-9; hail.", ...store, ...PRICED_MODEL], { env: server.env() });
  const show = await ws.run(["show", "retry-1", "--json", "--events", ...store]);
  return { run, show, requests: [...server.requests] };
});

describe.concurrent("the durable agent loop through the CLI, on the sqlite store", () => {
  it("SIGKILL after the 3rd of 5 tool calls, then resume: only the 4th, 5th and final model calls reach the server, the tool runs 5 times in all", { timeout: TIMEOUT }, async (context) => {
    const { result: s } = await crashScenario(context);
    expect(s.killed.signal).toBe("SIGKILL");
    expect(s.killed.stdout).not.toMatch(/completed/);

    // Before the kill: three tool-call rounds answered, the 4th request in flight.
    expect(s.beforeResume).toHaveLength(4);
    expect(s.beforeResume.map((r) => r.status)).toEqual([200, 200, 200, null]);
    expect(s.beforeResume.map(askedFor)).toEqual([["PN-1"], ["PN-2"], ["PN-3"], null]);
    expect(s.beforeResume.map(toolResultsIn)).toEqual([0, 1, 2, 3]);
    expect(s.logAtKill).toEqual(["PN-1", "PN-2", "PN-3"]);

    // The resume: exactly the remaining model calls, the first of them the very request that hung.
    expectOk(s.resumed);
    expect(s.afterResume.map(toolResultsIn)).toEqual([3, 4, 5]);
    expect(s.afterResume.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(s.afterResume.map(askedFor)).toEqual([["PN-4"], ["PN-5"], null]);
    expect(s.afterResume[0]!.messages).toEqual(s.beforeResume[3]!.messages);
    expect(s.logAtEnd).toEqual(POLICIES); // PN-1..3 before the kill, PN-4..5 after: 5 executions, none repeated
    expect(s.resumed.stdout).toContain("[1/1] investigate_task: running (run: interrupted");
    // 3 model calls and 2 tool calls made; 3 model answers and 3 tool results replayed.
    expect(s.resumed.stdout).toContain("[1/1] investigate_task: done (5 model/tool call(s), 6 replayed)");

    // The answer is the one a model gives after all five lookups, in order.
    const expected = answerFor(s.beforeResume[0]!.lastUserMessage, POLICIES.map(toolLoopResult));
    expect(s.afterResume[2]!.answer).toBe(expected);
    expect(finalOutput(s.resumed.stdout)).toBe(expected);
    const shown = parse<ShowJson>(s.show);
    expect(shown.status).toBe("completed");
    expect(shown.tasks.map((t) => [t.name, t.status, t.output])).toEqual([["investigate_task", "completed", expected]]);
  });

  it("ledger: spent is the usage the server reported across the crash, saved is the replayed calls' tokens", { timeout: TIMEOUT }, async (context) => {
    const { result: s } = await crashScenario(context);
    const { ledger } = parse<ShowJson>(s.show);
    const all = [...s.beforeResume, ...s.afterResume];
    const spent = reported(all); // the hung request was never answered: it reported nothing
    expect(all.filter((r) => r.usage !== null)).toHaveLength(6);
    expect(spent.inputTokens).toBeGreaterThan(0);
    expect(ledger.spent.inputTokens).toBe(spent.inputTokens);
    expect(ledger.spent.outputTokens).toBe(spent.outputTokens);
    expect(ledger.spent.costUsd).toBeCloseTo(spent.costUsd, 12);

    const saved = reported(s.beforeResume.slice(0, 3)); // the three model answers the resume replayed
    expect(saved.inputTokens).toBeGreaterThan(0);
    expect(ledger.saved.inputTokens).toBe(saved.inputTokens);
    expect(ledger.saved.outputTokens).toBe(saved.outputTokens);
    expect(ledger.saved.costUsd).toBeCloseTo(saved.costUsd, 12);
    expect(s.resumed.stdout).toContain(`saved by replay: ${saved.inputTokens + saved.outputTokens} tokens ($${saved.costUsd.toFixed(4)})`);
    // What the resuming process itself paid for: its three live calls.
    const live = reported(s.afterResume);
    expect(s.resumed.stdout).toContain(`tokens in ${live.inputTokens} / out ${live.outputTokens}`);
  });

  it("ledger: the task's own total in show counts its calls from before the crash, so tasks add up to the run", { timeout: TIMEOUT }, async (context) => {
    const { result: s } = await crashScenario(context);
    const shown = parse<ShowJson>(s.show);
    const spent = reported([...s.beforeResume, ...s.afterResume]);
    expect(shown.tasks[0]!.usage?.inputTokens).toBe(spent.inputTokens);
    expect(shown.tasks[0]!.usage?.outputTokens).toBe(spent.outputTokens);
  });

  it("a 429 then success is retried after a backoff and recorded: attempts = 2 and a task_retry event", { timeout: TIMEOUT }, async (context) => {
    const { result: s } = await retryScenario(context);
    expectOk(s.run);
    const announced = /\[1\/2\] analyze_task: failed, retrying: .*rate limit.*\(retrying in (\d+) ms\)/.exec(s.run.stdout);
    expect(announced, s.run.stdout).not.toBeNull();
    const wait = Number(announced![1]);
    expect(s.requests.map((r) => [r.taskPrompt.includes("ANALYZE") ? "analyze" : "draft", r.status])).toEqual([
      ["analyze", 429],
      ["analyze", 200],
      ["draft", 200],
    ]);
    // The first backoff is base × 2^0 = 500 ms with jitter down to half, and the retry waited it out.
    expect(wait).toBeGreaterThanOrEqual(250);
    expect(wait).toBeLessThanOrEqual(500);
    expect(s.requests[1]!.at - s.requests[0]!.at).toBeGreaterThanOrEqual(wait);

    const shown = parse<ShowJson>(s.show);
    expect(shown.status).toBe("completed");
    expect(shown.tasks.map((t) => [t.name, t.status, t.attempts])).toEqual([
      ["analyze_task", "completed", 2],
      ["draft_task", "completed", 1],
    ]);
    const analyzeEvents = shown.events!.filter((e) => e.task === "analyze_task").map((e) => [e.type, e.data?.attempt ?? null]);
    expect(analyzeEvents).toEqual([
      ["task_started", 1],
      ["task_retry", 2],
      ["task_completed", null],
    ]);
    // The rate-limited call reported no usage and costs nothing; the two answers are the whole spend.
    const spent = reported(s.requests);
    expect(shown.ledger.spent.inputTokens).toBe(spent.inputTokens);
    expect(shown.ledger.spent.outputTokens).toBe(spent.outputTokens);
  });

  it("the task_retry event carries the error of the attempt that failed, the 429", { timeout: TIMEOUT }, async (context) => {
    const { result: s } = await retryScenario(context);
    const shown = parse<ShowJson>(s.show);
    const retry = shown.events!.find((e) => e.type === "task_retry" && e.task === "analyze_task");
    expect(retry, "a task_retry event").toBeDefined();
    expect(JSON.stringify(retry!.data)).toMatch(/429|rate limit/i);
  });

  it("a token budget holds across restarts: refused before the second task, again with 0 calls, then finished with a larger budget", { timeout: TIMEOUT }, async (context) => {
    const { server, ws, crew, store } = await setup(context, TWO_STEP);
    const budget = 50;
    const args = (maxTokens: number) => ["run", crew, "--run-id", "budget-1", "--input", "notes=Policy PN-3; fire.", ...store, ...MODEL, "--max-tokens", String(maxTokens)];

    const first = await ws.run(args(budget), { env: server.env() });
    expectFailed(first);
    expect(server.count("ANALYZE")).toBe(1);
    expect(server.count("DRAFT")).toBe(0);
    const analysis = server.requests[0]!;
    // The budget lets the first task's call through (nothing spent yet) and is used up by it.
    expect(analysis.usage!.promptTokens + analysis.usage!.completionTokens).toBeGreaterThanOrEqual(budget);
    const firstLines = linesOf(first.stderr);
    expect(firstLines, first.stderr).toHaveLength(1);
    expect(firstLines[0]).toMatch(/draft_task/);
    expect(firstLines[0]).toMatch(new RegExp(`over its budget \\(\\d+ tokens spent of a budget of ${budget}\\)`));

    const second = await ws.run(args(budget), { env: server.env() });
    expectFailed(second);
    expect(server.count()).toBe(1); // no new request: the budget was spent in the first process
    expect(second.stdout).toContain("[1/2] analyze_task: reused");
    const secondLines = linesOf(second.stderr);
    expect(secondLines, second.stderr).toHaveLength(1);
    expect(secondLines[0]).toMatch(new RegExp(`draft_task.*over its budget \\(${analysis.usage!.promptTokens + analysis.usage!.completionTokens} tokens spent of a budget of ${budget}\\)`));

    // The run stopped as failed, with what was done kept.
    const stopped = parse<ShowJson>(await ws.run(["show", "budget-1", "--json", ...store]));
    expect(stopped.status).toBe("failed");
    expect(stopped.error).toMatch(/over its budget/);
    expect(stopped.tasks.map((t) => [t.name, t.status])).toEqual([
      ["analyze_task", "completed"],
      ["draft_task", "failed"],
    ]);
    expect(stopped.tasks[0]!.output).toBe(analysis.answer);
    expect(stopped.ledger.spent.inputTokens + stopped.ledger.spent.outputTokens).toBe(analysis.usage!.promptTokens + analysis.usage!.completionTokens);

    const third = await ws.run(args(1_000_000), { env: server.env() });
    expectOk(third);
    expect(server.count("ANALYZE")).toBe(1);
    expect(server.count("DRAFT")).toBe(1);
    expect(third.stdout).toContain("[1/2] analyze_task: reused");
    expect(third.stdout).toMatch(/run budget-1 completed/);
    expect(server.requests[1]!.taskPrompt).toContain(analysis.answer!); // the first task's stored output is the draft's context
    expect(finalOutput(third.stdout)).toBe(server.requests[1]!.answer);
  });

  it("cassette: --replay-from reruns a finished run with the same outputs and 0 requests, even with no server and no key; different inputs fail naming task and position", { timeout: TIMEOUT }, async (context) => {
    const { server, ws, crew, store } = await setup(context, WITH_TOOL, ["ai", "zod"]);
    server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "PN-8" } }], toolRounds: 1 });
    const notes = "notes=Policy PN-8; water damage in the basement.";
    const run = (runId: string, extra: string[], env: Record<string, string | undefined>, input = notes) =>
      ws.run(["run", crew, "--run-id", runId, "--input", input, ...store, ...MODEL, "--json", ...extra], { env });

    const recorded = parse<RunJson>(await run("tape-a", [], server.env()));
    expect(recorded.status).toBe("completed");
    expect(server.count()).toBe(3); // analyze; draft's tool-call round and its answer
    expect(readLog(ws)).toEqual(["PN-8"]);
    expect(recorded.outputs.draft_task).toBe(server.requests[2]!.answer);

    const replay = parse<RunJson>(await run("tape-b", ["--replay-from", "tape-a"], server.env()));
    expect(server.count()).toBe(3);
    expect(readLog(ws)).toEqual(["PN-8"]); // the tool is not run again either
    expect(replay.status).toBe("completed");
    expect(replay.outputs).toEqual(recorded.outputs);
    expect(replay.calls).toEqual({ made: 0, replayed: 4 });
    expect(replay.usage).toMatchObject({ inputTokens: 0, outputTokens: 0 });
    expect(replay.saved).toMatchObject({ inputTokens: recorded.usage.inputTokens, outputTokens: recorded.usage.outputTokens });

    const offline = parse<RunJson>(await run("tape-c", ["--replay-from", "tape-a"], { OPENAI_BASE_URL: await closedPortUrl(), OPENAI_API_KEY: undefined }));
    expect(offline.outputs).toEqual(recorded.outputs);
    expect(offline.calls).toEqual({ made: 0, replayed: 4 });
    expect(server.count()).toBe(3);
    expect(readLog(ws)).toEqual(["PN-8"]);

    const miss = await run("tape-d", ["--replay-from", "tape-a"], server.env(), "notes=Policy PN-8; fire in the garage.");
    expectFailed(miss);
    expect(server.count()).toBe(3);
    const lines = linesOf(miss.stderr);
    expect(lines, miss.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/task "analyze_task"/);
    expect(lines[0]).toMatch(/position 0\b/);
    expect(lines[0]).toMatch(/no recorded answer/);
  });
});
