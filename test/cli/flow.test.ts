/**
 * Flows through the real binary: run, SIGKILL at a step boundary, inside a step's crew, in the 2nd
 * iteration of a loop and while pausing for feedback — each resumed and checked call by call at the
 * fake OpenAI server — and `feedback`, `show`, `runs`, `plan`, `invalidate` and `plot` of a flow.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it, type TestContext } from "vitest";
import { assertBuilt, testWorkspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { JOIN_FLOW, REVIEW_FLOW } from "./flows.js";
import { MODEL, SQLITE } from "./crews.js";

const TIMEOUT = 120_000;
beforeAll(() => assertBuilt());

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

/** The prompts of every call the server answered, as "WRITE 1", "REVIEW 2"… in arrival order. */
function callsMade(server: FakeOpenAI): string[] {
  return server.requests.filter((r) => r.status === 200).map((r) => /(WRITE|REVIEW|SCORE) round (\d+)/.exec(r.taskPrompt)!.slice(1).join(" "));
}

const TO_PAUSE = ["WRITE 1", "REVIEW 1", "SCORE 1", "WRITE 2", "REVIEW 2", "SCORE 2"];

async function setup(context: TestContext) {
  const server = await FakeOpenAI.forTest(context);
  const ws = testWorkspace(context, { link: ["zod"] });
  const flow = ws.write("flow.js", REVIEW_FLOW);
  const store = ["--store", SQLITE.url(ws)];
  const run = (runId: string, env: Record<string, string> = {}) => ws.run(["run", flow, "--run-id", runId, ...store, ...MODEL], { env: { ...server.env(), ...env } });
  const cli = (...args: string[]) => ws.run([...args, ...store]);
  return { server, ws, flow, store, run, cli };
}

