/**
 * Fork and diff on every store: a fork copies results (and journals) before `at`, clears leases,
 * starts its own log with `run_forked` and never touches the source; its next kickoff reruns what
 * was left out or what changed inputs make stale; `diffRuns` names exactly the tasks and hash parts
 * that differ and diffs the outputs.
 */
import type { LanguageModelV3CallOptions } from "@ai-sdk/provider";
import { tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { Agent, Crew, diagnoseRuns, diffStoredRuns, fork, runFlow, Task, type RunDump, type Store } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { Calls, loopFlow } from "../flow/fixtures.js";
import { flowStores } from "../flow/stores.js";

const stores = await flowStores();

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };

function promptOf(options: LanguageModelV3CallOptions): string {
  return options.prompt.map((m) => (typeof m.content === "string" ? m.content : m.content.map((p) => ("text" in p ? p.text : "")).join(""))).join("\n");
}

/**
 * extract ({notes}) → classify (reads extract; looks a policy up with a tool, then always answers
 * the same class) → summarize (reads all before) → report (reads only classify). Each answer is a
 * function of its prompt; `hold` makes CLASSIFY's answer after the lookup wait.
 */
function chainCrew(store: Store, hold?: Promise<void>, onHold?: () => void) {
  const calls: Record<string, number> = {};
  const model = new MockLanguageModelV3({
    doGenerate: async (options) => {
      const prompt = promptOf(options);
      const marker = /\b(EXTRACT|CLASSIFY|SUMMARIZE|REPORT)\b/.exec(prompt)![1]!;
      calls[marker] = (calls[marker] ?? 0) + 1;
      if (marker === "CLASSIFY" && !options.prompt.some((m) => m.role === "tool")) {
        const content = [{ type: "tool-call" as const, toolCallId: "lookup-1", toolName: "lookup", input: JSON.stringify({ id: 7 }) }];
        return { content, finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage, warnings: [] };
      }
      if (marker === "CLASSIFY" && hold) {
        onHold?.();
        await hold;
      }
      const notes = /NOTES\[(.*?)\]/.exec(prompt)?.[1] ?? /notes: (.*)/.exec(prompt)?.[1] ?? "?";
      const answers: Record<string, string> = {
        EXTRACT: `facts\nnotes: ${notes}\nend of facts`,
        CLASSIFY: "class: water damage",
        SUMMARIZE: `summary\nabout: ${notes}\nclass: water damage`,
        REPORT: "report for water damage",
      };
      return { content: [{ type: "text", text: answers[marker]! }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] };
    },
  });
  const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model });
  const extract = new Task({ name: "extract", description: "EXTRACT facts from NOTES[{notes}]", expectedOutput: "facts", agent });
  const lookup = tool({ description: "look a policy up", inputSchema: z.object({ id: z.number() }), execute: async () => ((calls.lookup = (calls.lookup ?? 0) + 1), "policy active") });
  const clerk = new Agent({ role: "Clerk", goal: "Classify", backstory: "Looks things up.", model, tools: { lookup } });
  const classify = new Task({ name: "classify", description: "CLASSIFY the facts", expectedOutput: "a class", agent: clerk, context: [extract] });
  const summarize = new Task({ name: "summarize", description: "SUMMARIZE everything so far", expectedOutput: "a summary", agent });
  const report = new Task({ name: "report", description: "REPORT on the class", expectedOutput: "a report", agent, context: [classify] });
  return { crew: new Crew({ name: "chain", tasks: [extract, classify, summarize, report], store }), calls };
}

const NAMES = ["extract", "classify", "summarize", "report"];

async function withStore(url: string, work: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore(url);
  try {
    await work(store);
  } finally {
    await store.close();
  }
}

/** The source run, completed, and its export. */
async function source(store: Store): Promise<RunDump> {
  const { crew } = chainCrew(store);
  await crew.kickoff({ runId: "src", inputs: { notes: "kitchen flooded" } });
  return (await store.exportRun("src"))!;
}

