/**
 * Resume semantics through the real binary, counted at a fake OpenAI-compatible server: reruns of
 * completed runs, invalidation with early cutoff, changed inputs, and SIGKILL mid-run and mid-task.
 * Every scenario runs against every file store. Each test has its own server, workspace and store,
 * so the tests run concurrently (the work happens in child processes).
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it, type TestContext } from "vitest";
import { assertBuilt, linesOf, runCliUntil, testWorkspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI, type FakeRequest } from "../support/fake-openai.js";
import { FAN_OUT, HAS_JSON_STORE, JSON_FILE, MODEL, SQLITE, TWO_STEP, WITH_TOOL, type StoreKind } from "./crews.js";

/** Several CLI processes per test, slower when the tests share two cores. */
const TIMEOUT = 90_000;

beforeAll(() => assertBuilt());

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

/** The text after the CLI's closing `--- <task> ---` header: the crew's final output. */
function finalOutput(stdout: string): string {
  const at = stdout.lastIndexOf("\n--- ");
  expect(at, `no final output in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  return linesOf(stdout.slice(at + 1)).slice(1).join("\n");
}

function answersTo(server: FakeOpenAI, marker: string): string[] {
  return server.requests.filter((r) => r.taskPrompt.includes(marker) && r.answer !== null).map((r) => r.answer!);
}

const usesToolResult = (r: FakeRequest) => r.taskPrompt.includes("DRAFT") && r.messages.some((m) => m.role === "tool");

/**
 * Each store with a crew module of its own kind, so both ways `run` loads a module (tsx for .ts,
 * plain import for .js) are covered — and the suite stays fast (.js skips the TypeScript loader).
 */
const VARIANTS: { store: StoreKind; ext: ".ts" | ".js" }[] = [
  { store: SQLITE, ext: ".ts" },
  { store: JSON_FILE, ext: ".js" },
];

describe.concurrent.each(VARIANTS)("resume on the $store.name store, crew module in $ext", ({ store, ext }) => {
  describe.skipIf(store.name === "json" && !HAS_JSON_STORE)(
    store.name === "json" && !HAS_JSON_STORE ? "(skipped: src/stores/json/store.ts does not exist yet)" : "",
    () => {
      /** A fake server, a workspace with `source` as its crew module, and a `run` bound to them. */
      async function setup(context: TestContext, source: string, link: string[] = []) {
        const server = await FakeOpenAI.forTest(context);
        const ws = testWorkspace(context, { link });
        const crew = ws.write(`crew${ext}`, source);
        const argsOf = (runId: string, notes: string) => ["run", crew, "--run-id", runId, "--input", `notes=${notes}`, "--store", store.url(ws), ...MODEL];
        const run = (runId: string, notes: string) => ws.run(argsOf(runId, notes), { env: server.env() });
        const invalidate = (runId: string, task: string) => ws.run(["invalidate", runId, task, "--store", store.url(ws)]);
        return { server, ws, argsOf, run, invalidate };
      }

      it("a rerun of a completed run makes 0 model calls and gives the same output", { timeout: TIMEOUT }, async (context) => {
        const { server, run } = await setup(context, TWO_STEP);
        const notes = "Policy PN-12345; kitchen flooded on 2026-01-02.";
        server.when("ANALYZE", { fail: 429, times: 1 }); // the first run also retries past a rate limit
        const first = await run("claim-1", notes);
        expectOk(first);
        expect(first.stdout).toMatch(/\[1\/2\] analyze_task: failed, retrying: .*rate limit/);
        expect(server.requests.map((r) => r.status)).toEqual([429, 200, 200]);
        expect([...server.countsByPrompt().values()]).toEqual([2, 1]); // analyze (429, then answered), draft
        expect(server.count("ANALYZE")).toBe(2);
        expect(server.count("DRAFT")).toBe(1);

        server.reset();
        const again = await run("claim-1", notes);
        expectOk(again);
        expect(server.count()).toBe(0);
        expect(again.stdout).toContain("[1/2] analyze_task: reused");
        expect(again.stdout).toContain("[2/2] draft_task: reused");
        expect(finalOutput(again.stdout)).toBe(finalOutput(first.stdout));
      });

      it("invalidate reruns that task alone when its output comes out the same, and its dependents when it changes", { timeout: TIMEOUT }, async (context) => {
        const { server, run, invalidate } = await setup(context, TWO_STEP);
        const notes = "Policy PN-777; hail damage to the roof.";
        expectOk(await run("claim-2", notes));
        const firstAnalysis = answersTo(server, "ANALYZE")[0]!;

        server.reset();
        const invalidated = await invalidate("claim-2", "analyze_task");
        expectOk(invalidated);
        expect(invalidated.stdout).toMatch(/invalidated task analyze_task of run claim-2/);
        expect(server.count()).toBe(0);

        const same = await run("claim-2", notes);
        expectOk(same);
        expect(server.count("ANALYZE")).toBe(1);
        expect(answersTo(server, "ANALYZE")).toEqual([firstAnalysis]);
        expect(server.count("DRAFT")).toBe(0);
        expect(same.stdout).toContain("[2/2] draft_task: reused");

        // Now the model answers differently: the dependent must rerun, and see the new output.
        server.reset();
        server.when("ANALYZE", { reply: "- policy PN-777 (corrected by the model)" });
        expectOk(await invalidate("claim-2", "analyze_task"));
        const changed = await run("claim-2", notes);
        expectOk(changed);
        expect(server.count("ANALYZE")).toBe(1);
        expect(server.count("DRAFT")).toBe(1);
        expect(server.requests.find((r) => r.taskPrompt.includes("DRAFT"))!.taskPrompt).toContain("PN-777 (corrected by the model)");
        expect(changed.stdout).toContain("[2/2] draft_task: running (rerun: stale because upstream output changed)");
      });

      it("a changed input reruns the tasks that read it and those whose upstream output changed, and reuses the rest", { timeout: TIMEOUT }, async (context) => {
        const { server, run } = await setup(context, FAN_OUT);
        // classify's answer does not depend on the notes: its rerun reproduces its output.
        server.when("CLASSIFY", { reply: "water damage" });
        expectOk(await run("claim-3", "Policy PN-1; pipe burst on 2026-01-02."));
        expect(server.count()).toBe(4);

        server.reset();
        server.when("CLASSIFY", { reply: "water damage" });
        const changed = await run("claim-3", "Policy PN-1; pipe burst on 2026-01-03.");
        expectOk(changed);
        expect(server.count("CLASSIFY")).toBe(1); // reads {notes}
        expect(server.count("EXTRACT")).toBe(1); // reads {notes}, output changes
        expect(server.count("ROUTE")).toBe(0); // its only upstream, classify, came out the same
        expect(server.count("DRAFT")).toBe(1); // its only upstream, extract, changed
        expect(server.count()).toBe(3);
        expect(changed.stdout).toContain("[1/4] classify: running (rerun: stale because input notes changed)");
        expect(changed.stdout).toContain("[3/4] route: reused");
        expect(changed.stdout).toContain("[4/4] draft: running (rerun: stale because upstream output changed)");
      });

      it("SIGKILL during the second task, then resume: 0 calls for the first task and the second completes", { timeout: TIMEOUT }, async (context) => {
        const { server, ws, argsOf, run } = await setup(context, TWO_STEP);
        const notes = "Policy PN-4242; car stolen on 2026-02-14.";
        server.when("DRAFT", { delayMs: "forever", times: 1 });
        const killed = await runCliUntil(argsOf("claim-4", notes), {
          cwd: ws.dir,
          env: server.env(),
          killWhen: /\[2\/2\] draft_task: running/,
          beforeKill: () => server.waitFor("DRAFT"), // the draft call is in flight
        });
        expect(killed.signal).toBe("SIGKILL");
        expect(killed.stdout).not.toMatch(/completed/);
        expect(server.count("ANALYZE")).toBe(1);
        const analysis = answersTo(server, "ANALYZE")[0]!;

        const mid = await ws.run(["show", "claim-4", "--json", "--store", store.url(ws)]);
        expectOk(mid);
        const state = JSON.parse(mid.stdout) as { status: string; tasks: { name: string; status: string; output: string | null }[] };
        expect(state.status).toBe("running");
        expect(state.tasks.map((t) => [t.name, t.status])).toEqual([
          ["analyze_task", "completed"],
          ["draft_task", "running"],
        ]);
        expect(state.tasks[0]!.output).toBe(analysis);

        server.reset();
        const resumed = await run("claim-4", notes);
        expectOk(resumed);
        expect(server.count("ANALYZE")).toBe(0);
        expect(server.count("DRAFT")).toBe(1);
        expect(server.requests[0]!.taskPrompt).toContain(analysis); // the stored output is the draft's context
        expect(resumed.stdout).toContain("[1/2] analyze_task: reused");
        expect(resumed.stdout).toContain("[2/2] draft_task: running (run: interrupted");
        expect(finalOutput(resumed.stdout)).toBe(answersTo(server, "DRAFT")[0]);
      });

      it("SIGKILL inside a task's agent loop, then resume: the model and tool calls that answered are not repeated", { timeout: TIMEOUT }, async (context) => {
        const { server, ws, argsOf, run } = await setup(context, WITH_TOOL, ["ai", "zod"]);
        const notes = "Policy PN-1; burst pipe.";
        const toolRound = { toolCalls: [{ name: "lookup_policy", args: { policy: "PN-1" } }], toolRounds: 1 };
        server.when("DRAFT", toolRound);
        server.when(usesToolResult, { delayMs: "forever", times: 1 }); // hang the call after the tool ran
        const killed = await runCliUntil(argsOf("claim-5", notes), {
          cwd: ws.dir,
          env: server.env(),
          killWhen: /\[2\/2\] draft_task: running/,
          beforeKill: () => server.waitFor(usesToolResult),
        });
        expect(killed.signal).toBe("SIGKILL");
        expect(server.count("DRAFT")).toBe(2); // the tool-call round, then the hung one
        expect(linesOf(readFileSync(ws.path("tool-calls.log"), "utf8"))).toEqual(["PN-1"]);

        server.reset();
        server.when("DRAFT", toolRound); // a resume that forgot its journal would be asked to call the tool again
        const resumed = await run("claim-5", notes);
        expectOk(resumed);
        expect(server.count("ANALYZE")).toBe(0);
        expect(server.count("DRAFT")).toBe(1);
        expect(usesToolResult(server.requests[0]!)).toBe(true);
        expect(linesOf(readFileSync(ws.path("tool-calls.log"), "utf8"))).toEqual(["PN-1"]);
        expect(resumed.stdout).toContain("[2/2] draft_task: done (1 model/tool call(s), 2 replayed)");
        expect(finalOutput(resumed.stdout)).toBe(answersTo(server, "DRAFT")[0]);
      });
    },
  );
});
