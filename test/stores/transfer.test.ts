import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { outputHashOf } from "../../src/hash.js";
import { newTaskRecord } from "../../src/stores/store.js";
import { decodeDumps, encodeDump, exportRuns, importRuns } from "../../src/stores/transfer.js";

async function storeWithRun(runId: string) {
  const store = new MemoryStore();
  await store.beginRun({ runId, crew: "c", inputs: { notes: "a\u0000b ✓" } });
  await store.saveTask(runId, { ...newTaskRecord("t"), status: "completed", output: "out", outputHash: outputHashOf("out", null), inputHash: "i" }, { type: "task_completed" });
  await store.recordCall(runId, { task: "t", position: 0, kind: "model", requestHash: "r", response: { text: "x" }, usage: null, at: new Date().toISOString() });
  return store;
}

describe("moving runs between stores", () => {
  it("round-trips a run through the JSON Lines format", async () => {
    const source = await storeWithRun("r1");
    const [dump] = await exportRuns(source, []);
    const decoded = decodeDumps(`${encodeDump(dump!)}\n`, "runs.jsonl");
    expect(decoded).toEqual([dump]);
    const target = new MemoryStore();
    await importRuns(target, decoded);
    expect(await target.exportRun("r1")).toEqual(dump);
  });

  it("refuses an existing run without overwrite, writing nothing", async () => {
    const source = await storeWithRun("r1");
    await source.beginRun({ runId: "r2", crew: "c", inputs: {} });
    const dumps = await exportRuns(source, []);
    const target = await storeWithRun("r2");
    const before = await target.exportRun("r2");
    await expect(importRuns(target, dumps)).rejects.toMatchObject({ code: "RUN_EXISTS" });
    expect(await target.getRun("r1")).toBeUndefined();
    expect(await target.exportRun("r2")).toEqual(before);
    await importRuns(target, dumps, { overwrite: true });
    expect((await target.getRun("r2"))?.tasks).toEqual([]);
  });

  it("names the file and line of a bad export", async () => {
    const source = await storeWithRun("r1");
    const good = encodeDump((await exportRuns(source, ["r1"]))[0]!);
    expect(() => decodeDumps(`${good}\n{not json`, "runs.jsonl")).toThrow(/runs.jsonl line 2 is not valid JSON/);
    const bad = JSON.parse(good);
    bad.run.tasks[0].status = "exploded";
    expect(() => decodeDumps(JSON.stringify(bad), "runs.jsonl")).toThrow(/runs.jsonl line 1 is not a crewstate run: run.tasks.0.status/);
    expect(() => decodeDumps(`${good}\n${good}`, "runs.jsonl")).toThrow(/line 2 repeats run "r1"/);
  });

  it("carries a skipped task, a flow run's kind and parent, and a step_feedback event", async () => {
    const source = new MemoryStore();
    await source.beginRun({ runId: "f", crew: "pipeline", inputs: {}, kind: "flow", parent: { runId: "origin", task: "write#2" } });
    await source.saveTask("f", { ...newTaskRecord("review#1"), status: "skipped" }, { type: "task_skipped" });
    await source.setRunStatus("f", "paused", null, { type: "step_feedback", task: "review#1", data: { feedback: "shorter" } });
    const [dump] = await exportRuns(source, ["f"]);
    const decoded = decodeDumps(encodeDump(dump!), "runs.jsonl");
    expect(decoded).toEqual([dump]);
    expect(decoded[0]!.run).toMatchObject({ kind: "flow", parent: { runId: "origin", task: "write#2" }, tasks: [{ name: "review#1", status: "skipped" }] });
    const target = new MemoryStore();
    await importRuns(target, decoded);
    expect(await target.exportRun("f")).toEqual(dump);
  });

  it("reads a dump made before runs had a kind and a parent as a crew run without one", async () => {
    const source = await storeWithRun("r1");
    const old = JSON.parse(encodeDump((await exportRuns(source, ["r1"]))[0]!));
    delete old.run.kind;
    delete old.run.parent;
    const [decoded] = decodeDumps(JSON.stringify(old), "old.jsonl");
    expect(decoded!.run).toMatchObject({ kind: "crew", parent: null });
    const bad = { ...old, run: { ...old.run, kind: "job" } };
    expect(() => decodeDumps(JSON.stringify(bad), "runs.jsonl")).toThrow(/runs.jsonl line 1 is not a crewstate run: run.kind/);
  });

  it("carries inputs of every JSON type", async () => {
    const source = new MemoryStore();
    const inputs = { n: 1, ok: true, tags: ["a", "b"], policy: { id: "P-1", limit: 2500.5 }, none: null };
    await source.beginRun({ runId: "r", crew: "c", inputs });
    const [dump] = await exportRuns(source, ["r"]);
    const decoded = decodeDumps(encodeDump(dump!), "runs.jsonl");
    expect(decoded[0]!.run.inputs).toEqual(inputs);
  });

  it("names a missing run", async () => {
    await expect(exportRuns(new MemoryStore(), ["nope"])).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });
});
