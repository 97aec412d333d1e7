/**
 * The bad-input contract (DESIGN §4, issue 2 item 7) through the real binary: each mistake gives a
 * non-zero exit, ONE line on stderr naming the culprit, and nothing written — no store created,
 * no stored byte changed, no model call made.
 *
 * Where the kind of module does not matter, the crew module is .js: it loads without the TypeScript
 * loader, ~1 s faster per process. The fixture and the no-Crew-export case use .ts.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { assertBuilt, linesOf, sha256File, testWorkspace, Workspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { HAS_JSON_STORE, JSON_FILE, MODEL, SQLITE, TWO_STEP } from "./crews.js";

/** Holds one completed run, claim-1, of TWO_STEP in a SQLite store. */
let fixture: Workspace;
let crew: string;
let storeUrl: string;

beforeAll(async () => {
  assertBuilt();
  const server = await FakeOpenAI.start();
  fixture = new Workspace();
  crew = fixture.write("crew.ts", TWO_STEP);
  storeUrl = SQLITE.url(fixture);
  const result = await fixture.run(["run", crew, "--run-id", "claim-1", "--input", "notes=Policy PN-1", "--store", storeUrl, ...MODEL], { env: server.env() });
  await server.close();
  expect(result.code, result.stderr).toBe(0);
}, 90_000);
afterAll(() => fixture?.remove());

/**
 * A bug found by these tests, named in the titles of the tests it fails: `crewstate run` opens the
 * store (creating an empty SQLite database) before it loads and checks the inputs, the run ID and
 * the model (src/cli/commands/run.ts opens it, then `kickoff` validates).
 */
const BUG_STORE_FIRST = "";
/** The same for `plan` (src/cli/commands/plan.ts: `withStore` opens the store, then `planRun` validates). */
const BUG_PLAN_STORE_FIRST = "";
/** `show` (like every command) creates a SQLite store, and its folders, at a path that holds none. */
const BUG_READ_CREATES = "";

/**
 * Runs the CLI in `ws` against a fake server of the test's own and checks the contract: non-zero
 * exit, nothing on stdout, exactly one line on stderr containing every `culprit`, the workspace's
 * files byte-identical, no model call. `withServer: false` gives the CLI no OPENAI_* variables.
 */
async function expectRefused(
  context: TestContext,
  ws: Workspace,
  args: string[],
  culprits: string[],
  { withServer = true } = {},
): Promise<CliResult> {
  const server = await FakeOpenAI.forTest(context);
  const before = ws.snapshot();
  const result = await ws.run(args, { env: withServer ? server.env() : {} });
  expect(result.code, `exit code of crewstate ${args.join(" ")}`).not.toBe(0);
  expect(result.signal).toBeNull();
  expect(linesOf(result.stderr), "stderr is one line").toHaveLength(1);
  for (const culprit of culprits) expect(result.stderr).toContain(culprit);
  expect(result.stdout).toBe("");
  expect(server.count(), "model calls").toBe(0);
  const after = ws.snapshot();
  expect(Object.keys(after).sort(), "files in the workspace (no store created)").toEqual(Object.keys(before).sort());
  expect(after, "bytes of the files in the workspace").toEqual(before);
  return result;
}

