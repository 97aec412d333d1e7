/**
 * Every CLI error is exactly one line, even when the name at fault holds a newline, a carriage
 * return, an escape sequence or a Unicode line separator: user-given names are JSON-quoted in
 * messages (`quote()` in src/errors.ts), and no raw control character reaches the terminal. A crew
 * module that ends the process itself (`process.exit(3)`) or never settles says so on one line too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, testWorkspace, Workspace, type CliResult } from "../support/cli.js";

/** A name built to break lines and terminals. */
const HOSTILE = "x\ny\rz\u001b[31mw\u2028v\u0007u";
const ESCAPED = JSON.stringify(HOSTILE).slice(1, 12); // x\ny\rz\u001b — what the message shows

const CREW = `import { Agent, Task, Crew } from "crewstate";
const agent = new Agent({ role: "r", goal: "g", backstory: "b" });
export default new Crew({ name: "names", agents: [agent], tasks: [new Task({ name: "t", description: "Say hello", expectedOutput: "x", agent })] });
`;

/** Holds run r1 (task t completed) in a SQLite store. */
let fixture: Workspace;
let crew: string;
let store: string[];

beforeAll(async () => {
  assertBuilt();
  fixture = new Workspace({ prefix: "crewstate-names-" });
  crew = fixture.write("crew.js", CREW);
  store = ["--store", `sqlite:${fixture.path("state.db")}`];
  const result = await fixture.run(["run", crew, "--run-id", "r1", "--model", "demo", ...store]);
  expect(result.code, result.stderr).toBe(0);
}, 60_000);
afterAll(() => fixture?.remove());

/** One line ending in \n, and no other control character (nor U+2028/2029) anywhere. */
function expectOneLine(result: CliResult): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.stderr.endsWith("\n"), result.stderr).toBe(true);
  expect(result.stderr.slice(0, -1), "stderr is one line without control characters").not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  expect(result.stderr).toMatch(/^crewstate: /);
}

const CASES: { name: string; args: () => string[] }[] = [
  { name: "run <module>", args: () => ["run", HOSTILE, ...store] },
  { name: "run --run-id", args: () => ["run", crew, "--run-id", HOSTILE, "--model", "demo", ...store] },
  { name: "run --input <key>=v", args: () => ["run", crew, "--input", `${HOSTILE}=v`, ...store] },
  { name: "run --input k=@<file>", args: () => ["run", crew, "--input", `k=@${HOSTILE}`, ...store] },
  { name: "run --inputs <file>", args: () => ["run", crew, "--inputs", HOSTILE, ...store] },
  { name: "run --store <url>", args: () => ["run", crew, "--model", "demo", "--store", `bogus${HOSTILE}:x`] },
  { name: "run --model", args: () => ["run", crew, "--model", HOSTILE, ...store] },
  { name: "run --max-tokens", args: () => ["run", crew, "--max-tokens", HOSTILE, ...store] },
  { name: "plan --run-id", args: () => ["plan", crew, "--run-id", HOSTILE, ...store] },
  { name: "show <run-id>", args: () => ["show", HOSTILE, ...store] },
  { name: "show --store <missing file>", args: () => ["show", "r1", "--store", `sqlite:${fixture.path(`${HOSTILE}.db`)}`] },
  { name: "output <run-id>", args: () => ["output", HOSTILE, "t", ...store] },
  { name: "output r1 <task>", args: () => ["output", "r1", HOSTILE, ...store] },
  { name: "invalidate r1 <task>", args: () => ["invalidate", "r1", HOSTILE, ...store] },
  { name: "edit r1 <task>", args: () => ["edit", "r1", HOSTILE, "--text", "y", ...store] },
  { name: "edit --file <file>", args: () => ["edit", "r1", "t", "--file", HOSTILE, ...store] },
  { name: "approve r1 <task>", args: () => ["approve", "r1", HOSTILE, ...store] },
  { name: "export <run-id>", args: () => ["export", HOSTILE, ...store] },
  { name: "import <file>", args: () => ["import", HOSTILE, ...store] },
  { name: "migrate --from <url>", args: () => ["migrate", "--from", `sqlite:${fixture.path(HOSTILE)}`, "--to", `json:${fixture.path("copy.json")}`] },
  { name: "enqueue --store <url>", args: () => ["enqueue", crew, "--store", `sqlite:${fixture.path(HOSTILE)}`] },
  { name: "worker --concurrency", args: () => ["worker", crew, "--concurrency", HOSTILE, ...store] },
  { name: "feedback <run-id>", args: () => ["feedback", HOSTILE, "ask", "--approve", ...store] },
  { name: "feedback --file <file>", args: () => ["feedback", "r1", "ask", "--file", HOSTILE, ...store] },
  { name: "plot <module>", args: () => ["plot", HOSTILE] },
];

describe("errors naming hostile names", () => {
  for (const { name, args } of CASES) {
    it.concurrent(`${name}: one line, the name escaped`, async () => {
      const result = await fixture.run(args());
      expectOneLine(result);
      expect(result.stderr).toContain(ESCAPED);
    }, 60_000);
  }
});

describe("a crew module that ends the process itself", () => {
  const MODULES: { name: string; source: string; says: RegExp; code?: number }[] = [
    { name: "process.exit(3) on import", source: "process.exit(3);\n", says: /module ".*exit\.js" called process\.exit\(3\) while it was loading/, code: 3 },
    { name: "process.exit(0) on import", source: "process.exit(0);\n", says: /module ".*exit\.js" called process\.exit\(0\) while it was loading/ },
    {
      name: "a top-level await that never settles",
      source: "await new Promise(() => {});\nexport default null;\n",
      says: /module ".*hang\.js" never settled while it was loading/,
    },
    {
      name: "process.exit(3) in a task callback during the run",
      source: CREW.replace('agent })', "agent, callback: () => process.exit(3) })"),
      says: /crew module ".*exit\.js" called process\.exit\(3\) while the crew ran/,
      code: 3,
    },
  ];
  for (const module of MODULES) {
    it.concurrent(`${module.name}: one line naming the module, non-zero exit`, async (context) => {
      const ws = testWorkspace(context);
      const file = ws.write(/never settles/.test(module.name) ? "hang.js" : "exit.js", module.source);
      const result = await ws.run(["run", file, "--model", "demo", "--store", `sqlite:${ws.path("state.db")}`]);
      expectOneLine(result);
      expect(result.stderr).toMatch(module.says);
      if (module.code !== undefined) expect(result.code).toBe(module.code);
    }, 60_000);
  }
});
