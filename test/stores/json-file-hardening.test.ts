/**
 * The JSON file store against damaged, hand-edited and hostile files: byte flips in the journal
 * (an acknowledged commit is kept exactly or refused as CORRUPT_STATE, never dropped), hand edits
 * of a task's output (recorded as `task_edited` by hand), read-only opens (nothing on disk
 * changes), and FIFOs where its files belong (refused at once).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { outputHashOf } from "../../src/hash.js";
import { JsonFileStore } from "../../src/stores/json/store.js";
import { newTaskRecord, type Store, type TaskRecord } from "../../src/stores/store.js";

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-json-hard-"));
  onTestFinished(({ task }) => {
    if (task.result?.state === "fail") console.error(`kept ${dir} for inspection`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Every file of a folder with the sha256 of its bytes. */
function folder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) out[name] = createHash("sha256").update(fs.readFileSync(path.join(dir, name))).digest("hex");
  return out;
}

function completed(name: string, output: string, at = "2026-01-01T00:00:00.000Z"): TaskRecord {
  return { ...newTaskRecord(name), status: "completed", output, outputHash: outputHashOf(output, null), inputHash: `in-${name}`, startedAt: at, completedAt: at, attempts: 1 };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Everything a reader can see, times included. */
async function everything(store: Store): Promise<unknown> {
  const runs = await store.listRuns();
  return { runs, dumps: await Promise.all(runs.map((r) => store.exportRun(r.runId))) };
}

/** A journal left by a process that died after acknowledging every commit (nothing compacted). */
async function crashedJournal(dir: string): Promise<{ file: string; journal: Buffer; expected: unknown }> {
  const file = path.join(dir, "state.json");
  const store = await JsonFileStore.open(file, { compactAfterBytes: 1 << 30 });
  await store.beginRun({ runId: "r", crew: "c", inputs: { notes: "n" } });
  await store.saveTask("r", completed("a", "first ✓"), { type: "task_completed" });
  await store.recordCall("r", { task: "b", position: 0, kind: "model", requestHash: "q", response: { text: "hi" }, usage: { inputTokens: 3, outputTokens: 4, costUsd: null }, at: "2026-01-01T00:00:00.000Z" });
  await store.saveTask("r", completed("b", "second"), { type: "task_completed" });
  const expected = await everything(store);
  const journal = fs.readFileSync(`${file}.journal`);
  return { file, journal, expected };
}

describe("JSON file store: a damaged journal never loses an acknowledged commit silently", () => {
  it("flipping any byte of any record, the last included: the exact committed state or CORRUPT_STATE naming file and offset, files unchanged", async () => {
    const { journal, expected } = await crashedJournal(tempDir());
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const outcomes = { exact: 0, corrupt: 0 };
    const lastRecord = journal.lastIndexOf(0x0a, journal.length - 2) + 1;
    for (let i = 0; i < journal.length; i++) {
      // Every byte flipped; a newline planted too in the last record (in the others it is a flip like any other).
      for (const value of new Set(i >= lastRecord ? [journal[i]! ^ 0x01, 0x0a] : [journal[i]! ^ 0x01])) {
        if (value === journal[i]) continue;
        const damaged = Buffer.from(journal);
        damaged[i] = value;
        fs.writeFileSync(`${file}.journal`, damaged);
        const before = folder(dir);
        // A reader (show) at every byte; a writer (run), which must not compact over damage, at
        // every byte of the last record and every 8th before it.
        const writer = value !== 0x0a && (i >= lastRecord || i % 8 === 0);
        for (const readOnly of writer ? [true, false] : [true]) {
          const where = `byte ${i} set to ${value} (${readOnly ? "read-only" : "writable"})`;
          let store: JsonFileStore | undefined;
          const error = await errorOf(JsonFileStore.open(file, { readOnly }).then((s) => (store = s)));
          if (error === undefined) {
            expect(await everything(store!), where).toEqual(expected);
            outcomes.exact += 1;
            if (!readOnly) {
              await store!.close();
              fs.rmSync(file);
              fs.writeFileSync(`${file}.journal`, damaged);
              continue;
            }
          } else {
            expect(isCrewstateError(error, "CORRUPT_STATE"), `${where}: ${String(error)}`).toBe(true);
            const { context, message } = error as { context: { path: string; offset: number }; message: string };
            expect(context.path, where).toBe(`${file}.journal`);
            expect(message, where).toContain(`${file}.journal is corrupt at byte ${context.offset}`);
            expect(context.offset, where).toBeLessThanOrEqual(i);
            outcomes.corrupt += 1;
          }
          expect(folder(dir), where).toEqual(before);
        }
      }
    }
    expect(outcomes.corrupt).toBeGreaterThan(journal.length);
    expect(outcomes.exact).toBeGreaterThan(0); // the last newline, flipped: whole record kept
  }, 300_000);

  it("zeroing every checksum is CORRUPT_STATE, not an empty store", async () => {
    const { journal } = await crashedJournal(tempDir());
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    fs.writeFileSync(`${file}.journal`, journal.toString("latin1").replace(/"sum":"[0-9a-f]{16}"/g, `"sum":"${"0".repeat(16)}"`), "latin1");
    const before = folder(dir);
    for (const readOnly of [true, false]) {
      const error = await errorOf(JsonFileStore.open(file, { readOnly }));
      expect(isCrewstateError(error, "CORRUPT_STATE"), String(error)).toBe(true);
      expect((error as Error).message).toContain(`${file}.journal is corrupt at byte 0`);
      expect(folder(dir)).toEqual(before);
    }
  });
});

describe("JSON file store: read-only", () => {
  const TUTORIAL = `{\n  "completed_tasks": {\n    "analyze_task": "Policy PN-1, hail",\n    "draft_task": {"output": "Triage: call the client", "completed_at": "2026-01-02T03:04:05.000Z", "reviewer": "ana"}\n  },\n  "run_count": 2\n}\n`;

  async function readEverything(store: JsonFileStore, runId: string): Promise<void> {
    await store.listRuns();
    const run = await store.getRun(runId);
    await store.events(runId);
    for (const task of run?.tasks ?? []) await store.calls(runId, task.name);
    await store.exportRun(runId);
  }

  it("leaves a hand-written tutorial file byte-identical after every read method and refuses every write with READ_ONLY", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    fs.writeFileSync(file, TUTORIAL);
    const before = folder(dir);
    const store = await JsonFileStore.open(file, { readOnly: true });
    await readEverything(store, "state");
    expect((await store.getRun("state"))!.tasks.map((t) => t.output)).toEqual(["Policy PN-1, hail", "Triage: call the client"]);
    const writes: Array<() => Promise<unknown>> = [
      () => store.beginRun({ runId: "r2", crew: "c", inputs: {} }),
      () => store.saveTask("state", completed("x", "y"), { type: "task_completed" }),
      () => store.setRunStatus("state", "failed", "no", { type: "run_failed" }),
      () => store.removeTask("state", "analyze_task", { type: "task_invalidated" }),
      () => store.recordCall("state", { task: "x", position: 0, kind: "tool", requestHash: "h", response: null, usage: null, at: "2026-01-01T00:00:00.000Z" }),
      () => store.clearCalls("state", "analyze_task"),
      () => store.claimTask("state", "x", "w", 1000),
    ];
    for (const write of writes) {
      const error = await errorOf(write());
      expect(isCrewstateError(error, "READ_ONLY"), String(error)).toBe(true);
      expect((error as Error).message).toContain(file);
    }
    await store.close();
    expect(folder(dir)).toEqual(before); // no .bak, no conversion, no lock, no journal
  });

  it("replays an intact journal without compacting it, taking no lock, and creates nothing where no store is", async () => {
    const source = tempDir();
    const { journal, expected } = await crashedJournal(source);
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    fs.writeFileSync(`${file}.journal`, journal);
    fs.writeFileSync(`${file}.lock`, JSON.stringify({ pid: 1, host: "elsewhere", nonce: "n" })); // a writer holds it
    const before = folder(dir);
    const store = await JsonFileStore.open(file, { readOnly: true });
    expect(await everything(store)).toEqual(expected);
    await readEverything(store, "r");
    await store.close();
    expect(folder(dir)).toEqual(before);

    const nowhere = path.join(tempDir(), "missing", "deeper", "state.json");
    const empty = await JsonFileStore.open(nowhere, { readOnly: true });
    expect(await empty.listRuns()).toEqual([]);
    await empty.close();
    expect(fs.existsSync(path.dirname(path.dirname(nowhere)))).toBe(false);
  });
});