describe.concurrent("run and plan with bad input write nothing", () => {
  it(`a missing input placeholder names the input and makes 0 model calls${BUG_STORE_FIRST}`, async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    const result = await expectRefused(context, ws, ["run", file, "--run-id", "claim-1", "--store", SQLITE.url(ws), ...MODEL], ["{notes}", "notes"]);
    expect(result.stderr).toContain("analyze_task");
  });

  it(`plan with a missing input placeholder names the input${BUG_PLAN_STORE_FIRST}`, async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["plan", file, "--run-id", "claim-1", "--store", SQLITE.url(ws), ...MODEL], ["{notes}"]);
  });

  it("an unknown store scheme names the store URL", async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["run", file, "--input", "notes=x", "--store", "nosuch:state.db", ...MODEL], ['"nosuch:']);
  });

  it(`a run ID that is not a safe identifier names it and reaches nothing outside the store${BUG_STORE_FIRST}`, async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["run", file, "--run-id", "../etc", "--input", "notes=x", "--store", SQLITE.url(ws), ...MODEL], ['"../etc"']);
  });

  it("a crew module that does not exist is named", async (context) => {
    const ws = testWorkspace(context);
    await expectRefused(context, ws, ["run", "no-such-crew.ts", "--input", "notes=x", "--store", SQLITE.url(ws), ...MODEL], ['"no-such-crew.ts"']);
  });

  it("a crew module without a Crew default export is named", async (context) => {
    const ws = testWorkspace(context);
    ws.write("nocrew.ts", "export const notACrew = 1;\n");
    const result = await expectRefused(context, ws, ["run", "nocrew.ts", "--input", "notes=x", "--store", SQLITE.url(ws), ...MODEL], ['"nocrew.ts"']);
    expect(result.stderr).toMatch(/default export/);
  });

  it(`an unknown model spec is named${BUG_STORE_FIRST}`, async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["run", file, "--input", "notes=x", "--store", SQLITE.url(ws), "--model", "nosuch:gpt-test"], ['"nosuch:gpt-test"']);
  });

  it(`an openai: model with neither OPENAI_API_KEY nor OPENAI_BASE_URL names the missing key${BUG_STORE_FIRST}`, async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["run", file, "--input", "notes=x", "--store", SQLITE.url(ws), ...MODEL], ["OPENAI_API_KEY"], { withServer: false });
  });

  it("an unknown flag is rejected", async (context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    await expectRefused(context, ws, ["run", file, "--input", "notes=x", "--store", SQLITE.url(ws), ...MODEL, "--no-such-flag"], ["--no-such-flag"]);
  });
});

// Not concurrent: a process that has the SQLite file open adds -wal / -shm files next to it, which
// another test's before/after listing of the same workspace would see.
describe("commands on a stored run refuse what the store does not hold, and change nothing", () => {
  it.for([
    ["show", ["show", "no-such-run"]],
    ["output", ["output", "no-such-run", "analyze_task"]],
    ["invalidate", ["invalidate", "no-such-run", "analyze_task"]],
  ] as const)("%s with an unknown run ID names it", async ([, args], context) => {
    const before = sha256File(SQLITE.file(fixture));
    await expectRefused(context, fixture, [...args, "--store", storeUrl], ['"no-such-run"']);
    expect(sha256File(SQLITE.file(fixture))).toBe(before);
  });

  it.for([
    ["output", ["output", "claim-1", "no_such_task"]],
    ["invalidate", ["invalidate", "claim-1", "no_such_task"]],
  ] as const)("%s with an unknown task name names it", async ([, args], context) => {
    await expectRefused(context, fixture, [...args, "--store", storeUrl], ['"no_such_task"']);
  });

  it("show with an unsafe run ID names it", async (context) => {
    await expectRefused(context, fixture, ["show", "../etc", "--store", storeUrl], ['"../etc"']);
  });

  it(`show against a store path that holds no store names the run and creates nothing${BUG_READ_CREATES}`, async (context) => {
    const ws = testWorkspace(context);
    await expectRefused(context, ws, ["show", "claim-1", "--store", `sqlite:${ws.path("typo", "state.db")}`], ['"claim-1"']);
  });
});

describe.skipIf(!HAS_JSON_STORE).concurrent("a corrupt JSON state file", () => {
  // A torn write: the file stops in the middle of a string.
  const torn = '{\n  "crewstate_schema": 1,\n  "journal_seq": 4,\n  "runs": {\n    "claim-1": {\n      "crew": "cli-two-step",\n      "status": "runn';

  it.for([
    ["run", (file: string, url: string) => ["run", file, "--run-id", "claim-1", "--input", "notes=x", "--store", url, ...MODEL]],
    ["show", (_file: string, url: string) => ["show", "claim-1", "--store", url]],
    ["runs", (_file: string, url: string) => ["runs", "--store", url]],
  ] as const)("%s reports it in one line naming the file, exits non-zero, and leaves it byte-identical", async ([, argsOf], context) => {
    const ws = testWorkspace(context);
    const file = ws.write("crew.js", TWO_STEP);
    const state = JSON_FILE.file(ws);
    writeFileSync(state, torn);
    const before = sha256File(state);
    await expectRefused(context, ws, argsOf(file, JSON_FILE.url(ws)), [state]);
    expect(sha256File(state)).toBe(before);
  });
});
