/**
 * What `crewstate run` shows while a crew works, through the real binary: plain lines off a
 * terminal, the live task list on one (emulated with `script`, which gives the child a pty),
 * --quiet, --verbose and --stream, and a SIGKILL in the middle of a streamed answer.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/stores/open.js";
import { assertBuilt, BIN, cliEnv, linesOf, runCli, runCliUntil, testWorkspace, type CliResult, type Workspace } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { MODEL, TWO_STEP, WITH_TOOL } from "./crews.js";

const TIMEOUT = 60_000;
beforeAll(() => assertBuilt());

const PARALLEL = `import { Agent, Crew, Task } from "crewstate";
const agent = new Agent({ role: "Researcher", goal: "Find facts", backstory: "Quick." });
const plan = new Task({ name: "plan", description: "PLAN the research", expectedOutput: "a plan", agent });
const branches = ["a", "b", "c"].map((x) => new Task({ name: "research_" + x, description: "RESEARCH-" + x, expectedOutput: "facts", agent, asyncExecution: true }));
const join = new Task({ name: "join", description: "JOIN the findings", expectedOutput: "a summary", agent });
export default new Crew({ name: "view-parallel", agents: [agent], tasks: [plan, ...branches, join] });
`;

/** Anything but a newline below 0x20, and DEL: what a pipe or a CI log must never get. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;
const COLOR = /\u001b\[\d+(;\d+)*m/;
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

/** The lines between the run's header and its summary: what the view said as the run went. */
function eventLines(stdout: string): string[] {
  const lines = linesOf(stdout);
  const end = lines.findIndex((line) => /^run \S+ (completed|paused)/.test(line));
  expect(end, stdout).toBeGreaterThan(0);
  return lines.slice(1, end).filter((line) => !line.startsWith("model: [demo"));
}

function withTool(context: Parameters<typeof testWorkspace>[0]): Workspace {
  const ws = testWorkspace(context, { link: ["ai", "zod"] });
  ws.write("crew.js", WITH_TOOL);
  return ws;
}