describe("JSON file store: hand edits of a task's output", () => {
  /** A file holding run r with a and b completed, then a's output edited by hand. */
  async function handEdited(dir: string): Promise<{ file: string; previous: string }> {
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", completed("a", "the facts"), { type: "task_completed" });
    await store.saveTask("r", completed("b", "the note"), { type: "task_completed" });
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    const previous = doc.runs.r.tasks.a.output_hash as string;
    doc.runs.r.tasks.a.output = "the facts, corrected by hand";
    fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    return { file, previous };
  }

  it("records a task_edited event by hand with both hashes, and stores the new hash, when opened for writing", async () => {
    const { file, previous } = await handEdited(tempDir());
    const outputHash = outputHashOf("the facts, corrected by hand", null);
    const store = await JsonFileStore.open(file);
    const a = (await store.getRun("r"))!.tasks.find((t) => t.name === "a")!;
    expect([a.output, a.outputHash]).toEqual(["the facts, corrected by hand", outputHash]);
    const edits = (await store.events("r")).filter((e) => e.type === "task_edited");
    expect(edits.map((e) => [e.task, e.data])).toEqual([["a", { by: "hand", previousOutputHash: previous, outputHash }]]);
    await store.close();
    // On disk now: the next open finds nothing more to record.
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(doc.runs.r.tasks.a.output_hash).toBe(outputHash);
    const again = await JsonFileStore.open(file);
    expect((await again.events("r")).filter((e) => e.type === "task_edited")).toHaveLength(1);
    await again.close();
  });

  it("reports a hand edit when read-only (the new hash and the event, in memory) but writes nothing", async () => {
    const dir = tempDir();
    const { file, previous } = await handEdited(dir);
    const before = folder(dir);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      const store = await JsonFileStore.open(file, { readOnly: true });
      const outputHash = outputHashOf("the facts, corrected by hand", null);
      expect((await store.getRun("r"))!.tasks.find((t) => t.name === "a")!.outputHash).toBe(outputHash);
      expect((await store.events("r")).filter((e) => e.type === "task_edited").map((e) => e.data)).toEqual([{ by: "hand", previousOutputHash: previous, outputHash }]);
      await store.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.join("\n")).toMatch(/task "a" of run "r" .* was edited by hand/);
    expect(folder(dir)).toEqual(before);
  });
});

describe("JSON file store: files that are not regular files", () => {
  for (const which of ["state file", "journal", "lock file"] as const) {
    it(`refuses a FIFO as its ${which} at once, naming it, and leaves no lock behind`, async () => {
      const dir = tempDir();
      const file = path.join(dir, "state.json");
      const fifo = which === "state file" ? file : which === "journal" ? `${file}.journal` : `${file}.lock`;
      execFileSync("mkfifo", [fifo]);
      for (const readOnly of which === "lock file" ? [false] : [true, false]) {
        const error = await errorOf(JsonFileStore.open(file, { readOnly, lockTimeoutMs: 60_000 }));
        expect(isCrewstateError(error, "STORE_UNAVAILABLE"), String(error)).toBe(true);
        expect((error as Error).message).toContain(`${fifo} is not a regular file`);
        expect((error as Error).message).not.toContain("\n");
      }
      expect(fs.readdirSync(dir)).toEqual([path.basename(fifo)]);
    });
  }
});
