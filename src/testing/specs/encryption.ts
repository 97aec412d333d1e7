import { expect } from "vitest";
import { BaseStore } from "../../stores/base-store.js";
import { rekeyRuns } from "../../stores/rekey.js";
import { isSealed, type EncryptionOptions } from "../../stores/seal.js";
import type { RunDump, Store } from "../../stores/store.js";
import { call, completedTask, expectCode, type ConformanceContext, type SpecIt } from "./support.js";

const KEY_1: EncryptionOptions = { key: Buffer.alloc(32, 1).toString("base64"), keyId: "k1" };
const KEY_2: EncryptionOptions = { key: Buffer.alloc(32, 2).toString("base64"), keyId: "k2" };
const SECRET = "canary-7f3a policyholder SSN 123-45-6789";

/** Encryption at rest lives in the checked layer: every store built on BaseStore gets it unchanged. */
function use(store: Store, encryption: EncryptionOptions | undefined): Store {
  if (!(store instanceof BaseStore)) {
    throw new Error("the encryption spec needs a store built on BaseStore (crewstate's checked layer seals values at rest); a store that only wraps another passes encryption: false");
  }
  return store.useEncryption(encryption);
}

/** A run with a sealed value in every field that is sealed: inputs, outputs, errors, event data, journal. */
async function writeSecrets(store: Store, runId = "run-1"): Promise<void> {
  await store.beginRun({ runId, crew: "claims", inputs: { notes: SECRET, n: 3, list: [SECRET] }, planned: { tasks: ["a", "b"], why: SECRET } });
  await store.saveTask(runId, completedTask("a", { output: `out ${SECRET}`, structured: { s: SECRET, n: [1, null] } }), { type: "task_completed", data: { parts: SECRET } }, {
    calls: [call("a", 0, { response: { text: SECRET } }), call("a", 1, { kind: "tool", response: SECRET })],
  });
  await store.recordCall(runId, call("b", 0, { response: [SECRET, 1] }));
  await store.saveTask(runId, completedTask("b", { status: "failed", output: null, structured: null, outputHash: null, error: `failed on ${SECRET}` }), { type: "task_failed", data: { error: SECRET } });
  await store.setRunStatus(runId, "failed", `run failed: ${SECRET}`, { type: "run_failed", data: { error: SECRET } });
}

function rawText(dump: RunDump | undefined): string {
  return JSON.stringify(dump);
}

const TITLES = [
  "encryption: every sealed value comes back exactly, and none is stored in the clear",
  "encryption: a sealed value moved to another record or run fails with KEY_MISMATCH naming them",
  "encryption: no key is KEY_REQUIRED naming the run, and a refused begin writes nothing; a wrong key is KEY_MISMATCH",
  "encryption: an old key in the list still reads; after a rekey the old key can be dropped",
  "encryption: without a key nothing is sealed (values and hashes stored as given)",
] as const;

