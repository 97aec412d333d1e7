/**
 * Flows on every store: routers and loops, `and` / `or` joins, resume without rerunning committed
 * steps, staleness with early cutoff, human feedback across kickoffs, crews inside steps as child
 * runs, invalidation, plan, and the definition and state errors refused before any step runs.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Flow, giveFeedback, invalidateStep, isCrewstateError, planFlow, plotFlow, runFlow, type Store } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { editTaskOutput } from "../../src/engine/operator.js";
import { Calls, crewFlow, feedbackFlow, joinFlow, loopFlow } from "./fixtures.js";
import { flowStores } from "./stores.js";

const stores = await flowStores();

async function withStore<T>(url: string, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

const stepNames = (run: { tasks: { name: string }[] }) => run.tasks.map((t) => t.name).filter((n) => n !== "flow");

describe.each(stores)("flows on $name", ({ available, url }) => {
  it.skipIf(!available)("a router loops until it accepts; a second run reuses every step and calls none", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      const first = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "loop-1", store });
      expect(first.status).toBe("completed");
      expect(first.steps.map((s) => `${s.execution}:${s.outcome}`)).toEqual(["write#1:ran", "review#1:ran", "write#2:ran", "review#2:ran", "publish#1:ran"]);
      expect(first.steps[1]!.label).toBe("revise");
      expect(first.state).toMatchObject({ round: 2, accepted: true, draft: "draft 2 on durable agents" });
      expect(first.result).toEqual({ published: true, rounds: 2 });

      const run = (await store.getRun("loop-1"))!;
      expect(run.kind).toBe("flow");
      expect(run.status).toBe("completed");
      expect(stepNames(run)).toEqual(["write#1", "review#1", "write#2", "review#2", "publish#1"]);

      calls.reset();
      const again = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "loop-1", store });
      expect(again.steps.every((s) => s.outcome === "reused")).toBe(true);
      expect(calls.counts.size).toBe(0);
      expect(again.state).toEqual(first.state);
    });
  });

  it.skipIf(!available)("a changed step reruns; its listeners rerun only when its result changed", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      await runFlow(loopFlow(calls, { acceptAt: 3 }), { runId: "stale-1", store });
      calls.reset();
      // review's code "changed" but decides the same: every review reruns, nothing after them does.
      const same = await runFlow(loopFlow(calls, { acceptAt: 3, reviewVersion: "v2" }), { runId: "stale-1", store });
      expect(calls.of("review")).toBe(3);
      expect(calls.of("write") + calls.of("publish")).toBe(0);
      expect(same.steps.find((s) => s.execution === "review#1")!.reason).toContain("the step's code changed");
      calls.reset();
      // Now it accepts the first draft: write#2, write#3 and review#2, review#3 are no longer reached.
      const changed = await runFlow(loopFlow(calls, { acceptAt: 1, reviewVersion: "v3" }), { runId: "stale-1", store });
      expect(changed.steps.map((s) => `${s.execution}:${s.outcome}`)).toEqual(["write#1:reused", "review#1:rerun", "publish#1:rerun"]);
      expect(stepNames((await store.getRun("stale-1"))!)).toEqual(["write#1", "review#1", "publish#1"]);
    });
  });

  it.skipIf(!available)("and waits for every source; or fires on one; a resume after each step boundary ends the same", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      const whole = await runFlow(joinFlow(calls), { runId: "joins-whole", store });
      expect(whole.steps.map((s) => s.execution)).toEqual(["fetch_a#1", "fetch_b#1", "merge#1", "done#1"]);
      expect(whole.result).toBe("done: a+b (last B)");
      expect(calls.of("merge")).toBe(1);
      // Cut the run after each boundary (drop the records after it), resume: the same end, only the rest runs.
      for (let kept = 0; kept < 4; kept++) {
        const runId = `joins-cut-${kept}`;
        const dump = (await store.exportRun("joins-whole"))!;
        const keep = new Set(whole.steps.slice(0, kept).map((s) => s.execution));
        await store.importRun({
          run: { ...dump.run, runId, status: "running", tasks: dump.run.tasks.filter((t) => keep.has(t.name)) },
          events: dump.events.map((e) => ({ ...e, runId })),
          calls: [],
        });
        const resumed = new Calls();
        const result = await runFlow(joinFlow(resumed), { runId, store });
        expect(result.result, `cut after ${kept}`).toBe(whole.result);
        expect([...resumed.counts.values()].reduce((a, b) => a + b, 0), `cut after ${kept}`).toBe(4 - kept);
      }
    });
  });

  it.skipIf(!available)("a feedback step pauses the run durably; the answer reaches the router on the next run", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      const paused = await runFlow(feedbackFlow(calls), { runId: "fb-1", store });
      expect(paused.status).toBe("paused");
      expect(paused.awaiting).toBe("ask#1");
      expect((await store.getRun("fb-1"))!.status).toBe("paused");
      // Run again before anyone answered: still paused, nothing reruns.
      calls.reset();
      const still = await runFlow(feedbackFlow(calls), { runId: "fb-1", store });
      expect(still.status).toBe("paused");
      expect(calls.counts.size).toBe(0);
      await giveFeedback(store, "fb-1", "ask", { text: "shorter please", verdict: "rejected" }, "ana@desk");
      const second = await runFlow(feedbackFlow(calls), { runId: "fb-1", store });
      expect(second.status).toBe("paused");
      expect(second.awaiting).toBe("ask#2");
      expect(second.state).toMatchObject({ round: 2, notes: ["shorter please"] });
      const record = (await store.getRun("fb-1"))!.tasks.find((t) => t.name === "ask#1")!;
      expect(record.structured).toMatchObject({ feedback: { text: "shorter please", verdict: "rejected", by: "ana@desk" } });
      const events = await store.events("fb-1");
      expect(events.filter((e) => e.type === "step_feedback").map((e) => e.task)).toEqual(["ask#1"]);
      await giveFeedback(store, "fb-1", "ask", { verdict: "approved" }, "ana@desk");
      const done = await runFlow(feedbackFlow(calls), { runId: "fb-1", store });
      expect(done.status).toBe("completed");
      expect(done.result).toBe("published: draft 2 after: shorter please");
      await expect(giveFeedback(store, "fb-1", "ask", { verdict: "approved" })).rejects.toThrow(/step "ask" of flow run "fb-1" is not waiting for feedback/);
    });
  });

  it.skipIf(!available)("a crew inside a step is a child run with a derived ID; a rerun of the step resumes it", async () => {
    await withStore(url(), async (store) => {
      const calls = new Calls();
      const result = await runFlow(crewFlow(calls, "demo"), { runId: "with-crew-1", store });
      expect(result.steps[0]!.children).toEqual(["with-crew-1.draft.1"]);
      const child = (await store.getRun("with-crew-1.draft.1"))!;
      expect(child.parent).toEqual({ runId: "with-crew-1", task: "draft#1" });
      expect(child.status).toBe("completed");
      await invalidateStep(store, "with-crew-1", "draft");
      const again = await runFlow(crewFlow(calls, "demo"), { runId: "with-crew-1", store });
      expect(again.steps[0]!.outcome).toBe("ran");
      expect(again.calls.made).toBe(0); // the child's task was reused from its record
      expect(again.state).toEqual(result.state);
    });
  });

  it.skipIf(!available)("a kickoff whose claim another worker took commits nothing more: the step's commit is fenced out", async () => {
    await withStore(url(), async (store) => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let started = 0;
      const flow = new Flow({ name: "zombie", state: z.object({ n: z.number().default(0) }) });
      const slow = flow.start("slow", async (state) => {
        started += 1;
        if (started === 1) await gate;
        state.n += 1;
        return state.n;
      });
      flow.listen("after", slow, (state) => state.n);
      const first = runFlow(flow, { runId: "z-1", store, worker: "w1", leaseTtlMs: 60_000 });
      while (started === 0) await new Promise((r) => setTimeout(r, 5));
      // As after w1's lease ran out: w2 takes the flow over.
      const lease = (await store.claimTask("z-1", "flow", "w2", 60_000, { takeOverFrom: "w1" }))!;
      expect(lease.token).toBe(2);
      release();
      const error = await first.catch((e: unknown) => e);
      expect(isCrewstateError(error, "FENCED_OUT")).toBe(true);
      expect((await store.getRun("z-1"))!.tasks.map((t) => t.name)).toEqual(["flow"]);
      await store.releaseTask(lease);
      const again = await runFlow(flow, { runId: "z-1", store, worker: "w3" });
      expect(again.steps.map((s) => `${s.execution}:${s.outcome}`)).toEqual(["slow#1:ran", "after#1:ran"]);
    });
  });

  it.skipIf(!available)("observers see one run start and end — the flow's — with its steps and its crews' tasks in between", async () => {
    await withStore(url(), async (store) => {
      const seen: string[] = [];
      const observer = {
        onRunStart: (e: { runId: string; kind?: string }) => seen.push(`start ${e.runId} ${e.kind}`),
        onRunEnd: (e: { runId: string; status: string }) => seen.push(`end ${e.runId} ${e.status}`),
        onProgress: (e: { task: string; state: string }) => seen.push(`${e.task} ${e.state}`),
      };
      await runFlow(crewFlow(new Calls(), "demo"), { runId: "seen-1", store, observers: [observer] });
      expect(seen).toEqual(["start seen-1 flow", "draft#1 running", "write_task running", "write_task done", "draft#1 done", "end seen-1 completed"]);
    });
  });

  it.skipIf(!available)("state written by an older schema is a clear error naming the field, not a crash", async () => {
    await withStore(url(), async (store) => {
      await runFlow(loopFlow(new Calls(), { acceptAt: 1 }), { runId: "schema-1", store });
      const newer = new Flow({
        name: "loop",
        // Stricter than the one the run was written with: the same start, but drafts of at most 5 characters.
        state: z.object({ topic: z.string().default("durable agents"), draft: z.string().max(5).default(""), round: z.number().int().default(0), accepted: z.boolean().default(false) }),
      });
      const again = loopFlow(new Calls(), { acceptAt: 1 });
      Object.assign(newer, { steps: again.steps });
      const error = await runFlow(newer, { runId: "schema-1", store }).catch((e: unknown) => e);
      expect(isCrewstateError(error, "STATE_INVALID")).toBe(true);
      expect((error as Error).message).toMatch(/state step "write#1" of flow run "schema-1" stored does not fit .*field "draft"/);
    });
  });
});

describe("a flow's definition and state are checked before any step runs", () => {
  const refused = async (flow: Flow, pattern: RegExp, inputs?: Record<string, unknown>) => {
    const store = await openStore("memory:");
    const error = await runFlow(flow, { runId: "bad", store, inputs: inputs as never }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain("\n");
    expect(await store.getRun("bad")).toBeUndefined();
  };
  const empty = () => new Flow({ name: "bad", state: z.object({ n: z.number().default(0) }) });

  it("a listener on a step that does not exist", async () => {
    const flow = empty();
    flow.start("a", () => 1);
    flow.listen("b", "nope", () => 2);
    await refused(flow, /step "b" listens to "nope", which is no step and no router's label/);
  });

  it("a router label no step listens to", async () => {
    const flow = empty();
    const a = flow.start("a", () => 1);
    flow.router("route", a, ["left", "right"], () => "left");
    flow.listen("l", "left", () => 2);
    await refused(flow, /router "route"'s label "right" is listened to by no step/);
  });

  it("two steps with one name", async () => {
    const flow = empty();
    flow.start("a", () => 1);
    flow.start("a", () => 2);
    await refused(flow, /two steps are named "a"/);
  });

  it("a state that fails its schema", async () => {
    const flow = empty();
    flow.start("a", () => 1);
    await refused(flow, /inputs of flow run "bad" do(es)? not fit flow "bad"'s state schema: field "n"/, { n: "seven" });
  });

  it("a step that returns something JSON cannot carry fails naming the step, committing nothing of it", async () => {
    const flow = empty();
    flow.start("a", () => ({ when: new Date(0) }));
    const store = await openStore("memory:");
    const error = await runFlow(flow, { runId: "nonjson", store }).catch((e: unknown) => e);
    expect(isCrewstateError(error, "STEP_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/step "a#1"/);
    expect((await store.getRun("nonjson"))!.tasks.find((t) => t.name === "a#1")).toBeUndefined();
    expect((await store.getRun("nonjson"))!.status).toBe("failed");
  });

  it("a router that returns a label it does not have", async () => {
    const flow = empty();
    const a = flow.start("a", () => 1);
    flow.router("r", a, ["x"], () => "y" as "x");
    flow.listen("xs", "x", () => 2);
    const error = await runFlow(flow, { runId: "r", store: await openStore("memory:") }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/router "r#1" returned "y", which is none of its routes \(x\)/);
  });

  it("a cycle that never ends stops at maxSteps", async () => {
    const flow = new Flow({ name: "forever", state: z.object({}), maxSteps: 10 });
    const a = flow.start("a", () => 1, { on: "again" });
    flow.router("r", a, ["again"], () => "again");
    const error = await runFlow(flow, { runId: "f", store: await openStore("memory:") }).catch((e: unknown) => e);
    expect(isCrewstateError(error, "FLOW_LOOP")).toBe(true);
  });
});

describe("operators on a flow run", () => {
  it("a step's result is not edited (it is rerun, or answered): edit is refused, changing nothing", async () => {
    const store = await openStore("memory:");
    await runFlow(loopFlow(new Calls(), { acceptAt: 1 }), { runId: "edit-1", store });
    const before = await store.events("edit-1");
    await expect(editTaskOutput(store, "edit-1", "write#1", "mine")).rejects.toThrow(/run "edit-1" is a flow run: a step's result is not edited/);
    expect(await store.events("edit-1")).toEqual(before);
  });
});

describe("stopping a flow run", () => {
  it("an abort signal stops the run before its next step; the next kickoff goes on from the last commit", async () => {
    const store = await openStore("memory:");
    const controller = new AbortController();
    const calls = new Calls();
    const flow = new Flow({ name: "stoppable", state: z.object({ n: z.number().default(0) }) });
    const first = flow.start("first", (state) => {
      calls.hit("first");
      controller.abort(new Error("operator stopped it"));
      return (state.n += 1);
    });
    flow.listen("second", first, (state) => {
      calls.hit("second");
      return (state.n += 1);
    });
    await expect(runFlow(flow, { runId: "stop-1", store, signal: controller.signal })).rejects.toThrow("operator stopped it");
    expect(calls.of("second")).toBe(0);
    const resumed = await runFlow(flow, { runId: "stop-1", store });
    expect(resumed.steps.map((s) => `${s.execution}:${s.outcome}`)).toEqual(["first#1:reused", "second#1:ran"]);
    expect(calls.of("first")).toBe(1);
  });
});

describe("plan and plot", () => {
  it("plan reuses what is stored and stops at the first step that would run, saying why", async () => {
    const store = await openStore("memory:");
    await runFlow(loopFlow(new Calls(), { acceptAt: 2 }), { runId: "p", store });
    await invalidateStep(store, "p", "review#2");
    const plan = await planFlow(loopFlow(new Calls(), { acceptAt: 2 }), store, { runId: "p" });
    expect(plan.steps.map((s) => `${s.name}:${s.action}`)).toEqual(["write#1:reuse", "review#1:reuse", "write#2:reuse", "review#2:run"]);
    expect(plan.then).toMatch(/the steps its label picks: decided once review#2 has run/);
    const changed = await planFlow(loopFlow(new Calls(), { acceptAt: 2, reviewVersion: "v9" }), store, { runId: "p" });
    expect(changed.steps.map((s) => s.explanation)).toEqual(["reuse", "rerun: stale: the step's code changed"]);
  });

  it("plot draws starts, routes with their labels, feedback steps and joins as Mermaid", () => {
    const text = plotFlow(feedbackFlow(new Calls()));
    expect(text).toContain("flowchart TD");
    expect(text).toContain('s_ask[/"ask"/]');
    expect(text).toContain('s_decide{"decide"}');
    expect(text).toContain('s_decide -- "redo" --> s_write');
    expect(plotFlow(joinFlow(new Calls()))).toContain('s_fetch_a -- "and" --> s_merge');
  });
});