describe.concurrent("a flow through the CLI", () => {
  it("runs to the feedback step, pauses, and goes on with the answer; show, runs and plan tell it", { timeout: TIMEOUT }, async (context) => {
    const { server, flow, run, cli, ws } = await setup(context);
    const first = await run("post-1");
    expectOk(first);
    expect(first.stdout).toContain("flow run post-1 paused");
    expect(first.stdout).toMatch(/step ask#1 waits for feedback: `crewstate feedback post-1 ask --store \S+ --text "…"`/);
    expect(callsMade(server)).toEqual(TO_PAUSE);

    const show = await cli("show", "post-1", "--json");
    expectOk(show);
    const shown = JSON.parse(show.stdout);
    expect(shown.kind).toBe("flow");
    expect(shown.status).toBe("paused");
    const steps = shown.tasks.filter((t: { kind: string }) => t.kind === "step");
    expect(steps.map((t: { name: string; iteration: number }) => `${t.name}/${t.iteration}`)).toEqual(["write#1/1", "review#1/1", "write#2/2", "review#2/2", "ask#1/1"]);
    expect(steps[1].children).toEqual([{ runId: "post-1.review.1", status: "completed", tokens: expect.any(Number) }]);
    expect(steps[1].label).toBe("revise");

    const runs = await cli("runs", "--json");
    expectOk(runs);
    const listed = JSON.parse(runs.stdout) as { runId: string; kind: string; parent: { runId: string; task: string } | null }[];
    expect(listed.find((r) => r.runId === "post-1")).toMatchObject({ kind: "flow", parent: null });
    expect(listed.filter((r) => r.parent?.runId === "post-1").map((r) => `${r.runId}<-${r.parent!.task}`).sort()).toEqual([
      "post-1.review.1<-review#1",
      "post-1.review.2<-review#2",
      "post-1.write.1<-write#1",
      "post-1.write.2<-write#2",
    ]);
    const table = await cli("runs");
    expect(table.stdout).toMatch(/post-1 +review-loop \(flow\) +paused/);
    expect(table.stdout).toMatch(/└ post-1\.write\.1 +writers/);

    const plan = await ws.run(["plan", flow, "--run-id", "post-1", "--store", SQLITE.url(ws)]);
    expectOk(plan);
    expect(plan.stdout).toMatch(/ask#1 +wait for feedback/);

    const refused = await cli("feedback", "post-1", "write");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/feedback says nothing/);
    const wrongStep = await cli("feedback", "post-1", "write", "--approve");
    expect(wrongStep.code).not.toBe(0);
    expect(wrongStep.stderr).toMatch(/step "write" of flow run "post-1" is not waiting for feedback; waiting: ask#1/);

    const answered = await cli("feedback", "post-1", "ask", "--approve", "--text", "ship it");
    expectOk(answered);
    server.reset();
    const done = await run("post-1");
    expectOk(done);
    expect(done.stdout).toContain("flow run post-1 completed");
    expect(server.count()).toBe(0);
    const final = JSON.parse((await cli("show", "post-1", "--json")).stdout);
    expect(final.tasks.find((t: { name: string }) => t.name === "ask#1").feedback).toMatchObject({ text: "ship it", verdict: "approved" });
    expect(final.state.feedback).toBe("ship it");
    expect(final.tasks.at(-1).output).toMatch(/^published round 2: /);
  });

  // Each case: the CREWSTATE_CRASH_AT that kills the first run, and the calls the resume must make.
  const CRASHES = [
    { where: "between steps (write#1 committed)", at: "committed:2", resume: TO_PAUSE.slice(1) },
    { where: "inside a step's crew (review#1's REVIEW task committed)", at: "committed:3", resume: TO_PAUSE.slice(2) },
    { where: "inside a step's crew (review#1's SCORE answered, not committed)", at: "answered:3", resume: TO_PAUSE.slice(2) },
    { where: "in the 2nd iteration of the loop (write#2 committed)", at: "committed:7", resume: TO_PAUSE.slice(4) },
    { where: "while pausing for feedback (ask#1 committed, run not yet paused)", at: "committed:11", resume: [] },
  ];
  for (const { where, at, resume } of CRASHES) {
    it(`SIGKILL ${where}: the resume makes exactly the calls not yet answered and committed`, { timeout: TIMEOUT }, async (context) => {
      const { server, run, cli } = await setup(context);
      const killed = await run("crash-1", { CREWSTATE_CRASH_AT: at });
      expect(killed.signal, killed.stderr).toBe("SIGKILL");
      const before = callsMade(server);
      server.reset();
      const resumed = await run("crash-1");
      expectOk(resumed);
      expect(resumed.stdout).toContain("flow run crash-1 paused");
      expect(callsMade(server)).toEqual(resume);
      // Every call was made once, but the one whose answer the kill cut off before its commit.
      const lost = at.startsWith("answered") ? 1 : 0;
      expect(before.length + resume.length).toBe(TO_PAUSE.length + lost);
      expectOk(await cli("feedback", "crash-1", "ask", "--approve"));
      server.reset();
      const done = await run("crash-1");
      expectOk(done);
      expect(done.stdout).toContain("flow run crash-1 completed");
      expect(server.count()).toBe(0);
    });
  }

  it("SIGKILL after every step of a flow with and / or joins and a router: each step runs once in all", { timeout: TIMEOUT }, async (context) => {
    const ws = testWorkspace(context, { link: ["zod"] });
    const flow = ws.write("joins.js", JOIN_FLOW);
    const order = ["a", "b", "merge", "route", "go_right", "end"];
    for (let k = 1; k <= order.length; k++) {
      const ledger = ws.path(`ledger-${k}.txt`);
      const args = ["run", flow, "--run-id", `joins-${k}`, "--inputs", ws.write(`in-${k}.json`, JSON.stringify({ ledger, side: "right" })), "--store", SQLITE.url(ws)];
      const killed = await ws.run(args, { env: { CREWSTATE_CRASH_AT: `committed:${k}` } });
      expect(killed.signal, `k=${k}: ${killed.stderr}`).toBe("SIGKILL");
      expectOk(await ws.run(args));
      expect(readFileSync(ledger, "utf8").trim().split("\n"), `killed after step ${k}`).toEqual(order);
    }
  });

  it("invalidate reruns a step and, when its result is the same, nothing after it; plot prints the graph", { timeout: TIMEOUT }, async (context) => {
    const { server, run, cli, ws, flow } = await setup(context);
    expectOk(await run("inv-1"));
    const invalidated = await cli("invalidate", "inv-1", "review");
    expectOk(invalidated);
    expect(invalidated.stdout).toContain("invalidated review#1, review#2 of flow run inv-1");
    server.reset();
    const again = await run("inv-1");
    expectOk(again);
    expect(callsMade(server)).toEqual([]); // the child crews' tasks are reused from their records
    expect(again.stdout).toMatch(/review#1: running/);
    expect(again.stdout).toMatch(/write#2: reused/);
    const shown = JSON.parse((await cli("show", "inv-1", "--json")).stdout);
    expect(shown.tasks.filter((t: { kind: string }) => t.kind === "step").map((t: { name: string }) => t.name)).toEqual(["write#1", "review#1", "write#2", "review#2", "ask#1"]);
    const unknown = await cli("invalidate", "inv-1", "nope");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/flow run "inv-1" has no step "nope"; its steps: write, review, ask/);

    const plot = await ws.run(["plot", flow]);
    expectOk(plot);
    expect(plot.stdout).toContain("flowchart TD");
    expect(plot.stdout).toContain('s_review -- "revise" --> s_write');
    expect(plot.stdout).toContain('s_decide -- "revise" --> s_write');
  });

  it("bad flows and states are refused in one line before any step runs", { timeout: TIMEOUT }, async (context) => {
    const ws = testWorkspace(context, { link: ["zod"] });
    const store = SQLITE.url(ws);
    const bad = ws.write("bad.js", JOIN_FLOW.replace('and(a, b)', 'and(a, "nope")'));
    const result = await ws.run(["run", bad, "--run-id", "bad-1", "--store", store]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/step "merge" listens to "nope", which is no step and no router's label/);
    const good = ws.write("joins.js", JOIN_FLOW);
    const state = await ws.run(["run", good, "--run-id", "bad-2", "--store", store, "--inputs", ws.write("in.json", JSON.stringify({ side: "left" }))]);
    expect(state.code).toBe(1);
    expect(state.stderr).toMatch(/the inputs of flow run "bad-2" do(es)? not fit flow "joins"'s state schema: field "ledger"/);
    const crewFlags = await ws.run(["run", good, "--run-id", "bad-3", "--store", store, "--max-tokens", "100"]);
    expect(crewFlags.code).toBe(1);
    expect(crewFlags.stderr).toMatch(/--max-tokens applies to a crew's run; ".*joins\.js" is a flow/);
    const runs = await ws.run(["runs", "--json", "--store", store]);
    expect(JSON.parse(runs.stdout)).toEqual([]);
  });
});