/** Runs the CLI under `script`, so that its stdout is a terminal (80 × 24 unless the pty says otherwise). */
function runOnTerminal(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: options.cwd, env: cliEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

const stripColor = (text: string) => text.replace(/\u001b\[\d+(;\d+)*m/g, "");
/** log-update's redraw: erase the frame's lines, back to column 1. */
const REDRAW = /(?:\u001b\[2K\u001b\[1A)*\u001b\[2K\u001b\[G/;

describe("crewstate run's view", () => {
  it(
    "off a terminal prints one plain line per event, each naming its task, with tool names, arguments, durations and tokens, and no control characters",
    async (context) => {
      const ws = withTool(context);
      const server = await FakeOpenAI.forTest(context);
      server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "HO-1" } }] });
      const result = await runCli(["run", "crew.js", "--run-id", "v1", "--input", "notes=leak", "--store", "memory:", ...MODEL], { cwd: ws.dir, env: server.env() });
      expectOk(result);
      expect(result.stdout).not.toMatch(CONTROL);
      const lines = eventLines(result.stdout);
      for (const line of lines) expect(line).toMatch(/^\[[12]\/2\] (analyze_task|draft_task): /);
      expect(lines).toContain("[2/2] draft_task: tool lookup_policy {\"policy\":\"HO-1\"} started");
      expect(lines.some((l) => /^\[2\/2\] draft_task: tool lookup_policy \{"policy":"HO-1"\} returned in \d+\.\ds$/.test(l)), lines.join("\n")).toBe(true);
      expect(lines.some((l) => /^\[1\/2\] analyze_task: model openai:gpt-test answered in \d+\.\ds · \d+ tokens \(\d+ in, \d+ out\)$/.test(l)), lines.join("\n")).toBe(true);
    },
    TIMEOUT,
  );

  it(
    "marks calls answered from the journal as replayed",
    async (context) => {
      const ws = withTool(context);
      const server = await FakeOpenAI.forTest(context);
      server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "HO-1" } }] });
      const store = `sqlite:${ws.path("state.db")}`;
      const args = ["run", "crew.js", "--run-id", "v2", "--input", "notes=leak", "--store", store, ...MODEL];
      expectOk(await runCli(args, { cwd: ws.dir, env: server.env() }));
      const replay = await runCli(["run", "crew.js", "--run-id", "v2-replay", "--replay-from", "v2", "--input", "notes=leak", "--store", store, ...MODEL], {
        cwd: ws.dir,
        env: server.env(),
      });
      expectOk(replay);
      const lines = eventLines(replay.stdout);
      expect(lines).toContain("[2/2] draft_task: tool lookup_policy {\"policy\":\"HO-1\"} replayed from the journal");
      expect(lines.some((l) => /^\[1\/2\] analyze_task: model openai:gpt-test replayed from the journal · \d+ tokens/.test(l)), lines.join("\n")).toBe(true);
      expect(lines.some((l) => l.includes(" started"))).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "--quiet prints only the result",
    async (context) => {
      const ws = testWorkspace(context);
      ws.write("crew.js", TWO_STEP);
      const server = await FakeOpenAI.forTest(context);
      const result = await runCli(["run", "crew.js", "--quiet", "--input", "notes=leak", "--store", "memory:", ...MODEL], { cwd: ws.dir, env: server.env() });
      expectOk(result);
      expect(result.stdout).toBe(`${server.requests[1]!.answer}\n`);
    },
    TIMEOUT,
  );

  it(
    "--verbose prints each agent's turns in full: task, prompt, answer, tool arguments and results",
    async (context) => {
      const ws = withTool(context);
      const server = await FakeOpenAI.forTest(context);
      server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "HO-1" } }] });
      const result = await runCli(["run", "crew.js", "--verbose", "--input", "notes=leak", "--store", "memory:", ...MODEL], { cwd: ws.dir, env: server.env() });
      expectOk(result);
      expect(result.stdout).not.toMatch(CONTROL);
      const lines = eventLines(result.stdout);
      for (const line of lines) expect(line).toMatch(/^\[[12]\/2\] (analyze_task|draft_task): /);
      const said = (line: string) => expect(lines, result.stdout).toContain(line);
      said("[2/2] draft_task: # Agent: Claims Writer (openai:gpt-test)");
      said("[2/2] draft_task: ## Task: DRAFT a triage note; look the policy up first.");
      said("[1/2] analyze_task: ## Task: ANALYZE the case notes: leak");
      said("[2/2] draft_task: ## Tool Input: {");
      said('[2/2] draft_task:     "policy": "HO-1"');
      said("[2/2] draft_task: ## Tool Output: policy HO-1: active, deductible 500");
      said(`[1/2] analyze_task: ## Answer: ${server.requests[0]!.answer}`);
      said(`[2/2] draft_task: ## Answer: ${server.requests[2]!.answer}`);
      expect(lines.some((l) => l.startsWith("[1/2] analyze_task: ## Prompt: Current Task: ANALYZE the case notes: leak"))).toBe(true);
    },
    TIMEOUT,
  );

  it(
    "on a terminal draws a live list with a line per running task, parallel ones together, and ends on a clean frame; NO_COLOR drops the colors",
    async (context) => {
      const ws = testWorkspace(context);
      ws.write("crew.js", PARALLEL);
      const args = ["run", "crew.js", "--run-id", "tty", "--store", "memory:", "--model", "demo"];
      const colored = await runOnTerminal(args, { cwd: ws.dir, env: { CREWSTATE_DEMO_DELAY_MS: "600" } });
      expect(colored.code, colored.output).toBe(0);
      expect(colored.output).toMatch(COLOR);
      const frames = stripColor(colored.output).split(REDRAW);
      const together = frames.find((frame) => ["research_a", "research_b", "research_c"].every((name) => new RegExp(`^${SPINNER.source} \\[\\d/5\\] ${name} \\d+\\.\\ds`, "m").test(frame)));
      expect(together, colored.output).toBeDefined();
      // The last frame: the live lines are gone; what happened and the summary stay.
      const last = frames[frames.length - 1]!;
      expect(last).not.toMatch(SPINNER);
      expect(last).toMatch(/run tty completed: 5 ran/);
      for (const name of ["plan", "research_a", "research_b", "research_c", "join"]) expect(stripColor(colored.output)).toMatch(new RegExp(`\\] ${name}: done \\(`));

      const plain = await runOnTerminal(["run", "crew.js", "--run-id", "tty2", "--store", "memory:", "--model", "demo"], { cwd: ws.dir, env: { NO_COLOR: "1", CREWSTATE_DEMO_DELAY_MS: "150" } });
      expect(plain.code, plain.output).toBe(0);
      expect(plain.output).not.toMatch(COLOR);
      expect(plain.output).toMatch(/run tty2 completed/);
    },
    TIMEOUT,
  );
});

