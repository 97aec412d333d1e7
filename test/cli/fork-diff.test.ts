/**
 * `fork`, `diff`, `show` of a fork and `runs --forks-of` through the real binary, on SQLite, with
 * the offline demo model (its answers follow the case notes, so changed notes change outputs).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, Workspace, type CliResult } from "../support/cli.js";
import { SQLITE, TWO_STEP } from "./crews.js";

const NOTES = "Policy PN-12345. Kitchen flooded on 2026-01-02 after a pipe burst.";
const OTHER = "Policy PN-777. Attic fire on 2026-03-04.";

let ws: Workspace;
let crew: string;
let store: string;

const cli = (args: string[]) => ws.run([...args, "--store", store]);
const run = (runId: string, notes: string) => cli(["run", crew, "--run-id", runId, "--input", `notes=${notes}`, "--model", "demo"]);

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}`).toBe(0);
}

beforeAll(async () => {
  assertBuilt();
  ws = new Workspace();
  crew = ws.write("crew.ts", TWO_STEP);
  store = SQLITE.url(ws);
  expectOk(await run("claim-1", NOTES));
}, 60_000);
afterAll(() => ws?.remove());

describe("fork and diff through the CLI", () => {
  it("forks a whole run: show says where it came from, a kickoff reuses everything, diff finds nothing", async () => {
    const forked = await cli(["fork", "claim-1", "--run-id", "copy"]);
    expectOk(forked);
    expect(forked.stdout).toContain("forked run claim-1 into run copy (completed)");
    expect(forked.stdout).toContain("copied: analyze_task, draft_task");

    const json = JSON.parse((await cli(["show", "copy", "--json"])).stdout) as { parent: unknown; status: string; attempts: number; tasks: { name: string }[] };
    expect(json).toMatchObject({ parent: { runId: "claim-1", task: null }, status: "completed", attempts: 0 });
    expect(json.tasks.map((t) => t.name)).toEqual(["analyze_task", "draft_task"]);
    expect((await cli(["show", "copy"])).stdout).toMatch(/^forked from run claim-1$/m);
    expect(JSON.parse((await cli(["show", "claim-1", "--json"])).stdout).parent).toBeNull();

    const rerun = await run("copy", NOTES);
    expectOk(rerun);
    expect(rerun.stdout).toMatch(/run copy completed: 0 ran, 0 rerun, 2 reused/);
    const diff = await cli(["diff", "claim-1", "copy"]);
    expectOk(diff);
    expect(diff.stdout).toContain("the runs hold the same results");
  }, 60_000);

  it("forks at a task with another input; the fork's run reruns both tasks, and diff says why and shows the output diff", async () => {
    const forked = await cli(["fork", "claim-1", "--at", "draft_task", "--run-id", "other", "--input", `notes=${OTHER}`]);
    expectOk(forked);
    expect(forked.stdout).toContain("left out, run at the next kickoff: draft_task");
    expect(forked.stdout).toContain("inputs changed: notes");
    expect((await cli(["show", "other"])).stdout).toMatch(/^forked from run claim-1 at draft_task$/m);
    expect(JSON.parse((await cli(["show", "other", "--json"])).stdout)).toMatchObject({ parent: { runId: "claim-1", task: "draft_task" }, inputs: { notes: OTHER } });

    const rerun = await run("other", OTHER);
    expectOk(rerun);
    expect(rerun.stdout).toMatch(/run other completed: 1 ran, 1 rerun, 0 reused/);

    const diff = await cli(["diff", "claim-1", "other"]);
    expectOk(diff);
    expect(diff.stdout).toContain("inputs changed: notes");
    expect(diff.stdout).toMatch(/^analyze_task +differs: input notes +differs /m);
    expect(diff.stdout).toMatch(/^draft_task +differs: upstream output +differs /m);
    expect(diff.stdout).toContain("--- a/claim-1/analyze_task\n+++ b/other/analyze_task\n@@ ");
    expect(diff.stdout).toMatch(/^-.*PN-12345/m);
    expect(diff.stdout).toMatch(/^\+.*PN-777/m);
    expect(diff.stdout).toContain("2 of 2 task(s) differ: analyze_task, draft_task");

    const json = JSON.parse((await cli(["diff", "claim-1", "other", "--json"])).stdout) as {
      inputsChanged: string[];
      differing: string[];
      tasks: { name: string; inputHash: { changed: string[] }; output: { same: boolean; diff: string } }[];
    };
    expect(json.inputsChanged).toEqual(["notes"]);
    expect(json.differing).toEqual(["analyze_task", "draft_task"]);
    expect(json.tasks.map((t) => [t.name, t.inputHash.changed, t.output.same])).toEqual([
      ["analyze_task", ["input notes"], false],
      ["draft_task", ["upstream output"], false],
    ]);
    expect(json.tasks[0]!.output.diff).toMatch(/^\+.*PN-777/m);
  }, 60_000);

  it("lists a run's forks with runs --forks-of", async () => {
    const listed = await cli(["runs", "--forks-of", "claim-1", "--json"]);
    expectOk(listed);
    const forks = JSON.parse(listed.stdout) as { runId: string; fork: boolean; parent: unknown }[];
    expect(forks.map((r) => r.runId).sort()).toEqual(["copy", "other"]);
    expect(JSON.parse((await cli(["runs", "--json"])).stdout).find((r: { runId: string }) => r.runId === "claim-1").fork).toBe(false);
    expect(forks.every((r) => r.fork)).toBe(true);
    const table = await cli(["runs", "--forks-of", "claim-1"]);
    expect(table.stdout).toMatch(/^other +cli-two-step \(fork of claim-1 at draft_task\)/m);
    expect((await cli(["runs", "--forks-of", "copy"])).stdout).toMatch(/^no forks of run copy in /);
  }, 60_000);

  it("takes the fork's inputs from --inputs, laid over the source's, and prints JSON with --json", async () => {
    const file = ws.write("inputs.json", JSON.stringify({ notes: OTHER, priority: 2 }));
    const forked = await cli(["fork", "claim-1", "--run-id", "from-file", "--inputs", file, "--json"]);
    expectOk(forked);
    expect(JSON.parse(forked.stdout)).toMatchObject({ runId: "from-file", from: "claim-1", at: null, status: "failed", inputsChanged: ["notes", "priority"] });
    expect(JSON.parse((await cli(["show", "from-file", "--json"])).stdout).inputs).toEqual({ notes: OTHER, priority: 2 });
  }, 60_000);

  it("refuses bad requests with a non-zero exit and one line on stderr, writing nothing", async () => {
    const before = await cli(["export", "--all"]);
    expectOk(before);
    const cases: [string[], RegExp][] = [
      [["fork", "nope"], /run "nope" not found in .*state\.db/],
      [["fork", "claim-1", "--at", "polish"], /run "claim-1" has no task "polish" to fork at; its tasks: analyze_task, draft_task/],
      [["fork", "claim-1", "--run-id", "copy"], /run "copy" already exists in .*; a fork never overwrites a run/],
      [["fork", "claim-1", "--run-id", "../escape"], /run ID/i],
      [["fork", "claim-1", "--input", "no-equals-sign"], /--input "no-equals-sign" is not key=value/],
      [["diff", "claim-1", "nope"], /run "nope" not found/],
      [["runs", "--forks-of", "nope"], /run "nope" not found/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(" ")).not.toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines, args.join(" ")).toHaveLength(1);
      expect(lines[0]).toMatch(/^crewstate: /);
      expect(lines[0]).toMatch(message);
    }
    expect((await cli(["export", "--all"])).stdout).toBe(before.stdout);
  }, 90_000);
});
