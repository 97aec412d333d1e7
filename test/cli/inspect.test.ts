/**
 * What `run` prints, and the read-only commands (`show`, `runs`, `output`, `plan`) through the real
 * binary, on one SQLite store holding two completed runs of the same crew.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, linesOf, sha256File, testWorkspace, Workspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { MODEL, SQLITE, TWO_STEP } from "./crews.js";

/**
 * A bug found here, named in the title of the test it fails: tsx compiles a .ts crew module in a
 * CommonJS package (no "type": "module", the npm default) to CommonJS, so `import … from "crewstate"`
 * becomes a require(), and package.json's "exports" offers only an "import" condition.
 */
const BUG_CJS_PACKAGE = '';

const NOTES = "Policy PN-12345. Kitchen flooded on 2026-01-02 after a pipe burst.";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let server: FakeOpenAI;
let ws: Workspace;
let crew: string;
let store: string;
/** `run --run-id claim-1`, then a `run` without --run-id. */
let named: CliResult;
let unnamed: CliResult;
let generatedId: string;
const answers: Record<string, string> = {};

beforeAll(async () => {
  assertBuilt();
  server = await FakeOpenAI.start();
  ws = new Workspace();
  crew = ws.write("crew.ts", TWO_STEP);
  store = SQLITE.url(ws);
  named = await ws.run(["run", crew, "--run-id", "claim-1", "--input", `notes=${NOTES}`, "--store", store, ...MODEL], { env: server.env() });
  expect(named.code, named.stderr).toBe(0);
  for (const r of server.requests) answers[r.taskPrompt.includes("ANALYZE") ? "analyze_task" : "draft_task"] = r.answer!;
  unnamed = await ws.run(["run", crew, "--input", "notes=Policy PN-2. Hail.", "--store", store, ...MODEL], { env: server.env() });
  expect(unnamed.code, unnamed.stderr).toBe(0);
  generatedId = /^run (\S+) completed/m.exec(unnamed.stdout)?.[1] ?? "";
}, 90_000);
afterAll(async () => {
  await server?.close();
  ws?.remove();
});

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}`).toBe(0);
}

describe("run", () => {
  it("prints each task's progress as [i/n], then the run ID and where the state lives", () => {
    const lines = linesOf(named.stdout);
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
    const progress = [
      /^\[1\/2\] analyze_task: running \(run: new\)$/,
      /^\[1\/2\] analyze_task: done \(1 model\/tool call\(s\), 0 replayed\)$/,
      /^\[2\/2\] draft_task: running \(run: new\)$/,
      /^\[2\/2\] draft_task: done \(1 model\/tool call\(s\), 0 replayed\)$/,
    ].map(at);
    for (const index of progress) expect(index, named.stdout).toBeGreaterThanOrEqual(0);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    const end = at(/^run claim-1 completed: 2 ran, 0 rerun, 0 reused/);
    expect(end).toBeGreaterThan(progress[3]!);
    const stateLine = lines.find((line) => line.startsWith("state: "));
    expect(stateLine).toContain(SQLITE.file(ws));
    expect(named.stdout).toContain(answers.draft_task);
    expect(named.stderr).toBe("");
  });

  it(`loads a .ts crew module that lives in a package without "type": "module"${BUG_CJS_PACKAGE}`, async (context) => {
    const other = testWorkspace(context, { type: "commonjs" });
    const file = other.write("crew.ts", TWO_STEP);
    const result = await other.run(["run", file, "--run-id", "claim-cjs", "--input", "notes=x", "--store", SQLITE.url(other), "--model", "demo"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^run claim-cjs completed/m);
  });

  it("without --run-id generates a run ID and prints it", () => {
    expect(generatedId).toMatch(/^cli-two-step-\d{8}T\d{6}-[0-9a-f]{4}$/);
    expect(unnamed.stdout).toContain(`crewstate show ${generatedId}`);
  });
});

describe("show", () => {
  it("--json prints { runId, crew, status, tasks: [{ name, status, inputHash, output, startedAt, completedAt, attempts, error }] }", async () => {
    const result = await ws.run(["show", "claim-1", "--json", "--store", store]);
    expectOk(result);
    const run = JSON.parse(result.stdout) as Record<string, unknown> & { tasks: Record<string, unknown>[] };
    expect(run).toMatchObject({ runId: "claim-1", crew: "cli-two-step", status: "completed" });
    expect(run.tasks.map((t) => t.name)).toEqual(["analyze_task", "draft_task"]);
    for (const task of run.tasks) {
      expect(task).toMatchObject({ status: "completed", attempts: 1, error: null, output: answers[task.name as string] });
      expect(task.inputHash).toMatch(/^[0-9a-f]{64}$/);
      expect(task.startedAt).toMatch(ISO);
      expect(task.completedAt).toMatch(ISO);
      expect(Date.parse(task.completedAt as string)).toBeGreaterThanOrEqual(Date.parse(task.startedAt as string));
    }
    expect(run.tasks[0]!.inputHash).not.toBe(run.tasks[1]!.inputHash);
  });

  it("prints a readable table by default", async () => {
    const result = await ws.run(["show", "claim-1", "--store", store]);
    expectOk(result);
    expect(result.stdout).toMatch(/^run claim-1 .*cli-two-step.*completed/m);
    expect(result.stdout).toMatch(/^TASK\s+STATUS\s+AGENT\s+MODEL\s+TIME\s+TOKENS\s+COST\s+OUTPUT$/m);
    expect(result.stdout).toMatch(/^analyze_task\s+completed\s+Claims Researcher\s+openai:gpt-test\s/m);
    expect(result.stdout).toMatch(/^draft_task\s+completed\s+Claims Researcher\s+openai:gpt-test\s/m);
  });

  it("--wide adds attempts, worker and token, and the input hash", async () => {
    const result = await ws.run(["show", "claim-1", "--wide", "--store", store]);
    expectOk(result);
    expect(result.stdout).toMatch(/^TASK\s+STATUS\s+AGENT\s+MODEL\s+ATTEMPTS\s+WORKER #TOKEN\s+INPUT HASH/m);
    expect(result.stdout).toMatch(/^analyze_task\s+completed\s+Claims Researcher\s+openai:gpt-test\s+1\s/m);
  });
});

describe("runs --json", () => {
  it("lists every run with its crew, status and task counts", async () => {
    const result = await ws.run(["runs", "--json", "--store", store]);
    expectOk(result);
    const runs = JSON.parse(result.stdout) as { runId: string; crew: string; status: string; taskCount: number; completedCount: number }[];
    expect(runs.map((r) => r.runId).sort()).toEqual(["claim-1", generatedId].sort());
    for (const run of runs) expect(run).toMatchObject({ crew: "cli-two-step", status: "completed", taskCount: 2, completedCount: 2 });
  });
});

describe("output", () => {
  it("prints exactly the task's stored output", async () => {
    const result = await ws.run(["output", "claim-1", "analyze_task", "--store", store]);
    expectOk(result);
    expect(result.stdout).toBe(`${answers.analyze_task}\n`);
  });
});

describe("plan", () => {
  it("says per task what a run would do and why, without calling the model or writing anything", async () => {
    server.reset();
    const before = sha256File(SQLITE.file(ws));
    const plan = (runId: string, notes: string) => ws.run(["plan", crew, "--run-id", runId, "--input", `notes=${notes}`, "--store", store, ...MODEL], { env: server.env() });
    const [same, changed, fresh] = await Promise.all([plan("claim-1", NOTES), plan("claim-1", `${NOTES} Also the hallway.`), plan("claim-new", NOTES)]);
    for (const result of [same, changed, fresh]) expectOk(result);

    expect(same.stdout).toMatch(/^analyze_task\s+reuse$/m);
    expect(same.stdout).toMatch(/^draft_task\s+reuse$/m);

    expect(changed.stdout).toMatch(/^analyze_task\s+rerun: stale because input notes changed$/m);
    expect(changed.stdout).toMatch(/^draft_task\s+run: analyze_task will run first/m);

    expect(fresh.stdout).toMatch(/^plan for run claim-new \(new run\)/m);
    expect(fresh.stdout).toMatch(/^analyze_task\s+run: new$/m);
    expect(fresh.stdout).toMatch(/^draft_task\s+run: new$/m);

    expect(server.count()).toBe(0);
    expect(sha256File(SQLITE.file(ws))).toBe(before);
  });
});
