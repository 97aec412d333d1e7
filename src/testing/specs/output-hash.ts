import { expect } from "vitest";
import { beginSampleRun, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

/** A stored output that no longer matches its output hash is corruption, wherever it is read. */
export function outputHashSpec(ctx: ConformanceContext, it: SpecIt): void {
  const title = "a stored output changed behind the store's back is CORRUPT_STATE naming the store, run and task";
  if (ctx.tamperOutput === undefined) return it.skip(title, "no tamperOutput option: a store whose outputs people may edit by hand");
  it(title, async () => {
    const tamper = ctx.tamperOutput!;
    const store = ctx.store;
    await beginSampleRun(store, "run-1");
    await store.saveTask("run-1", completedTask("analyze"), { type: "task_completed" });
    await store.saveTask("run-1", completedTask("legacy", { outputHash: null }), { type: "task_completed" });
    expect((await store.getRun("run-1"))?.tasks.map((t) => t.name)).toEqual(["analyze", "legacy"]);

    await tamper("run-1", "legacy", "edited, but it has no hash to disagree with");
    expect((await store.getRun("run-1"))?.tasks[1]?.output).toBe("edited, but it has no hash to disagree with");

    await tamper("run-1", "analyze", "a forged output");
    for (const [what, read] of [
      ["getRun", () => store.getRun("run-1")],
      ["exportRun", () => store.exportRun("run-1")],
      ["beginRun (what a kickoff reads before reuse)", () => beginSampleRun(store, "run-1")],
      ["a second handle", async () => (await ctx.reopen()).getRun("run-1")],
    ] as const) {
      const error = await expectCode(read, "CORRUPT_STATE", what);
      expect(error.message).toContain('task "analyze"');
      expect(error.message).toContain('run "run-1"');
      expect(error.context).toMatchObject({ runId: "run-1", task: "analyze", store: store.location });
    }
  });
}