export function encryptionSpec(ctx: ConformanceContext, it: SpecIt): void {
  if (!ctx.encryption) {
    for (const title of TITLES) it.skip(title, "encryption: false: the store does not seal values at rest (it is not built on BaseStore)");
    return;
  }
  it(TITLES[0], async () => {
    const store = use(ctx.store, KEY_1);
    await writeSecrets(store);
    const run = (await store.getRun("run-1"))!;
    expect(run.inputs).toEqual({ notes: SECRET, n: 3, list: [SECRET] });
    expect(run.error).toBe(`run failed: ${SECRET}`);
    const [a, b] = run.tasks;
    expect(a).toMatchObject({ output: `out ${SECRET}`, structured: { s: SECRET, n: [1, null] }, error: null, outputHash: completedTask("a", { output: `out ${SECRET}`, structured: { s: SECRET, n: [1, null] } }).outputHash });
    expect(b).toMatchObject({ status: "failed", output: null, structured: null, error: `failed on ${SECRET}`, outputHash: null });
    const events = await store.events("run-1");
    expect(events.find((e) => e.type === "run_planned")?.data).toEqual({ tasks: ["a", "b"], why: SECRET });
    expect(events.find((e) => e.type === "task_completed")?.data).toEqual({ parts: SECRET });
    expect(events.find((e) => e.type === "run_failed")?.data).toEqual({ error: SECRET });
    expect((await store.calls("run-1", "a")).map((c) => c.response)).toEqual([{ text: SECRET }, SECRET]);
    expect((await store.calls("run-1", "b")).map((c) => c.response)).toEqual([[SECRET, 1]]);
    expect((await store.listRuns())[0]?.error).toBe(`run failed: ${SECRET}`);
    const opened = await store.exportRun("run-1");
    expect(rawText(opened)).toContain(SECRET);

    // As stored (and as a second handle with the key sees it).
    const raw = await store.exportRun("run-1", { sealed: true });
    expect(rawText(raw)).not.toContain("canary-7f3a");
    expect(isSealed(raw!.run.tasks[0]!.output)).toBe(true);
    expect(raw!.run.tasks[0]!.outputHash).not.toBe(a!.outputHash);
    expect(raw!.run.tasks.map((t) => t.name)).toEqual(["a", "b"]);
    expect(raw!.run.status).toBe("failed");
    const other = use(await ctx.reopen(), KEY_1);
    expect(await other.getRun("run-1")).toEqual(run);

    // A reuse that begins its run (a resume that reuses everything) seals the begin's inputs and plan too.
    await store.reuseTasks("run-3", [{ record: completedTask("a", { output: SECRET }), fencingToken: 0 }], { type: "tasks_reused", data: { tasks: ["a"], why: SECRET } }, {
      begin: { runId: "run-3", crew: "claims", inputs: { notes: SECRET }, planned: { why: SECRET } },
    });
    expect((await store.getRun("run-3"))?.inputs).toEqual({ notes: SECRET });
    expect((await store.getRun("run-3"))?.tasks[0]?.output).toBe(SECRET);
    const events3 = await store.events("run-3");
    expect(events3.find((e) => e.type === "run_planned")?.data).toEqual({ why: SECRET });
    expect(events3.find((e) => e.type === "tasks_reused")?.data).toEqual({ tasks: ["a"], why: SECRET });
    expect(rawText(await store.exportRun("run-3", { sealed: true }))).not.toContain("canary-7f3a");
  });

  it(TITLES[1], async () => {
    const store = use(ctx.store, KEY_1);
    await writeSecrets(store);
    const raw = (await store.exportRun("run-1", { sealed: true }))!;
    const [a, b] = raw.run.tasks;
    const moved: RunDump = { ...raw, run: { ...raw.run, tasks: [a!, { ...b!, output: a!.output }] } };
    await store.importRun(moved, { overwrite: true });
    const error = await expectCode(() => store.getRun("run-1"), "KEY_MISMATCH");
    expect(error.message).toContain('task "b"');
    expect(error.message).toContain('run "run-1"');
    expect(error.message).not.toContain("cs1:");
    expect(error.message.includes("\n")).toBe(false);

    const elsewhere: RunDump = { ...raw, run: { ...raw.run, runId: "run-2" }, events: raw.events.map((e) => ({ ...e, runId: "run-2" })) };
    await store.importRun(elsewhere);
    const error2 = await expectCode(() => store.getRun("run-2"), "KEY_MISMATCH");
    expect(error2.context.runId).toBe("run-2");
  });

  it(TITLES[2], async () => {
    const store = use(ctx.store, KEY_1);
    await writeSecrets(store);
    const before = await store.exportRun("run-1", { sealed: true });
    use(store, undefined);
    for (const [what, read] of [
      ["getRun", () => store.getRun("run-1")],
      ["events", () => store.events("run-1")],
      ["calls", () => store.calls("run-1", "a")],
      ["exportRun", () => store.exportRun("run-1")],
      ["beginRun", () => store.beginRun({ runId: "run-1", crew: "claims", inputs: { notes: "clear" } })],
    ] as const) {
      const error = await expectCode(read, "KEY_REQUIRED", what);
      expect(error.message).toContain('run "run-1"');
      expect(error.context.runId).toBe("run-1");
      expect(error.message).not.toContain("cs1:");
    }
    expect(await store.exportRun("run-1", { sealed: true })).toEqual(before);
    // The list still works: names and statuses stay readable.
    expect((await store.listRuns()).map((r) => [r.runId, r.status, r.error])).toEqual([["run-1", "failed", "(sealed)"]]);

    use(store, KEY_2);
    await expectCode(() => store.getRun("run-1"), "KEY_MISMATCH", "a key of another ID");
    expect((await store.listRuns()).map((r) => [r.runId, r.status, r.error])).toEqual([["run-1", "failed", "(sealed)"]]);
    await expectCode(() => store.beginRun({ runId: "run-1", crew: "claims", inputs: {} }), "KEY_MISMATCH", "begin with a key of another ID");
    use(store, { key: KEY_2.key, keyId: "k1" });
    await expectCode(() => store.getRun("run-1"), "KEY_MISMATCH", "another key under the same ID");
    expect(await store.exportRun("run-1", { sealed: true })).toEqual(before);
  });

  it(TITLES[3], async () => {
    const store = use(ctx.store, KEY_1);
    await writeSecrets(store);
    const clear = await store.exportRun("run-1");
    use(store, { ...KEY_2, previous: [KEY_1] });
    expect(await store.exportRun("run-1")).toEqual(clear);
    // New writes seal with the new key, next to old values.
    await store.saveTask("run-1", completedTask("c", { output: SECRET }), { type: "task_completed" });
    expect(rawText(await store.exportRun("run-1", { sealed: true }))).toContain("cs1:k1:");
    expect(await rekeyRuns(store)).toEqual(["run-1"]);
    const raw = rawText(await store.exportRun("run-1", { sealed: true }));
    expect(raw).not.toContain("cs1:k1:");
    expect(raw).toContain("cs1:k2:");
    use(store, KEY_2);
    const after = (await store.exportRun("run-1"))!;
    expect(after.run.inputs).toEqual(clear!.run.inputs);
    expect(after.run.tasks.slice(0, 2)).toEqual(clear!.run.tasks);
    expect(after.events.slice(0, clear!.events.length).map((e) => e.data)).toEqual(clear!.events.map((e) => e.data));
    expect(after.calls).toEqual(expect.arrayContaining(clear!.calls));
    expect(after.run.tasks[2]?.output).toBe(SECRET);
  });

  it(TITLES[4], async () => {
    const store = use(ctx.store, undefined);
    await writeSecrets(store);
    const raw = await store.exportRun("run-1", { sealed: true });
    expect(raw).toEqual(await store.exportRun("run-1"));
    expect(rawText(raw)).toContain("canary-7f3a");
    expect(store.hasher).toBeUndefined();
    expect(use(store, KEY_1).hasher?.("x")).toMatch(/^[0-9a-f]{64}$/);
  });
}
