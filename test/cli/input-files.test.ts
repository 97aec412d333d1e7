/**
 * Files the CLI reads for inputs (`--input key=@file`, `--inputs file.json`, `edit --file`) must be
 * regular files no larger than a store payload: a device (`/dev/zero`), a FIFO or a folder would
 * hang or eat memory, so each is refused up front with one line naming the file.
 */
import { execFileSync } from "node:child_process";
import { truncateSync } from "node:fs";
import { describe, expect, it, type TestContext } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../../src/stores/codec.js";
import { assertBuilt, linesOf, testWorkspace, type Workspace } from "../support/cli.js";

const CREW = `import { Agent, Task, Crew } from "crewstate";
const agent = new Agent({ role: "r", goal: "g", backstory: "b" });
export default new Crew({ name: "inputs", agents: [agent], tasks: [new Task({ name: "t", description: "Read {t}", expectedOutput: "x", agent })] });
`;

interface Case {
  title: string;
  /** The file to read, made in the workspace. */
  file: (ws: Workspace) => string;
  /** What the one line of stderr must say about it. */
  says: RegExp;
}

const CASES: Case[] = [
  { title: "a character device (/dev/zero)", file: () => "/dev/zero", says: /not a regular file/ },
  {
    title: "a FIFO nobody writes to",
    file: (ws) => {
      execFileSync("mkfifo", [ws.path("pipe")]);
      return ws.path("pipe");
    },
    says: /not a regular file/,
  },
  { title: "a folder", file: (ws) => ws.dir, says: /not a regular file/ },
  {
    title: "a file one byte over the payload limit",
    file: (ws) => {
      const file = ws.write("huge.txt", "");
      truncateSync(file, MAX_PAYLOAD_BYTES + 1); // sparse: no disk, no time
      return file;
    },
    says: new RegExp(`${MAX_PAYLOAD_BYTES + 1} bytes.*limit is ${MAX_PAYLOAD_BYTES}`),
  },
];

const WAYS: { name: string; args: (crew: string, file: string) => string[] }[] = [
  { name: "run --input t=@file", args: (crew, file) => ["run", crew, "--run-id", "r1", "--input", `t=@${file}`, "--model", "demo"] },
  { name: "run --inputs file", args: (crew, file) => ["run", crew, "--run-id", "r1", "--inputs", file, "--model", "demo"] },
  { name: "plan --input t=@file", args: (crew, file) => ["plan", crew, "--run-id", "r1", "--input", `t=@${file}`] },
  { name: "edit --file", args: (_crew, file) => ["edit", "r1", "t", "--file", file] },
];

describe("input files that are not regular files, or too large", () => {
  assertBuilt();
  for (const way of WAYS) {
    for (const bad of CASES) {
      it.concurrent(`${way.name} refuses ${bad.title} with one line naming it`, async (context: TestContext) => {
        const ws = testWorkspace(context);
        const crew = ws.write("crew.js", CREW);
        const file = bad.file(ws);
        const result = await ws.run([...way.args(crew, file), "--store", `sqlite:${ws.path("state.db")}`], { timeoutMs: 20_000 });
        expect(result.code, result.stderr).not.toBe(0);
        expect(linesOf(result.stderr), result.stderr).toHaveLength(1);
        expect(result.stderr).toContain(JSON.stringify(file));
        expect(result.stderr).toMatch(bad.says);
        expect(result.stdout).toBe("");
      }, 30_000);
    }
  }

  it("reads a regular file as before", async (context) => {
    const ws = testWorkspace(context);
    const crew = ws.write("crew.js", CREW);
    const file = ws.write("t.txt", "Policy PN-7");
    const result = await ws.run(["run", crew, "--run-id", "r1", "--input", `t=@${file}`, "--model", "demo", "--store", `sqlite:${ws.path("state.db")}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Policy PN-7");
  }, 30_000);
});