describe.each(stores)("fork and diff on $name", ({ available, url }) => {
  it.skipIf(!available)("a whole fork copies every result and journal, under a fresh lineage; its kickoff reuses everything", async () => {
    await withStore(url(), async (store) => {
      const before = await source(store);
      const result = await fork(store, "src", { runId: "copy" });
      expect(result).toMatchObject({ runId: "copy", from: "src", at: null, status: "completed", copied: NAMES, dropped: [], inputsChanged: [] });
      expect(await store.exportRun("src")).toEqual(before);
      // The copied records' events stayed in the source: doctor takes the fork as whole.
      expect((await diagnoseRuns(store)).findings).toEqual([]);

      const copy = (await store.getRun("copy"))!;
      expect(copy).toMatchObject({ crew: "chain", kind: "crew", parent: { runId: "src", task: null }, attempts: 0, status: "completed", inputs: { notes: "kitchen flooded" } });
      expect(copy.createdAt > before.run.updatedAt || copy.createdAt === before.run.updatedAt).toBe(true);
      expect(copy.tasks.map((t) => [t.name, t.status, t.output, t.inputHash])).toEqual(before.run.tasks.map((t) => [t.name, t.status, t.output, t.inputHash]));
      for (const task of copy.tasks) expect(task).toMatchObject({ worker: null, fencingToken: 0, leaseExpiresAt: null });
      for (const name of NAMES) expect(await store.calls("copy", name)).toEqual(await store.calls("src", name));
      const events = await store.events("copy");
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ seq: 1, runId: "copy", type: "run_forked", task: null, data: { from: "src", at: null, copied: NAMES, inputsChanged: [] } });

      const { crew, calls } = chainCrew(store);
      const rerun = await crew.kickoff({ runId: "copy", inputs: { notes: "kitchen flooded" } });
      expect(rerun.tasks.map((t) => t.outcome)).toEqual(["reused", "reused", "reused", "reused"]);
      expect(calls).toEqual({});
      expect(await store.exportRun("src")).toEqual(before);
      expect((await diffStoredRuns(store, "src", "copy")).differing).toEqual([]);
    });
  });

  it.skipIf(!available)("--at leaves that task and every later one out; the fork's kickoff runs exactly those", async () => {
    await withStore(url(), async (store) => {
      const before = await source(store);
      const result = await fork(store, "src", { runId: "at", at: "classify" });
      expect(result).toMatchObject({ status: "failed", copied: ["extract"], dropped: ["classify", "summarize", "report"] });
      const forked = (await store.getRun("at"))!;
      expect(forked.parent).toEqual({ runId: "src", task: "classify" });
      expect(forked.error).toContain("classify");
      expect(forked.tasks.map((t) => t.name)).toEqual(["extract"]);
      expect(await store.calls("at", "classify")).toEqual([]);
      const unrun = await diffStoredRuns(store, "src", "at");
      expect(unrun.tasks.map((t) => [t.name, t.in])).toEqual([["extract", "both"], ["classify", "a"], ["summarize", "a"], ["report", "a"]]);
      expect(unrun.differing).toEqual(["classify", "summarize", "report"]);
      expect(unrun.tasks[1]!.usage).toEqual({ a: { inputTokens: 20, outputTokens: 10, costUsd: null }, b: null });

      const { crew, calls } = chainCrew(store);
      const rerun = await crew.kickoff({ runId: "at", inputs: { notes: "kitchen flooded" } });
      expect(rerun.tasks.map((t) => [t.name, t.outcome])).toEqual([["extract", "reused"], ["classify", "ran"], ["summarize", "ran"], ["report", "ran"]]);
      expect(calls).toEqual({ CLASSIFY: 2, lookup: 1, SUMMARIZE: 1, REPORT: 1 });
      expect((await store.getRun("at"))!.status).toBe("completed");
      expect(await store.exportRun("src")).toEqual(before);
      // The same inputs and a deterministic model: the same results.
      const diff = await diffStoredRuns(store, "src", "at");
      expect(diff.differing).toEqual([]);
      expect(diff.tasks.map((t) => t.name)).toEqual(NAMES);
    });
  });

  it.skipIf(!available)("with a changed input, the fork's kickoff says why each result is stale, cuts off early, and diff names the changed tasks and parts", async () => {
    await withStore(url(), async (store) => {
      const before = await source(store);
      const result = await fork(store, "src", { runId: "other", inputs: { notes: "attic fire" } });
      expect(result).toMatchObject({ status: "failed", copied: NAMES, dropped: [], inputsChanged: ["notes"] });
      expect((await store.getRun("other"))!.inputs).toEqual({ notes: "attic fire" });

      const { crew, calls } = chainCrew(store);
      const rerun = await crew.kickoff({ runId: "other", inputs: { notes: "attic fire" } });
      expect(rerun.tasks.map((t) => [t.name, t.outcome])).toEqual([["extract", "rerun"], ["classify", "rerun"], ["summarize", "rerun"], ["report", "reused"]]);
      expect(calls).toEqual({ EXTRACT: 1, CLASSIFY: 2, lookup: 1, SUMMARIZE: 1 });
      // The copied hash parts let the kickoff say what changed, as it would in the source.
      const stale = (await store.events("other")).filter((e) => e.type === "task_stale").map((e) => [e.task, e.data?.changed]);
      expect(stale).toEqual([["extract", ["input notes"]], ["classify", ["upstream output"]], ["summarize", ["upstream output"]]]);
      expect(await store.exportRun("src")).toEqual(before);

      const diff = await diffStoredRuns(store, "src", "other");
      expect(diff.inputsChanged).toEqual(["notes"]);
      expect(diff.differing).toEqual(["extract", "classify", "summarize"]);
      const byName = new Map(diff.tasks.map((t) => [t.name, t]));
      expect(byName.get("extract")).toMatchObject({ in: "both", inputHash: { same: false, changed: ["input notes"] }, output: { same: false } });
      expect(byName.get("classify")).toMatchObject({ inputHash: { same: false, changed: ["upstream output"] }, output: { same: true, diff: "" } });
      expect(byName.get("summarize")).toMatchObject({ inputHash: { same: false, changed: ["upstream output"] }, output: { same: false } });
      expect(byName.get("report")).toMatchObject({ inputHash: { same: true, changed: [] }, output: { same: true } });
      expect(byName.get("extract")!.output.diff).toBe(
        ["--- a/src/extract", "+++ b/other/extract", "@@ -1,3 +1,3 @@", " facts", "-notes: kitchen flooded", "+notes: attic fire", " end of facts"].join("\n"),
      );
      expect(byName.get("extract")!.usage).toEqual({ a: { inputTokens: 10, outputTokens: 5, costUsd: null }, b: { inputTokens: 10, outputTokens: 5, costUsd: null } });
    });
  });

  it.skipIf(!available)("forks a running run: the running task is copied without its lease, as not a result; the source finishes untouched", async () => {
    await withStore(url(), async (store) => {
      let release!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      let held!: () => void;
      const holding = new Promise<void>((resolve) => (held = resolve));
      const { crew } = chainCrew(store, hold, () => held());
      const running = crew.kickoff({ runId: "live", inputs: { notes: "kitchen flooded" } });
      await holding;
      const result = await fork(store, "live", { runId: "live-fork" });
      expect(result.status).toBe("failed");
      const forked = (await store.getRun("live-fork"))!;
      expect(forked.error).toContain("while it was running");
      expect(forked.tasks.map((t) => [t.name, t.status, t.worker, t.leaseExpiresAt, t.fencingToken])).toEqual([
        ["extract", "completed", null, null, 0],
        ["classify", "pending", null, null, 0],
      ]);
      // What classify had done when the fork was taken — its first answer and the lookup — is journaled, and copied.
      expect((await store.calls("live-fork", "classify")).map((c) => c.kind)).toEqual(["model", "tool"]);
      release();
      expect((await running).status).toBe("completed");
      expect((await store.getRun("live"))!.tasks.map((t) => t.status)).toEqual(["completed", "completed", "completed", "completed"]);

      const again = chainCrew(store);
      const rerun = await again.crew.kickoff({ runId: "live-fork", inputs: { notes: "kitchen flooded" } });
      expect(rerun.tasks.map((t) => t.outcome)).toEqual(["reused", "ran", "ran", "ran"]);
      // classify resumes from the copied journal: only its last model call is made; the lookup is not run again.
      expect(again.calls).toEqual({ CLASSIFY: 1, SUMMARIZE: 1, REPORT: 1 });
    });
  });

  it.skipIf(!available)("refuses an unknown run, an unknown --at task and an existing new ID in one line each, writing nothing", async () => {
    await withStore(url(), async (store) => {
      const before = await source(store);
      await fork(store, "src", { runId: "taken" });
      const runs = await store.listRuns();
      const taken = await store.exportRun("taken");
      const refusals: [() => Promise<unknown>, string, string[]][] = [
        [() => fork(store, "nope", { runId: "x" }), "RUN_NOT_FOUND", ['"nope"', store.location]],
        [() => fork(store, "src", { runId: "x", at: "polish" }), "TASK_NOT_FOUND", ['"polish"', '"src"', "extract, classify, summarize, report"]],
        [() => fork(store, "src", { runId: "taken" }), "RUN_EXISTS", ['"taken"', "never overwrites"]],
        [() => diffStoredRuns(store, "src", "nope"), "RUN_NOT_FOUND", ['"nope"', store.location]],
      ];
      for (const [attempt, code, words] of refusals) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e as Error & { code: string },
        );
        expect(error?.code).toBe(code);
        expect(error!.message).not.toContain("\n");
        for (const word of words) expect(error!.message).toContain(word);
      }
      expect(await store.listRuns()).toEqual(runs);
      expect(await store.exportRun("src")).toEqual(before);
      expect(await store.exportRun("taken")).toEqual(taken);
    });
  });

  it.skipIf(!available)("forks a flow run at a step: that step's executions and all later ones rerun; the rest are reused", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "flow", store });
      const before = (await store.exportRun("flow"))!;
      const result = await fork(store, "flow", { runId: "flow-fork", at: "publish" });
      expect(result).toMatchObject({ copied: ["write#1", "review#1", "write#2", "review#2"], dropped: ["publish#1"] });
      expect((await store.getRun("flow-fork"))!.tasks.map((t) => t.name)).not.toContain("flow");
      expect((await store.getRun("flow-fork"))!.kind).toBe("flow");
      const at = await fork(store, "flow", { runId: "flow-at-review", at: "review" });
      expect(at.copied).toEqual(["write#1"]);
      await expect(fork(store, "flow", { runId: "x", at: "polish" })).rejects.toMatchObject({ code: "TASK_NOT_FOUND", message: expect.stringContaining("its steps: write, review, publish") });

      calls.reset();
      const rerun = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "flow-fork", store });
      expect(rerun.steps.map((s) => `${s.execution}:${s.outcome}`)).toEqual(["write#1:reused", "review#1:reused", "write#2:reused", "review#2:reused", "publish#1:ran"]);
      expect(calls.of("publish")).toBe(1);
      expect(calls.of("write") + calls.of("review")).toBe(0);
      expect(await store.exportRun("flow")).toEqual(before);
      expect((await diffStoredRuns(store, "flow", "flow-fork")).differing).toEqual([]);

      // A whole fork run with review's code "changed" (it decides the same): diff names the step's code.
      await fork(store, "flow", { runId: "flow-v2" });
      await runFlow(loopFlow(calls, { acceptAt: 2, reviewVersion: "v2" }), { runId: "flow-v2", store });
      const diff = await diffStoredRuns(store, "flow", "flow-v2");
      expect(diff.differing).toEqual(["review#1", "review#2"]);
      expect(diff.tasks.map((t) => t.name)).toEqual(["write#1", "review#1", "write#2", "review#2", "publish#1", "flow"]);
      expect(diff.tasks[1]).toMatchObject({ inputHash: { same: false, changed: ["the step's code"] }, output: { same: true } });
    });
  });
});
