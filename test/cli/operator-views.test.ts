/**
 * What an operator reads: `runs` counts the crew's tasks, `show` follows the crew's order and fits
 * the terminal, `plan` says who invalidated a result and needs no API key, a failed cassette replay
 * says what the recording lacks. Through the real binary, one workspace and SQLite store per test.
 */
import { describe, expect, it } from "vitest";
import { assertBuilt, linesOf, testWorkspace } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { MODEL, SQLITE, TWO_STEP } from "./crews.js";

const TIMEOUT = 120_000;

/** Five tasks in a chain: STEP1 … STEP5. */
const FIVE = `import { Agent, Task, Crew } from "crewstate";
const agent = new Agent({ role: "Claims Handler", goal: "Triage claims", backstory: "You handle insurance claims." });
const tasks = [1, 2, 3, 4, 5].map((i) => new Task({ name: "step" + i, description: "STEP" + i + " of the claim {notes}", expectedOutput: "A line.", agent }));
export default new Crew({ name: "five", agents: [agent], tasks });
`;

async function setup(context: Parameters<typeof testWorkspace>[0], module: string) {
  assertBuilt();
  const server = await FakeOpenAI.forTest(context);
  const ws = testWorkspace(context);
  const crew = ws.write("crew.ts", module);
  const store = ["--store", SQLITE.url(ws)];
  return { server, ws, crew, store };
}

describe("runs", () => {
  it("counts done of the crew's tasks: an interrupted 5-task run with 2 done shows 2/5", { timeout: TIMEOUT }, async (context) => {
    const { server, ws, crew, store } = await setup(context, FIVE);
    server.when("STEP3", { delayMs: "forever" });
    const cli = ws.start(["run", crew, "--run-id", "five-1", "--input", "notes=N", ...store, ...MODEL], { env: server.env() });
    await server.waitFor("STEP3");
    cli.kill("SIGKILL");
    await cli.done;
    const json = await ws.run(["runs", "--json", ...store]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject([{ runId: "five-1", taskCount: 5, completedCount: 2 }]);
    const text = await ws.run(["runs", ...store]);
    expect(text.stdout).toMatch(/^five-1\s+five\s+running\s+2\/5\s/m);
  });
});

describe("show, plan and invalidate", () => {
  it("show lists tasks in the crew's order after an invalidate and rerun, fits 100 columns, names model and endpoint; plan says who invalidated", { timeout: TIMEOUT }, async (context) => {
    const { server, ws, crew, store } = await setup(context, TWO_STEP);
    const run = () => ws.run(["run", crew, "--run-id", "c-1", "--input", "notes=Policy PN-1. Flooded kitchen.", ...store, ...MODEL], { env: server.env() });
    expect((await run()).code).toBe(0);
    const invalidated = await ws.run(["invalidate", "c-1", "analyze_task", ...store]);
    expect(invalidated.code, invalidated.stderr).toBe(0);

    const plan = await ws.run(["plan", crew, "--run-id", "c-1", "--input", "notes=Policy PN-1. Flooded kitchen.", ...store, ...MODEL]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^analyze_task\s+run: invalidated by \S+@\S+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m);
    expect(plan.stdout).not.toMatch(/run: new/);

    expect((await run()).code).toBe(0);
    const shown = await ws.run(["show", "c-1", ...store]);
    expect(shown.code, shown.stderr).toBe(0);
    const lines = linesOf(shown.stdout);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(shown.stdout).toMatch(new RegExp(`^model: openai:gpt-test at 127\\.0\\.0\\.1:${server.port}$`, "m"));
    expect(shown.stdout).toMatch(/^TASK\s+STATUS\s+AGENT\s+MODEL\s+TIME\s+TOKENS\s+COST\s+OUTPUT$/m);
    expect(shown.stdout).not.toMatch(/WORKER|INPUT HASH/);
    const rows = lines.filter((l) => /^(analyze|draft)_task\s/.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(["analyze_task", "draft_task"]);
    expect(rows[0]).toMatch(/^analyze_task\s+completed\s+Claims Researcher\s+openai:gpt-test\s+\S+\s+\d+\s+\S+\s+answer-/);

    const json = JSON.parse((await ws.run(["show", "c-1", "--json", ...store])).stdout) as { tasks: { name: string }[] };
    expect(json.tasks.map((t) => t.name)).toEqual(["analyze_task", "draft_task"]);

    const wide = await ws.run(["show", "c-1", "--wide", ...store]);
    expect(wide.stdout).toMatch(/^TASK\s+STATUS\s+AGENT\s+MODEL\s+ATTEMPTS\s+WORKER #TOKEN\s+INPUT HASH/m);
  });

  it("plan --model openai:… needs no API key: it calls nothing", { timeout: TIMEOUT }, async (context) => {
    const { ws, crew, store } = await setup(context, TWO_STEP);
    const plan = await ws.run(["plan", crew, "--run-id", "p-1", "--input", "notes=N", ...store, "--model", "openai:gpt-4o-mini"]);
    expect(plan.stderr).toBe("");
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^analyze_task\s+run: new$/m);
  });
});

describe("run --replay-from", () => {
  it("a miss says what the recording lacks — task, position, request — not to run again with the same run ID", { timeout: TIMEOUT }, async (context) => {
    const { server, ws, crew, store } = await setup(context, TWO_STEP);
    const run = (runId: string, notes: string, extra: string[] = []) =>
      ws.run(["run", crew, "--run-id", runId, "--input", `notes=${notes}`, ...store, ...MODEL, ...extra], { env: server.env() });
    expect((await run("tape-a", "Policy PN-8; water damage.")).code).toBe(0);
    const miss = await run("tape-b", "Policy PN-8; fire.", ["--replay-from", "tape-a"]);
    expect(miss.code).not.toBe(0);
    const lines = linesOf(miss.stderr);
    expect(lines, miss.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/task "analyze_task"/);
    expect(lines[0]).toMatch(/model call at position 0 \(request [0-9a-f]{12}\)/);
    expect(lines[0]).toMatch(/different request there/);
    expect(lines[0]).toMatch(/run "tape-a" recorded no answer/);
    expect(lines[0]).not.toMatch(/run again with the same run ID/);
  });
});
