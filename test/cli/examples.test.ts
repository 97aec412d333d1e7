/**
 * The examples run as the README says, on the demo model, from the repo root.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { assertBuilt, cliEnv, REPO_ROOT, runCli, testWorkspace } from "../support/cli.js";

beforeAll(() => assertBuilt());

describe("examples/meeting-prep", () => {
  it("runs its parallel phase, skips its conditional task, writes its briefing, and reuses everything on a rerun", async (context) => {
    const ws = testWorkspace(context);
    const store = `sqlite:${ws.path("state.db")}`;
    // Run from a folder of its own, so the briefing (written relative to the working folder) lands there.
    const briefing = ws.path("briefings", "Northwind Mutual-2026-12-10.md");
    const example = (file: string) => path.join(REPO_ROOT, "examples", "meeting-prep", file);
    const args = ["run", example("crew.ts"), "--run-id", "meeting-1", "--inputs", example("inputs.json"), "--model", "demo", "--store", store];
    const first = await runCli(args, { cwd: ws.dir, timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.split("\n");
    const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
    // Both researchers start before either is done: the parallel phase, in the progress output.
    expect(at(/research_task: running/)).toBeLessThan(at(/research_task: done/));
    expect(at(/industry_task: running/)).toBeLessThan(at(/research_task: done/));
    expect(first.stdout).toMatch(/risk_review_task: skipped: its condition said no/);
    expect(first.stdout).toMatch(/5 ran, 0 rerun, 0 reused, 1 skipped/);
    expect(existsSync(briefing)).toBe(true);
    const text = readFileSync(briefing, "utf8");
    rmSync(briefing);

    const second = await runCli(args, { cwd: ws.dir, timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/0 ran, 0 rerun, 5 reused, 1 skipped · 0 model\/tool call\(s\) made/);
    expect(readFileSync(briefing, "utf8")).toBe(text);
  }, 90_000);
});

describe("examples/self-review", () => {
  it("loops until the editor accepts, pauses for a person, takes a rejection for one more round, then an approval", async (context) => {
    const ws = testWorkspace(context);
    const store = ["--store", `sqlite:${ws.path("state.db")}`];
    const run = ["run", path.join(REPO_ROOT, "examples", "self-review", "flow.ts"), "--run-id", "post-1", "--model", "demo", ...store];
    const first = await runCli(run, { cwd: ws.dir, timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/review#1: done \(ran → revise\)/);
    expect(first.stdout).toMatch(/review#2: done \(ran → accepted\)/);
    expect(first.stdout).toContain("flow run post-1 paused");
    const reject = await runCli(["feedback", "post-1", "ask", "--reject", "--text", "Shorter, and name one number.", ...store], { cwd: ws.dir });
    expect(reject.code, reject.stderr).toBe(0);
    const second = await runCli(run, { cwd: ws.dir, timeoutMs: 60_000 });
    expect(second.stdout).toMatch(/decide#1: done \(ran → revise\)/);
    expect(second.stdout).toMatch(/review#3: done \(ran → out_of_rounds\)/);
    expect(second.stdout).toMatch(/paused: 3 step\(s\) ran, 0 rerun, 5 reused/);
    expect((await runCli(["feedback", "post-1", "ask", "--approve", ...store], { cwd: ws.dir })).code).toBe(0);
    const third = await runCli(run, { cwd: ws.dir, timeoutMs: 60_000 });
    expect(third.stdout).toContain("flow run post-1 completed: 2 step(s) ran, 0 rerun, 9 reused · 0 model/tool call(s) made");
    const plot = await runCli(["plot", path.join(REPO_ROOT, "examples", "self-review", "flow.ts")], { cwd: ws.dir });
    expect(plot.stdout).toContain('s_review -- "out_of_rounds" --> s_ask');
  }, 120_000);
});

describe("npm run demo (examples/claims-triage/demo.js)", () => {
  it("interrupts draft_task after calls were journaled, and the resume replays them and saves tokens", (context) => {
    const ws = testWorkspace(context);
    const demo = spawnSync(process.execPath, [path.join(REPO_ROOT, "examples", "claims-triage", "demo.js")], {
      cwd: REPO_ROOT,
      env: cliEnv({ CREWSTATE_STORE: `sqlite:${ws.path("state.db")}`, CREWSTATE_DEMO_DELAY_MS: "900" }),
      encoding: "utf8",
      timeout: 100_000,
    });
    expect(demo.status, demo.stderr + demo.stdout).toBe(0);
    expect(demo.stdout).toMatch(/lookup_policy\(HO-2291-7734\)/);
    expect(demo.stdout).toMatch(/killed with SIGKILL/);
    const resumed = /\[2\/2\] draft_task: done \(\d+ model\/tool call\(s\), (\d+) replayed\)/.exec(demo.stdout);
    expect(Number(resumed?.[1]), demo.stdout).toBeGreaterThanOrEqual(1);
    const saved = /saved by replay: (\d+) tokens/.exec(demo.stdout);
    expect(Number(saved?.[1]), demo.stdout).toBeGreaterThan(0);
  }, 120_000);
});