describe("crewstate run --stream", () => {
  it(
    "prints each answer as it is generated, and the journal holds one entry per call",
    async (context) => {
      const ws = withTool(context);
      const server = await FakeOpenAI.forTest(context);
      server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "HO-1" } }] });
      server.when("ANALYZE", { reply: "Policy HO-1 is active.\nThe loss is covered." });
      const store = `sqlite:${ws.path("state.db")}`;
      const result = await runCli(["run", "crew.js", "--stream", "--run-id", "s1", "--input", "notes=leak", "--store", store, ...MODEL], { cwd: ws.dir, env: server.env() });
      expectOk(result);
      expect(result.stdout).not.toMatch(CONTROL);
      expect(server.requests.every((r) => r.stream)).toBe(true);
      const lines = eventLines(result.stdout);
      expect(lines).toContain("[1/2] analyze_task: │ Policy HO-1 is active.");
      expect(lines).toContain("[1/2] analyze_task: │ The loss is covered.");
      expect(lines).toContain(`[2/2] draft_task: │ ${server.requests[2]!.answer}`);
      const opened = await openStore(store);
      try {
        expect((await opened.calls("s1", "analyze_task")).map((c) => c.position)).toEqual([0]);
        expect((await opened.calls("s1", "draft_task")).map((c) => `${c.position}:${c.kind}`)).toEqual(["0:model", "1:tool", "2:model"]);
        expect((await opened.getRun("s1"))!.tasks.find((t) => t.name === "analyze_task")!.output).toBe("Policy HO-1 is active.\nThe loss is covered.");
      } finally {
        await opened.close();
      }
    },
    TIMEOUT,
  );

  it(
    "a SIGKILL mid-stream loses only that answer's partial text: the resume asks again, completes, and journals each call once",
    async (context) => {
      const ws = withTool(context);
      const server = await FakeOpenAI.forTest(context);
      const slow = Array.from({ length: 40 }, (_, i) => `line ${i}`).join("\n");
      server.when("DRAFT", { toolCalls: [{ name: "lookup_policy", args: { policy: "HO-1" } }], reply: slow, streamDelayMs: 100 });
      const store = `sqlite:${ws.path("state.db")}`;
      const args = ["run", "crew.js", "--stream", "--run-id", "k1", "--input", "notes=leak", "--store", store, ...MODEL];
      const killed = await runCliUntil(args, { cwd: ws.dir, env: server.env(), killWhen: /draft_task: │ line 1\n/ });
      expect(killed.signal).toBe("SIGKILL");
      expect(killed.stdout).not.toMatch(/line 39/);
      const answerRequests = () => server.requests.filter((r) => r.taskPrompt.includes("DRAFT") && r.messages.some((m) => m.role === "tool"));
      expect(answerRequests()).toHaveLength(1);

      let opened = await openStore(store);
      try {
        // The answer being streamed was never journaled; the calls before it were.
        expect((await opened.calls("k1", "draft_task")).map((c) => `${c.position}:${c.kind}`)).toEqual(["0:model", "1:tool"]);
      } finally {
        await opened.close();
      }

      server.reset();
      const resumed = await runCli(args, { cwd: ws.dir, env: server.env() });
      expectOk(resumed);
      expect(answerRequests()).toHaveLength(1); // asked again, once
      expect(server.count("ANALYZE")).toBe(0);
      opened = await openStore(store);
      try {
        const calls = await opened.calls("k1", "draft_task");
        expect(calls.map((c) => `${c.position}:${c.kind}`)).toEqual(["0:model", "1:tool", "2:model"]);
        expect((await opened.getRun("k1"))!.status).toBe("completed");
      } finally {
        await opened.close();
      }
      expect(readFileSync(ws.path("tool-calls.log"), "utf8")).toBe("HO-1\n"); // the tool ran once, across both processes
    },
    TIMEOUT,
  );
});
