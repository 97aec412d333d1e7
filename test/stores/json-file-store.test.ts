import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { outputHashOf } from "../../src/hash.js";
import { JsonFileStore } from "../../src/stores/json/store.js";
import { nodeIo, type FileIo } from "../../src/stores/json/file-io.js";
import { MemoryStore } from "../../src/stores/memory/store.js";
import { openStore } from "../../src/stores/open.js";
import { newTaskRecord, type EventType, type NextClaim, type Store, type TaskRecord } from "../../src/stores/store.js";
import { localLeaseTests } from "./local/leases.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const writerScript = path.join(here, "json-file", "writer.ts");

// ------------------------------------------------------------------------------------------------
// Helpers: a temp folder per test (kept when the test fails), hashes, records.

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-json-"));
  onTestFinished(({ task }) => {
    if (task.result?.state === "fail") console.error(`kept ${dir} for inspection`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const CANARY = "CANARY-7731-do-not-echo";

/** A completed record whose output hash matches its output (a mismatch reads as a hand edit). */
function done(name: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  const now = new Date().toISOString();
  const record: TaskRecord = {
    ...newTaskRecord(name),
    status: "completed",
    output: `${name}: ${CANARY} ${"x".repeat(1000)}`,
    inputHash: `hash-${name}`,
    startedAt: now,
    completedAt: now,
    attempts: 1,
    model: "demo",
    usage: { inputTokens: 10, outputTokens: 20, costUsd: 0.000123 },
    ...extra,
  };
  return { ...record, outputHash: extra.outputHash ?? outputHashOf(record.output ?? "", record.structured) };
}

/** The same ops against any store: every primitive, including no-ops and replacements. */
async function exercise(store: Store): Promise<void> {
  await store.beginRun({ runId: "r1", crew: "claims", inputs: { notes: "a\u0000b ✓ 😀", other: "" } });
  await store.saveTask("r1", done("analyze_task", { structured: { policy: "P-1", nested: [1, { deep: null }], "": -0.5 } }), { type: "task_completed", data: { n: 1 } });
  await store.saveTask("r1", done("draft_task"), { type: "task_completed" });
  await store.saveTask("r1", done("7"), { type: "task_completed" });
  await store.saveTask("r1", done("analyze_task", { output: "replaced" }), { type: "task_completed", task: null });
  await store.recordCall("r1", { task: "draft_task", position: 1, kind: "tool", requestHash: "q1", response: ["b"], usage: null, at: "2026-01-01T00:00:00.000Z" });
  await store.recordCall("r1", { task: "draft_task", position: 0, kind: "model", requestHash: "q0", response: { text: "a" }, usage: { inputTokens: 1, outputTokens: 2, costUsd: null }, at: "2026-01-01T00:00:00.000Z" });
  await store.recordCall("r1", { task: "7", position: 0, kind: "model", requestHash: "q", response: null, usage: null, at: "2026-01-01T00:00:00.000Z" });
  await store.clearCalls("r1", "7");
  await store.removeTask("r1", "draft_task", { type: "task_invalidated" });
  await store.removeTask("r1", "never", { type: "task_invalidated" });
  await store.setRunStatus("r1", "failed", "boom", { type: "run_failed" });
  await store.beginRun({ runId: "r1", crew: "claims", inputs: { notes: "again" } });
  await store.beginRun({ runId: "r2", crew: "other", inputs: {} });
  const dump = (await store.exportRun("r1"))!;
  await store.importRun({ ...dump, run: { ...dump.run, runId: "r3" } });
  await store.importRun({ ...dump, run: { ...dump.run, runId: "r2", tasks: [] }, events: [], calls: [] }, { overwrite: true });
  // One commit per task: a begin with its plan, results with the next claim and the run's end, a reuse.
  await store.beginRun({ runId: "r4", crew: "chain", inputs: {}, planned: { tasks: ["a", "b"], orphaned: [] } });
  const lease = await store.saveTask("r4", done("a"), { type: "task_completed" }, { fencingToken: 0, next: nextClaim("b", "worker-a", 0) });
  await store.saveTask("r4", done("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-b", 0) }); // refused: b was claimed since
  await store.saveTask("r4", done("b", { fencingToken: lease!.token }), { type: "task_completed" }, {
    fencingToken: lease!.token,
    calls: [{ task: "b", position: 0, kind: "model", requestHash: "q", response: "r", usage: null, at: "2026-01-01T00:00:00.000Z" }],
    endRun: { status: "completed", error: null, event: { type: "run_completed", data: { made: 2 } } },
  });
  await store.beginRun({ runId: "r4", crew: "chain", inputs: {} });
  const reused = [{ record: done("a", { inputHash: "adopted" }), fencingToken: 0 }, { record: done("b", { fencingToken: 1 }), fencingToken: 1 }];
  await store.reuseTasks("r4", reused, { type: "tasks_reused", data: { tasks: ["a", "b"], adopted: ["a"] } }, { endRun: { status: "completed", error: null, event: { type: "run_completed" } } });
}

/** The next task's claim, riding in a result's commit. */
function nextClaim(task: string, worker: string, seenToken: number): NextClaim {
  return { task, worker, ttlMs: 60_000, seenToken, start: { task: { ...newTaskRecord(task), status: "running", attempts: 1, inputHash: `hash-${task}` }, event: { type: "task_started", data: { attempt: 1 } } } };
}

async function everything(store: Store) {
  const runs = await store.listRuns();
  return { runs, dumps: await Promise.all(runs.map((r) => store.exportRun(r.runId))) };
}

function files(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(isCrewstateError(error) ? error.code : error).toBe(code);
    return error as Error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

function journalLines(file: string): string[] {
  return fs.readFileSync(`${file}.journal`, "utf8").split("\n").filter(Boolean);
}

// ------------------------------------------------------------------------------------------------

describe("JSON file store: durability and layout", () => {
  it("keeps every commit across reopen, with the memory store's semantics", async () => {
    const file = path.join(tempDir(), "crew_state.json");
    const store = await JsonFileStore.open(file);
    await exercise(store);
    const memory = new MemoryStore();
    await exercise(memory);
    const live = await everything(store);
    // Timestamps differ between the two stores; everything else is the same state.
    const strip = (value: unknown) => JSON.parse(JSON.stringify(value, (k, v) => (/At$|^at$/.test(k) ? "T" : v)));
    expect(strip(live)).toEqual(strip(await everything(memory)));
    expect(live.dumps.find((d) => d!.run.runId === "r1")!.run.tasks.map((t) => t.name)).toEqual(["analyze_task", "7"]);

    await store.close();
    const reopened = await JsonFileStore.open(file);
    expect(await everything(reopened)).toEqual(live);
    await reopened.close();
    expect(await everything(await openStore(`json:${file}`))).toEqual(live);
  });

  it("leaves one readable file after close: snake_case, 2-space indent, fixed key order, journal_seq", async () => {
    const dir = tempDir();
    const file = path.join(dir, "crew_state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "claim-1", crew: "claims", inputs: { notes: "n" } });
    await store.saveTask("claim-1", done("analyze_task"), { type: "task_completed" });
    expect(files(dir)).toEqual(["crew_state.json.journal"]);
    await store.close();
    expect(files(dir)).toEqual(["crew_state.json"]);
    const text = fs.readFileSync(file, "utf8");
    expect(text.startsWith('{\n  "crewstate_schema": 1,\n  "journal_seq": 2,\n  "runs": {\n    "claim-1": {\n      "crew": "claims",')).toBe(true);
    const doc = JSON.parse(text);
    expect(Object.keys(doc.runs["claim-1"])).toEqual(["crew", "kind", "parent", "status", "run_count", "error", "inputs", "created_at", "updated_at", "tasks", "calls", "events"]);
    expect(Object.keys(doc.runs["claim-1"].tasks.analyze_task)).toEqual([
      "status", "output", "structured", "input_hash", "output_hash", "started_at", "completed_at",
      "attempts", "error", "usage", "model", "worker", "fencing_token", "lease_expires_at",
    ]);
    expect(doc.runs["claim-1"].tasks.analyze_task.usage).toEqual({ input_tokens: 10, output_tokens: 20, cost_usd: 0.000123 });
    expect(doc.runs["claim-1"].events.map((e: { type: string }) => e.type)).toEqual(["run_started", "task_completed"]);
  });

  it("replays the journal of a process that died before closing", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await exercise(store);
    const expected = await everything(store);
    // "Crash": copy the files as they are now, before any close.
    const copy = path.join(tempDir(), "state.json");
    fs.copyFileSync(`${file}.journal`, `${copy}.journal`);
    expect(fs.existsSync(file)).toBe(false); // nothing compacted yet: all of it is in the journal
    const recovered = await JsonFileStore.open(copy);
    expect(await everything(recovered)).toEqual(expected);
    // Opening compacted it: the file alone holds the state now.
    expect(files(path.dirname(copy))).toEqual(["state.json"]);
    await recovered.close();
    await store.close();
  });

  it("never applies a line twice after a crash between the rename and the journal's removal", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    const oldJournal = fs.readFileSync(`${file}.journal`);
    await store.close();
    fs.writeFileSync(`${file}.journal`, oldJournal); // as if the removal never happened
    const reopened = await JsonFileStore.open(file);
    expect((await reopened.events("r")).map((e) => e.type)).toEqual(["run_started", "task_completed"]);
    expect((await reopened.getRun("r"))!.attempts).toBe(1);
    await reopened.saveTask("r", done("b"), { type: "task_completed" });
    await reopened.close();
    expect(JSON.parse(fs.readFileSync(file, "utf8")).journal_seq).toBe(3);
  });

  it("ignores a torn last journal record: short, or never terminated; keeps a whole one whose newline is missing", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    await store.saveTask("r", done("b"), { type: "task_completed" });
    const journal = fs.readFileSync(`${file}.journal`);
    const lastStart = journal.lastIndexOf(0x0a, journal.length - 2) + 1;
    const torn = [lastStart + 1, lastStart + 20, lastStart + 200, journal.length - 2].map((end) => journal.subarray(0, end));
    // Unterminated: an append never wrote its newline, so whatever its record holds was never acknowledged.
    const garbled = Buffer.concat([journal.subarray(0, lastStart), Buffer.from(journal.subarray(lastStart, journal.length - 1).toString().replace('"b: ', '"B: '))]);
    const zeroed = Buffer.concat([journal.subarray(0, lastStart), Buffer.alloc(4096)]);
    // A torn write can leave several broken pieces, newlines among them, but never its own newline.
    const pieces = Buffer.concat([journal.subarray(0, lastStart), Buffer.from("\u0000\u0000\n{\"seq\":3,\"su\n\u0007garbage\n"), journal.subarray(lastStart + 40, journal.length - 1)]);
    const cases: Array<[Buffer, string[]]> = [...torn, garbled, zeroed, pieces].map((bytes) => [bytes, ["a"]]);
    // The record whole, its newline lost or garbled (a crash between the two fsyncs of an append): kept.
    cases.push([journal.subarray(0, journal.length - 1), ["a", "b"]]);
    cases.push([Buffer.concat([journal.subarray(0, journal.length - 1), Buffer.from([0x07])]), ["a", "b"]]);
    for (const [bytes, names] of cases) {
      const copy = path.join(tempDir(), "state.json");
      fs.writeFileSync(`${copy}.journal`, bytes);
      const recovered = await JsonFileStore.open(copy);
      expect((await recovered.getRun("r"))!.tasks.map((t) => t.name)).toEqual(names);
      await recovered.saveTask("r", done("c"), { type: "task_completed" });
      await recovered.close();
      const reopened = await JsonFileStore.open(copy);
      expect((await reopened.getRun("r"))!.tasks.map((t) => t.name)).toEqual([...names, "c"]);
      await reopened.close();
    }
    await store.close();
  });

  it("refuses a broken journal line with a whole line after it as corruption, and leaves the files alone", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file, { compactAfterBytes: 1 << 30 });
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    await store.saveTask("r", done("b"), { type: "task_completed" });
    const journal = fs.readFileSync(`${file}.journal`);
    const second = journal.indexOf(0x0a) + 1;
    const broken = Buffer.from(journal);
    broken[second + 5] = 0x00; // inside line 2; line 3 is whole
    const copy = path.join(tempDir(), "state.json");
    fs.writeFileSync(`${copy}.journal`, broken);
    const error = await expectCode(JsonFileStore.open(copy), "CORRUPT_STATE");
    expect(error.message).toMatch(/journal is corrupt at byte \d+/);
    expect(fs.readFileSync(`${copy}.journal`)).toEqual(broken);
    await store.close();
  });

  it("cuts a torn tail left by a crashed writer before appending after it", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file, { compactAfterBytes: 1 << 30 });
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const names: string[] = [];
    const garbage = ['{"seq":9,"len":', '{"seq":3,"len":2,"sum":"0000000000000000","op":{}}', "\u0000".repeat(600)];
    for (const [i, tail] of garbage.entries()) {
      fs.appendFileSync(`${file}.journal`, tail); // another writer died mid-append
      names.push(`t${i}`);
      await store.saveTask("r", done(`t${i}`), { type: "task_completed" });
      // What a process reading these files now (or after a crash) sees:
      const copy = path.join(tempDir(), "state.json");
      fs.copyFileSync(`${file}.journal`, `${copy}.journal`);
      const peer = await JsonFileStore.open(copy);
      expect((await peer.getRun("r"))!.tasks.map((t) => t.name)).toEqual(names);
      await peer.close();
    }
    await store.close();
  });

  it("reports a bad line in the middle of the journal as CORRUPT_STATE and writes nothing", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    await store.saveTask("r", done("b"), { type: "task_completed" });
    const lines = journalLines(file);
    const copyDir = tempDir();
    const copy = path.join(copyDir, "state.json");
    const variants = [
      [lines[0], lines[1]!.replace('"a: ', '"A: '), lines[2]], // bit rot inside a string: checksum
      [lines[0], lines[1]!.slice(0, 50), lines[2]], // cut short
      [lines[0], lines[2]], // a line missing
      [lines[1], lines[0], lines[2]], // out of order
    ];
    for (const variant of variants) {
      fs.writeFileSync(`${copy}.journal`, `${variant.join("\n")}\n`);
      const before = sha256(`${copy}.journal`);
      const error = await expectCode(JsonFileStore.open(copy), "CORRUPT_STATE");
      expect(error.message).toContain(`${copy}.journal`);
      expect(error.message).toMatch(/at byte \d+/);
      expect(error.message).not.toContain(CANARY);
      expect(sha256(`${copy}.journal`)).toBe(before);
      expect(files(copyDir)).toEqual(["state.json.journal"]);
    }
    await store.close();
  });
});

describe("JSON file store: corrupt and hostile files", () => {
  async function goodFile(): Promise<{ dir: string; file: string; bytes: Buffer }> {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: { k: "v" } });
    await store.saveTask("r", done("a", { structured: { list: [1, 2, { x: "é" }] } }), { type: "task_completed" });
    await store.close();
    return { dir, file, bytes: fs.readFileSync(file) };
  }

  async function expectCorrupt(dir: string, file: string, bytes: Uint8Array, codes = ["CORRUPT_STATE"], readOnly = false): Promise<Error | null> {
    fs.writeFileSync(file, bytes);
    const before = sha256(file);
    const started = performance.now();
    let error: Error | null = null;
    try {
      const store = await JsonFileStore.open(file, { readOnly });
      await store.close();
    } catch (caught) {
      error = caught as Error;
      expect(codes).toContain(isCrewstateError(error) ? error.code : error);
      expect(error.message).toContain(file);
      expect(error.message).not.toContain(CANARY);
      expect((error as { context?: { offset?: number } }).context?.offset ?? -1).toBeLessThanOrEqual(bytes.length);
    }
    expect(performance.now() - started).toBeLessThan(2000);
    expect(sha256(file)).toBe(before);
    expect(files(dir)).toEqual([path.basename(file)]);
    return error;
  }

  it("refuses truncations, an empty file, trailing garbage, bad UTF-8 and 10k-deep nesting", async () => {
    const { dir, file, bytes } = await goodFile();
    for (const end of [0, 1, 2, 17, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 3, bytes.length - 2]) {
      const error = await expectCorrupt(dir, file, bytes.subarray(0, end));
      expect(error, `truncated at ${end}`).not.toBeNull();
      expect(error!.message).toMatch(/at byte \d+/);
    }
    expect(await expectCorrupt(dir, file, Buffer.concat([bytes, Buffer.from("}garbage")]))).not.toBeNull();
    expect(await expectCorrupt(dir, file, Buffer.concat([bytes, Buffer.from("\u0000\u0000")]))).not.toBeNull();
    const bad = Buffer.from(bytes);
    bad[bytes.indexOf("é")] = 0xff;
    expect((await expectCorrupt(dir, file, bad))!.message).toMatch(/invalid UTF-8 at byte \d+/);
    expect((await expectCorrupt(dir, file, Buffer.from("[".repeat(10_000))))!.message).toMatch(/at byte 10000/);
    // Valid JSON, but nested 10k deep where a payload goes.
    const deep = bytes.toString().replace('"structured": {', `"structured": ${"[".repeat(10_000)}1${"]".repeat(10_000)}, "was": {`);
    expect((await expectCorrupt(dir, file, Buffer.from(deep)))!.message).toMatch(/nested deeper than 520 levels at byte \d+/);
    // Wrong shapes, by location.
    const wrongStatus = bytes.toString().replace('"status": "completed"', '"status": "exploded"');
    expect((await expectCorrupt(dir, file, Buffer.from(wrongStatus)))!.message).toMatch(/runs\.r\.tasks\.a\.status must be one of .* at byte \d+/);
    expect(await expectCorrupt(dir, file, Buffer.from('{"runs": {}}'))).not.toBeNull();
    expect(await expectCorrupt(dir, file, Buffer.from('{"crewstate_schema": 1, "runs": {"../etc": {}}}'))).not.toBeNull();
  });

  it("bit flips: structural ones are CORRUPT_STATE, none crash, none change the file", async () => {
    const { dir, file, bytes } = await goodFile();
    const structural: number[] = [];
    let inString = false;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (inString) {
        if (b === 0x5c) i++;
        else if (b === 0x22) inString = false;
      } else if (b === 0x22) inString = true;
      else if (b === 0x7b || b === 0x5b || b === 0x3a || b === 0x2c) structural.push(i);
    }
    expect(structural.length).toBeGreaterThan(50);
    for (const at of structural.filter((_, i) => i % 7 === 0)) {
      const flipped = Buffer.from(bytes);
      flipped[at] = flipped[at]! ^ 0x01;
      expect(await expectCorrupt(dir, file, flipped), `flip at ${at}`).not.toBeNull();
    }
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < 60; k++) {
      const flipped = Buffer.from(bytes);
      const at = Math.floor(random() * bytes.length);
      flipped[at] = flipped[at]! ^ (1 << Math.floor(random() * 8));
      // Either refused or read (a flip inside a string is just other text, which a writer would
      // record as a hand edit); never a crash or, read-only, a write.
      await expectCorrupt(dir, file, flipped, ["CORRUPT_STATE", "UNSUPPORTED_SCHEMA_VERSION"], true);
    }
  });

  it("never lets __proto__ or constructor keys pollute prototypes, and keeps them as data", async () => {
    const { dir, file, bytes } = await goodFile();
    const doc = bytes
      .toString()
      .replace('"runs": {', '"__proto__": {"polluted": "top"}, "constructor": {"prototype": {"polluted": "c"}}, "runs": {')
      .replace('"crew": "c",', '"crew": "c", "__proto__": {"polluted": "run"},')
      .replace('"inputs": {', '"inputs": {"__proto__": "x",')
      .replace('"structured": {', '"structured": {"__proto__": {"polluted": "payload"}, ');
    fs.writeFileSync(file, doc);
    const store = await JsonFileStore.open(file);
    const run = (await store.getRun("r"))!;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(run.tasks[0]!.structured)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(run.tasks[0]!.structured)).toContain("__proto__");
    expect(Object.getOwnPropertyNames(run.inputs)).toContain("__proto__");
    await store.saveTask("r", done("b"), { type: "task_completed", data: JSON.parse('{"__proto__": {"polluted": "event"}}') });
    await store.close();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const written = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(Object.getOwnPropertyNames(written)).toEqual(expect.arrayContaining(["__proto__", "constructor"]));
    expect(Object.getOwnPropertyNames(written.runs.r)).toContain("__proto__");
    expect(written.runs.r.events.at(-1).data).toEqual(JSON.parse('{"__proto__": {"polluted": "event"}}'));
    expect(files(dir)).toEqual(["state.json"]);
  });

  it("refuses a newer schema, naming the file and both versions, and writes nothing", async () => {
    const { dir, file, bytes } = await goodFile();
    fs.writeFileSync(file, bytes.toString().replace('"crewstate_schema": 1', '"crewstate_schema": 2'));
    const before = sha256(file);
    const error = await expectCode(JsonFileStore.open(file), "UNSUPPORTED_SCHEMA_VERSION");
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/schema 2.*schema 1/);
    expect(sha256(file)).toBe(before);
    expect(files(dir)).toEqual(["state.json"]);
  });

  it("refuses duplicate keys on every open, naming the file and byte, and writes nothing", async () => {
    const { dir, file, bytes } = await goodFile();
    const doubled = bytes.toString().replace('"status": "completed"', '"status": "failed", "status": "completed"');
    fs.writeFileSync(file, doubled);
    const before = sha256(file);
    const error = await expectCode(JsonFileStore.open(file), "CORRUPT_STATE");
    expect(error.message).toMatch(/duplicate key in an object at byte \d+/);
    expect(error.message).toContain(file);
    expect(sha256(file)).toBe(before);
    expect(files(dir)).toEqual(["state.json"]);
    // Fixed by hand: it opens again.
    fs.writeFileSync(file, bytes);
    const fixed = await JsonFileStore.open(file);
    expect((await fixed.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["a"]);
    await fixed.close();
  });

  it("notices a file corrupted under a running store and refuses to commit over it", async () => {
    const { dir, file } = await goodFile();
    const store = await JsonFileStore.open(file);
    fs.writeFileSync(file, '{"crewstate_schema": 1, "runs": ');
    const before = sha256(file);
    await expectCode(store.saveTask("r", done("b"), { type: "task_completed" }), "CORRUPT_STATE");
    await expectCode(store.getRun("r"), "CORRUPT_STATE");
    await store.close();
    expect(sha256(file)).toBe(before);
    expect(files(dir)).toEqual(["state.json"]);
  });

  it("refuses a symlinked state file or journal", async () => {
    const { dir, file } = await goodFile();
    const elsewhere = path.join(tempDir(), "target.json");
    fs.renameSync(file, elsewhere);
    fs.symlinkSync(elsewhere, file);
    const error = await expectCode(JsonFileStore.open(file), "STORE_UNAVAILABLE");
    expect(error.message).toMatch(/symbolic link/);
    fs.unlinkSync(file);
    fs.renameSync(elsewhere, file);
    fs.writeFileSync(elsewhere, "not a journal\n");
    fs.symlinkSync(elsewhere, `${file}.journal`);
    expect((await expectCode(JsonFileStore.open(file), "STORE_UNAVAILABLE")).message).toMatch(/journal is a symbolic link/);
    expect(fs.readFileSync(elsewhere, "utf8")).toBe("not a journal\n");
    expect(files(dir)).toEqual(["state.json", "state.json.journal"]);
  });
});

describe("JSON file store: the tutorial's file and hand edits", () => {
  const tutorial = {
    completed_tasks: {
      analyze_task: "- policy P-1\n- loss 2026-01-02",
      draft_task: { output: "Triage note: call the client", completed_at: "2026-04-21T10:00:00.123456Z" },
    },
    run_count: 3,
  };

  it("reads the tutorial's layout as one run, and backs it up before converting it", async () => {
    const dir = tempDir();
    const file = path.join(dir, "crew_state.json");
    const original = JSON.stringify(tutorial, null, 2); // what the tutorial's save_state writes
    fs.writeFileSync(file, original);
    const store = await JsonFileStore.open(file);
    const run = (await store.getRun("crew_state"))!;
    expect(run).toMatchObject({ runId: "crew_state", crew: "", status: "completed", attempts: 3, inputs: {} });
    expect(run.tasks.map((t) => [t.name, t.status, t.inputHash, t.output, t.completedAt])).toEqual([
      ["analyze_task", "completed", null, "- policy P-1\n- loss 2026-01-02", null],
      ["draft_task", "completed", null, "Triage note: call the client", "2026-04-21T10:00:00.123456Z"],
    ]);
    await store.close();
    expect(fs.readFileSync(file, "utf8")).toBe(original); // read-only use: untouched, no .bak

    const again = await JsonFileStore.open(file);
    await again.beginRun({ runId: "crew_state", crew: "claims-triage", inputs: { notes: "n" } }); // "" matches any crew
    await again.saveTask("crew_state", done("draft_task"), { type: "task_completed" });
    expect(fs.readFileSync(file, "utf8")).toBe(original); // still: the commit is in the journal
    await again.close();
    expect(fs.readFileSync(`${file}.tutorial.bak`, "utf8")).toBe(original);
    expect((fs.statSync(`${file}.tutorial.bak`).mode & 0o777).toString(8)).toBe("600");
    const converted = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(converted.crewstate_schema).toBe(1);
    expect(converted.runs.crew_state).toMatchObject({ crew: "claims-triage", run_count: 4 });
    expect(Object.keys(converted.runs.crew_state.tasks)).toEqual(["analyze_task", "draft_task"]);
    expect(files(dir)).toEqual(["crew_state.json", "crew_state.json.tutorial.bak"]);
  });

  it("never overwrites an existing .bak, and names a run 'tutorial' when the file name is no run ID", async () => {
    const dir = tempDir();
    const file = path.join(dir, "my state!.json");
    fs.writeFileSync(file, JSON.stringify(tutorial));
    fs.writeFileSync(`${file}.tutorial.bak`, "older backup");
    const store = await JsonFileStore.open(file);
    expect((await store.listRuns()).map((r) => r.runId)).toEqual(["tutorial"]);
    await store.setRunStatus("tutorial", "paused", null, { type: "run_paused" });
    await store.close();
    expect(fs.readFileSync(`${file}.tutorial.bak`, "utf8")).toBe("older backup");
    expect(JSON.parse(fs.readFileSync(file, "utf8")).runs.tutorial.status).toBe("paused");
  });

  it("reruns exactly the task whose entry was deleted by hand, and keeps unknown fields", async () => {
    const file = path.join(tempDir(), "crew_state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "claim-1", crew: "claims", inputs: {} });
    for (const name of ["analyze_task", "draft_task", "review_task"]) await store.saveTask("claim-1", done(name), { type: "task_completed" });
    await store.close();

    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    delete doc.runs["claim-1"].tasks.draft_task;
    doc.runs["claim-1"].tasks.review_task.reviewer_note = "checked by Ana";
    doc.runs["claim-1"].ticket = "OPS-12";
    doc.comment = "hand-edited";
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));

    const edited = await JsonFileStore.open(file);
    const run = (await edited.getRun("claim-1"))!;
    expect(run.tasks.map((t) => t.name)).toEqual(["analyze_task", "review_task"]);
    await edited.saveTask("claim-1", done("draft_task"), { type: "task_completed" });
    await edited.saveTask("claim-1", { ...done("review_task"), attempts: 2 }, { type: "task_completed" });
    await edited.close();
    const after = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(after.comment).toBe("hand-edited");
    expect(after.runs["claim-1"].ticket).toBe("OPS-12");
    expect(after.runs["claim-1"].tasks.review_task).toMatchObject({ attempts: 2, reviewer_note: "checked by Ana" });
  });
});

describe("JSON file store: run kind and parent", () => {
  it("writes a run's kind and parent, replays them from the journal, and reads a file without them as a crew run without a parent", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "f", crew: "pipeline", inputs: {}, kind: "flow", parent: { runId: "origin", task: "write#2" } });
    await store.beginRun({ runId: "c", crew: "claims", inputs: {} });
    await store.saveTask("f", done("write#1"), { type: "task_completed" }, { fencingToken: 0, fencedBy: "flow" });
    const expected = await everything(store);
    // Replayed from the journal by a second handle, then from the compacted file.
    const other = await JsonFileStore.open(file);
    expect(await everything(other)).toEqual(expected);
    await other.close();
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(doc.runs.f).toMatchObject({ kind: "flow", parent: { run_id: "origin", task: "write#2" } });
    expect(doc.runs.c).toMatchObject({ kind: "crew", parent: null });
    const reopened = await JsonFileStore.open(file);
    expect(await everything(reopened)).toEqual(expected);
    await reopened.close();

    delete doc.runs.f.kind;
    delete doc.runs.f.parent;
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const old = await JsonFileStore.open(file);
    expect(await old.getRun("f")).toMatchObject({ kind: "crew", parent: null });
    await old.close();
  });

  it("refuses a file whose run has an unknown kind or a malformed parent, writing nothing", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const [key, value] of [["kind", "job"], ["parent", "origin"], ["parent", { run_id: "../x", task: null }]] as const) {
      fs.writeFileSync(file, JSON.stringify({ ...doc, runs: { r: { ...doc.runs.r, [key]: value } } }, null, 2));
      const before = sha256(file);
      const error = await expectCode(JsonFileStore.open(file), "CORRUPT_STATE");
      expect(error.message).toContain(`runs.r.${key}`);
      expect(sha256(file)).toBe(before);
    }
  });
});

describe("JSON file store: I/O faults, locks, permissions", () => {
  function faulty(fail: { fsync?: number; write?: number; rename?: number }): FileIo {
    const io: FileIo = {
      ...nodeIo,
      fsyncSync: (fd) => {
        if (fail.fsync !== undefined && fail.fsync-- === 0) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
        nodeIo.fsyncSync(fd);
      },
      writeSync: ((fd: number, buffer: Uint8Array, offset?: number, length?: number, position?: number | null) => {
        if (fail.write !== undefined && fail.write-- === 0) {
          nodeIo.writeSync(fd, buffer, offset, Math.min(length ?? buffer.length, 7), position); // a partial write, then
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        }
        return nodeIo.writeSync(fd, buffer, offset, length, position);
      }) as FileIo["writeSync"],
      renameSync: (from, to) => {
        if (fail.rename !== undefined && fail.rename-- === 0) throw Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
        nodeIo.renameSync(from, to);
      },
    };
    return io;
  }

  it("fails a commit whose fsync fails, leaves memory and disk without it, and recovers", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const fail: { fsync?: number; write?: number } = {};
    const store = await JsonFileStore.open(file, { io: faulty(fail) });
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    fail.fsync = 0;
    const error = await expectCode(store.saveTask("r", done("b"), { type: "task_completed" }), "STORE_UNAVAILABLE");
    expect(error.message).toMatch(/EIO/);
    expect((await store.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["a"]);
    expect(journalLines(file)).toHaveLength(2);
    fail.write = 0;
    await expectCode(store.saveTask("r", done("c"), { type: "task_completed" }), "STORE_UNAVAILABLE");
    expect(journalLines(file)).toHaveLength(2);
    await store.saveTask("r", done("d"), { type: "task_completed" });
    await store.close();
    const reopened = await JsonFileStore.open(file);
    expect((await reopened.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["a", "d"]);
    await reopened.close();
  });

  it("keeps the file and removes its temp file when compaction fails", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const first = await JsonFileStore.open(file);
    await first.beginRun({ runId: "r", crew: "c", inputs: {} });
    await first.close();
    const before = sha256(file);
    const fail: { rename?: number } = {};
    const store = await JsonFileStore.open(file, { io: faulty(fail) });
    await store.saveTask("r", done("a"), { type: "task_completed" });
    fail.rename = 0;
    await expectCode(store.close(), "STORE_UNAVAILABLE");
    expect(sha256(file)).toBe(before);
    expect(files(dir)).toEqual(["state.json", "state.json.journal"]);
    const reopened = await JsonFileStore.open(file); // compacts what the failed close could not
    expect((await reopened.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["a"]);
    expect(files(dir)).toEqual(["state.json"]);
    await reopened.close();
  });

  it("serves reads from a folder it may not write to, and says why a commit cannot", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const first = await JsonFileStore.open(file);
    await first.beginRun({ runId: "r", crew: "c", inputs: {} });
    await first.close();
    const denied = (p: fs.PathLike) => {
      if (String(p) !== file) throw Object.assign(new Error(`EACCES: permission denied, open '${String(p)}'`), { code: "EACCES" });
    };
    const readOnly: FileIo = {
      ...nodeIo,
      openSync: ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
        if (typeof flags === "number" && (flags & fs.constants.O_CREAT) !== 0) denied(p);
        return nodeIo.openSync(p, flags ?? "r", mode);
      }) as FileIo["openSync"],
    };
    const store = await JsonFileStore.open(file, { io: readOnly });
    expect((await store.getRun("r"))!.crew).toBe("c");
    const error = await expectCode(store.saveTask("r", done("a"), { type: "task_completed" }), "STORE_UNAVAILABLE");
    expect(error.message).toMatch(/state\.json\.lock \(EACCES: permission denied\)/);
    await store.close();
  });

  it("compacts when the journal outgrows its threshold", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file, { compactAfterBytes: 8 * 1024 });
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    for (let i = 0; i < 40; i++) await store.saveTask("r", done(`t${i}`), { type: "task_completed" });
    expect(fs.existsSync(file)).toBe(true);
    expect(journalLines(file).length).toBeLessThan(40);
    const other = await JsonFileStore.open(file);
    expect((await other.getRun("r"))!.tasks).toHaveLength(40);
    await other.close();
    await store.close();
  });

  it("takes over a dead process's lock, cleans crash leftovers, and waits for a live one", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid!)));
    const lock = (pid: number) => JSON.stringify({ pid, host: os.hostname(), boot: null, thread: 0, nonce: "n", since: "then" });
    fs.writeFileSync(`${file}.lock`, lock(deadPid));
    fs.writeFileSync(`${file}.tmp-123-abc-1`, "half a snapshot");
    fs.writeFileSync(`${file}.lock.stale-x-1`, "moved-aside lock");
    const store = await JsonFileStore.open(file, { lockTimeoutMs: 300 });
    expect(files(dir)).toEqual([]);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });

    fs.writeFileSync(`${file}.lock`, lock(process.ppid)); // alive: the test runner
    const started = Date.now();
    const error = await expectCode(store.saveTask("r", done("a"), { type: "task_completed" }), "STORE_LOCKED");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(error.message).toContain(file);
    expect(error.message).toContain(`process ${process.ppid}`);
    fs.unlinkSync(`${file}.lock`);
    await store.saveTask("r", done("a"), { type: "task_completed" });
    await store.close();
    expect(files(dir)).toEqual(["state.json"]);
  });

  it("sees another store's commits on the same file", async () => {
    const file = path.join(tempDir(), "state.json");
    const a = await JsonFileStore.open(file);
    const b = await JsonFileStore.open(file);
    await a.beginRun({ runId: "r", crew: "c", inputs: {} });
    await b.saveTask("r", done("from-b"), { type: "task_completed" });
    await a.saveTask("r", done("from-a"), { type: "task_completed" });
    await b.close(); // compacts: a must notice the new file
    await a.saveTask("r", done("from-a-2"), { type: "task_completed" }, { fencingToken: 0 });
    await expectCode(a.saveTask("r", done("from-a-2"), { type: "task_completed" }, { fencingToken: 5 }), "FENCED_OUT");
    expect((await a.getRun("r"))!.tasks.map((t) => t.name)).toEqual(["from-b", "from-a", "from-a-2"]);
    expect((await a.events("r")).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    await a.close();
  });

  it("creates files 0600 and folders 0700 under umask 0", async () => {
    const dir = tempDir();
    const file = path.join(dir, "deep", "er", "state.json");
    const previous = process.umask(0);
    try {
      const store = await JsonFileStore.open(file);
      await store.beginRun({ runId: "r", crew: "c", inputs: {} });
      const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
      expect(mode(path.join(dir, "deep"))).toBe("700");
      expect(mode(path.join(dir, "deep", "er"))).toBe("700");
      expect(mode(`${file}.journal`)).toBe("600");
      await store.close();
      expect(mode(file)).toBe("600");
    } finally {
      process.umask(previous);
    }
  });
});

describe("JSON file store: real processes", () => {
  interface Child {
    acked: string[];
    exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
    kill(): void;
    firstAck: Promise<void>;
  }

  function writer(file: string, prefix: string, count: number, compactAfterBytes: number): Child {
    const child = spawn(process.execPath, ["--import", "tsx", writerScript, file, "r", prefix, String(count), String(compactAfterBytes)], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acked: string[] = [];
    let buffered = "";
    let stderr = "";
    let onFirst!: () => void;
    const firstAck = new Promise<void>((resolve) => (onFirst = resolve));
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith("ack ")) acked.push(line.slice(4));
      if (acked.length > 0) onFirst();
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal, stderr })),
    );
    return { acked, exited, kill: () => child.kill("SIGKILL"), firstAck };
  }

  async function newRun(file: string): Promise<void> {
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.close();
  }

  it("keeps every acknowledged commit across random SIGKILLs", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    await newRun(file);
    const acked: string[] = [];
    for (let round = 0; round < 5; round++) {
      const child = writer(file, `k${round}-`, 1_000_000, 96 * 1024); // small threshold: kills land in compactions too
      await Promise.race([child.firstAck, child.exited]);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 300));
      child.kill();
      const { signal, stderr } = await child.exited;
      expect(signal, stderr).toBe("SIGKILL");
      expect(child.acked.length).toBeGreaterThan(0);
      acked.push(...child.acked);

      const store = await JsonFileStore.open(file);
      const names = new Set((await store.getRun("r"))!.tasks.map((t) => t.name));
      const lost = acked.filter((name) => !names.has(name));
      expect(lost, `round ${round}: lost acknowledged commits`).toEqual([]);
      await store.close();
      JSON.parse(fs.readFileSync(file, "utf8"));
      expect(files(dir), "no leftovers after the next open").toEqual(["state.json"]);
    }
  }, 30_000);

  it("loses nothing when two processes commit to the same run at once", async () => {
    const file = path.join(tempDir(), "state.json");
    await newRun(file);
    const children = [writer(file, "a", 100, 32 * 1024), writer(file, "b", 100, 1 << 30)];
    const results = await Promise.all(children.map((c) => c.exited));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const store = await JsonFileStore.open(file);
    const run = (await store.getRun("r"))!;
    expect(run.tasks).toHaveLength(200);
    expect(new Set(run.tasks.map((t) => t.name)).size).toBe(200);
    expect((await store.events("r")).map((e) => e.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    await store.close();
  }, 30_000);
});

describe("JSON file store: leases and costs", () => {
  /** A journal line as the store writes it, checksum and all. */
  function journalLine(seq: number, op: unknown): string {
    const text = JSON.stringify(op);
    const sum = createHash("sha256").update(`${seq}\n${text}`).digest("hex").slice(0, 16);
    return `{"seq":${seq},"sum":"${sum}","op":${text}}\n`;
  }

  localLeaseTests({ kind: "json", newFile: () => path.join(tempDir(), "state.json"), open: (file) => JsonFileStore.open(file), race: { workers: 6, tasks: 25 } });

  it("journals a chain step, a reuse and a begin with its plan as one line each, and replays them", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {}, planned: { tasks: ["a", "b"] } });
    expect(journalLines(file)).toHaveLength(1);
    const lease = await store.saveTask("r", done("a"), { type: "task_completed" }, { next: nextClaim("b", "worker-a", 0), endRun: { status: "paused", error: null, event: { type: "run_paused" } } });
    expect(journalLines(file)).toHaveLength(2);
    expect(JSON.parse(journalLines(file)[1]!).op).toMatchObject({ type: "save_task", next: { task: "b", worker: "worker-a", seen_token: 0 }, end_run: { status: "paused" } });
    await store.saveTask("r", done("a"), { type: "task_completed" }, { fencingToken: 5, next: nextClaim("b", "worker-b", 1) }).catch(() => undefined);
    await store.reuseTasks("r", [{ record: done("a"), fencingToken: 0 }, { record: done("b"), fencingToken: 0 }], { type: "tasks_reused" }).catch(() => undefined);
    expect(journalLines(file)).toHaveLength(2); // refusals write nothing
    await store.reuseTasks("r", [{ record: done("a"), fencingToken: 0 }, { record: done("b", { fencingToken: 1 }), fencingToken: 1 }], { type: "tasks_reused" }, {
      endRun: { status: "completed", error: null, event: { type: "run_completed" } },
    });
    expect(journalLines(file)).toHaveLength(3);
    const live = { run: await store.getRun("r"), events: await store.events("r") };
    expect(live.events.map((e) => e.type)).toEqual(["run_started", "run_planned", "task_completed", "task_started", "run_paused", "tasks_reused", "run_completed"]);
    expect(live.run!.tasks.find((t) => t.name === "b")).toMatchObject({ status: "completed", fencingToken: 1 });
    expect(lease).toEqual({ runId: "r", task: "b", worker: "worker-a", token: 1, expiresAt: expect.any(String) });
    // Another handle replays the journal; a reopen compacts it into the file.
    const other = await JsonFileStore.open(file);
    expect({ run: await other.getRun("r"), events: await other.events("r") }).toEqual(live);
    await other.close();
    await store.close();
    const reopened = await JsonFileStore.open(file);
    expect({ run: await reopened.getRun("r"), events: await reopened.events("r") }).toEqual(live);
    await reopened.close();
  });

  it("replays journals written before the chain (ops without next, end_run or planned), and refuses malformed new ops", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const begin = { type: "begin_run", run_id: "r", crew: "c", kind: "crew", parent: null, inputs: {}, at: "2026-01-01T00:00:00.000Z" };
    const claim = { type: "claim_task", run_id: "r", task: "a", worker: "w", ttl_ms: 1000, at: "2026-01-01T00:00:01.000Z" };
    const task = { name: "a", status: "failed", output: null, structured: null, input_hash: "h", output_hash: null, started_at: null, completed_at: null, attempts: 1, error: "boom", usage: null, model: null, worker: "w", fencing_token: 1, lease_expires_at: null };
    const save = { type: "save_task", run_id: "r", task, event: { type: "task_failed", task: "a", data: null }, at: "2026-01-01T00:00:02.000Z", fencing_token: 1 };
    const status = { type: "set_run_status", run_id: "r", status: "failed", error: "boom", event: { type: "run_failed", task: null, data: null }, at: "2026-01-01T00:00:03.000Z" };
    fs.writeFileSync(`${file}.journal`, [begin, claim, save, status].map((op, i) => journalLine(i + 1, op)).join(""));
    const store = await JsonFileStore.open(file);
    expect((await store.getRun("r"))!).toMatchObject({ status: "failed", error: "boom", tasks: [{ name: "a", status: "failed", fencingToken: 1 }] });
    expect((await store.events("r")).map((e) => e.type)).toEqual(["run_started", "task_failed", "run_failed"]);
    await store.close();
    fs.rmSync(file);

    const next = { task: "b", worker: "w", ttl_ms: 1000, seen_token: 0, start: { task: { ...task, name: "b", status: "running" }, event: { type: "task_started", task: "b", data: null } } };
    const endRun = { status: "completed", error: null, event: { type: "run_completed", task: null, data: null } };
    const reuse = { type: "reuse_tasks", run_id: "r", tasks: [{ task, fencing_token: 1 }], event: { type: "tasks_reused", task: null, data: null }, at: save.at };
    const bad: Array<[unknown, RegExp]> = [
      [{ ...begin, planned: [1] }, /planned must be an object/],
      [{ ...save, next: { ...next, ttl_ms: 0 } }, /next\.ttl_ms must be a whole number/],
      [{ ...save, next: { ...next, seen_token: -1 } }, /next\.seen_token must be a whole number/],
      [{ ...save, next: { ...next, start: { ...next.start, task: task } } }, /next\.start\.task\.name must name the claimed task/],
      [{ ...save, next, at: "later" }, /\bat must be an ISO-8601 UTC time/],
      [{ ...save, end_run: { ...endRun, status: "done" } }, /end_run\.status must be one of/],
      [{ ...reuse, tasks: [{ task, fencing_token: 1 }, { task, fencing_token: 1 }] }, /tasks\[1\]\.task\.name names a task already reused/],
      [{ ...reuse, tasks: [{ task }] }, /tasks\[0\]\.fencing_token is missing/],
      // Well-formed, but not what this state could have journaled: a stale token.
      [{ ...reuse, tasks: [{ task, fencing_token: 0 }] }, /does not fit the state/],
    ];
    for (const [op, problem] of bad) {
      fs.writeFileSync(`${file}.journal`, [begin, claim, op].map((o, i) => journalLine(i + 1, o)).join(""));
      const before = sha256(`${file}.journal`);
      const error = await expectCode(JsonFileStore.open(file), "CORRUPT_STATE");
      expect(error.message, JSON.stringify(op)).toMatch(problem);
      expect(sha256(`${file}.journal`)).toBe(before);
      expect(files(dir)).toEqual(["state.json.journal"]);
    }
  });

  it("judges a claim by the clock when it holds the lock, not when it was asked", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    onTestFinished(() => store.close());
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const held = (await store.claimTask("r", "work", "worker-a", 300))!;
    // A live process (the test runner) holds the lock past the lease's end.
    fs.writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.ppid, host: os.hostname(), boot: null, thread: 0, nonce: "n", since: "then" }));
    const asked = Date.now();
    expect(asked).toBeLessThan(Date.parse(held.expiresAt));
    let settled = false;
    const claim = store.claimTask("r", "work", "worker-b", 30_000).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(settled).toBe(false);
    const unlockedAt = Date.now();
    fs.unlinkSync(`${file}.lock`);
    const lease = await claim;
    expect(lease).toMatchObject({ worker: "worker-b", token: 2 });
    expect(Date.parse(lease!.expiresAt)).toBeGreaterThanOrEqual(unlockedAt + 30_000);
  });

  it("journals granted claims, renewals and releases with their time, and replays them exactly; refusals write nothing", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    await store.saveTask("r", done("kept"), { type: "task_completed" });
    const a = (await store.claimTask("r", "kept", "worker-a", 60_000))!;
    const renewed = await store.heartbeat(a, 90_000);
    const b = (await store.claimTask("r", "fresh", "worker-b", 60_000))!;
    await store.releaseTask(b);
    const c = (await store.claimTask("r", "kept", "worker-c", 60_000, { takeOverFrom: "worker-a" }))!;
    const linesBefore = journalLines(file).length;
    expect(await store.claimTask("r", "kept", "worker-d", 60_000)).toBeUndefined();
    await expectCode(store.heartbeat(a, 1_000), "FENCED_OUT");
    await store.releaseTask(a);
    await expectCode(store.claimTask("nope", "kept", "worker-d", 60_000), "RUN_NOT_FOUND");
    expect(journalLines(file)).toHaveLength(linesBefore);

    const types = journalLines(file).map((l) => (JSON.parse(l) as { op: { type: string } }).op.type);
    expect(types).toEqual(["begin_run", "save_task", "claim_task", "heartbeat", "claim_task", "release_task", "claim_task"]);
    const claimOp = JSON.parse(journalLines(file)[6]!).op;
    expect(claimOp).toEqual({ type: "claim_task", run_id: "r", task: "kept", worker: "worker-c", ttl_ms: 60_000, at: expect.stringMatching(/Z$/), take_over_from: "worker-a" });
    expect(Date.parse(claimOp.at) + 60_000).toBe(Date.parse(c.expiresAt));

    const expected = await everything(store);
    expect(expected.dumps[0]!.run.tasks).toEqual([
      { ...done("kept"), completedAt: expect.any(String), startedAt: expect.any(String), worker: "worker-c", fencingToken: 2, leaseExpiresAt: c.expiresAt },
      { ...newTaskRecord("fresh"), worker: "worker-b", fencingToken: 1, leaseExpiresAt: null },
    ]);
    expect(renewed.token).toBe(1);
    // A crash now: the journal alone recreates the same state.
    const copy = path.join(tempDir(), "state.json");
    fs.copyFileSync(`${file}.journal`, `${copy}.journal`);
    const recovered = await JsonFileStore.open(copy);
    expect(await everything(recovered)).toEqual(expected);
    await recovered.close();
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(doc.runs.r.tasks.kept).toMatchObject({ worker: "worker-c", fencing_token: 2, lease_expires_at: c.expiresAt });
    expect(doc.runs.r.tasks.fresh).toMatchObject({ status: "pending", worker: "worker-b", fencing_token: 1, lease_expires_at: null });
    const reopened = await JsonFileStore.open(file);
    expect(await everything(reopened)).toEqual(expected);
    await reopened.close();
  });

  it("keeps a task entry's unknown keys when the task is claimed, renewed and released", async () => {
    const file = path.join(tempDir(), "state.json");
    const first = await JsonFileStore.open(file);
    await first.beginRun({ runId: "r", crew: "c", inputs: {} });
    await first.saveTask("r", done("work"), { type: "task_completed" });
    await first.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.runs.r.tasks.work.reviewer_note = "checked by Ana";
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const store = await JsonFileStore.open(file);
    const lease = (await store.claimTask("r", "work", "worker-a", 60_000))!;
    await store.releaseTask(await store.heartbeat(lease, 60_000));
    await store.close();
    expect(JSON.parse(fs.readFileSync(file, "utf8")).runs.r.tasks.work).toMatchObject({ reviewer_note: "checked by Ana", worker: "worker-a", fencing_token: 1 });
  });

  it("refuses malformed lease ops in the journal with CORRUPT_STATE, writing nothing", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const begin = { type: "begin_run", run_id: "r", crew: "c", inputs: {}, at: "2026-01-01T00:00:00.000Z" };
    const claim = { type: "claim_task", run_id: "r", task: "work", worker: "w", ttl_ms: 1000, at: "2026-01-01T00:00:01.000Z" };
    const lease = { task: "work", worker: "w", token: 1, expires_at: "2026-01-01T00:00:02.000Z" };
    const good = [claim, { type: "heartbeat", run_id: "r", lease, ttl_ms: 1000, at: "2026-01-01T00:00:01.500Z" }, { type: "release_task", run_id: "r", lease, at: "2026-01-01T00:00:01.600Z" }];
    fs.writeFileSync(`${file}.journal`, [begin, ...good].map((op, i) => journalLine(i + 1, op)).join(""));
    const store = await JsonFileStore.open(file);
    expect((await store.getRun("r"))!.tasks[0]).toMatchObject({ worker: "w", fencingToken: 1, leaseExpiresAt: null });
    await store.close();
    fs.rmSync(file);

    const bad: Array<[unknown, RegExp]> = [
      [{ ...claim, ttl_ms: 0 }, /ttl_ms must be a whole number/],
      [{ ...claim, ttl_ms: 1.5 }, /ttl_ms/],
      [{ ...claim, ttl_ms: undefined }, /ttl_ms is missing/],
      [{ ...claim, at: "yesterday" }, /\bat must be an ISO-8601 UTC time/],
      [{ ...claim, at: "2026-13-45T99:99:99.999Z" }, /\bat must be an ISO-8601 UTC time/],
      [{ ...claim, worker: "" }, /worker must be a worker ID/],
      [{ ...claim, worker: "a\nb" }, /worker must be a worker ID/],
      [{ ...claim, take_over_from: 5 }, /take_over_from must be a worker ID/],
      [{ ...claim, task: "" }, /task/],
      [{ ...claim, run_id: "../x" }, /run_id/],
      [{ type: "heartbeat", run_id: "r", lease: { ...lease, token: 0 }, ttl_ms: 1000, at: claim.at }, /lease\.token must be a whole number ≥ 1/],
      [{ type: "heartbeat", run_id: "r", ttl_ms: 1000, at: claim.at }, /lease must be an object/],
      [{ type: "release_task", run_id: "r", lease: { ...lease, expires_at: null }, at: claim.at }, /lease\.expires_at must be a string/],
      [{ type: "steal_task", run_id: "r" }, /type is not a known journal operation/],
      // Well-formed, but not what this state could have journaled: a stale token.
      [{ type: "heartbeat", run_id: "r", lease: { ...lease, token: 2 }, ttl_ms: 1000, at: claim.at }, /does not fit the state/],
    ];
    for (const [op, problem] of bad) {
      const lines = [journalLine(1, begin), journalLine(2, claim), journalLine(3, op)];
      fs.writeFileSync(`${file}.journal`, lines.join(""));
      const before = sha256(`${file}.journal`);
      const error = await expectCode(JsonFileStore.open(file), "CORRUPT_STATE");
      expect(error.message, JSON.stringify(op)).toMatch(problem);
      expect(error.message).toMatch(/at byte \d+/);
      expect(sha256(`${file}.journal`)).toBe(before);
      expect(files(dir)).toEqual(["state.json.journal"]);
    }
  });

  it("keeps costs exactly through the journal and the file; a usage without cost_usd reads as null; a bad one is refused", async () => {
    const dir = tempDir();
    const file = path.join(dir, "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const costs = [0.1 + 0.2, 1e-12, 123456.789, 0, null, Number.MIN_VALUE, 2 ** 53 + 2];
    for (const [i, costUsd] of costs.entries()) {
      await store.saveTask("r", done(`t${i}`, { usage: { inputTokens: i, outputTokens: 2 * i, costUsd } }), { type: "task_completed" });
      await store.recordCall("r", { task: `t${i}`, position: 0, kind: "model", requestHash: "h", response: null, usage: { inputTokens: 1, outputTokens: 1, costUsd }, at: "2026-01-01T00:00:00.000Z" });
    }
    const check = async (s: Store) => {
      expect((await s.getRun("r"))!.tasks.map((t) => t.usage!.costUsd)).toEqual(costs);
      for (const [i, costUsd] of costs.entries()) expect((await s.calls("r", `t${i}`))[0]!.usage!.costUsd).toBe(costUsd);
    };
    await check(store);
    const lines = journalLines(file).length;
    for (const costUsd of [Number.NaN, Number.POSITIVE_INFINITY, -1e-9]) {
      const what = String(costUsd);
      const refused = await store.saveTask("r", done("bad", { usage: { inputTokens: 1, outputTokens: 1, costUsd } }), { type: "task_completed" }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(isCrewstateError(refused) && ["INVALID_INPUT", "NOT_JSON"].includes(refused.code), `${what}: ${String(refused)}`).toBe(true);
    }
    expect(journalLines(file)).toHaveLength(lines);
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(doc.runs.r.tasks.t0.usage).toEqual({ input_tokens: 0, output_tokens: 0, cost_usd: 0.1 + 0.2 });
    expect(doc.runs.r.calls.t4[0].usage).toEqual({ input_tokens: 1, output_tokens: 1, cost_usd: null });
    const reopened = await JsonFileStore.open(file);
    await check(reopened);
    await reopened.close();

    // Hand-written or older files: no cost_usd is an unknown cost; a wrong one is corruption.
    delete doc.runs.r.tasks.t0.usage.cost_usd;
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const older = await JsonFileStore.open(file);
    expect((await older.getRun("r"))!.tasks[0]!.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: null });
    await older.close();
    for (const cost of ['"0.30"', "-1", "{}", "true"]) {
      const text = fs.readFileSync(file, "utf8").replace('"cost_usd": 1e-12', `"cost_usd": ${cost}`);
      fs.writeFileSync(file, text);
      const before = sha256(file);
      const error = await expectCode(JsonFileStore.open(file), "CORRUPT_STATE");
      expect(error.message).toMatch(/runs\.r\.tasks\.t1\.usage\.cost_usd must be a number ≥ 0 or null at byte \d+/);
      expect(sha256(file)).toBe(before);
      fs.writeFileSync(file, text.replace(`"cost_usd": ${cost}`, '"cost_usd": 1e-12'));
    }
  });

  it("accepts every event type of the contract, and new snake_case ones, in commits and in the file", async () => {
    const file = path.join(tempDir(), "state.json");
    const store = await JsonFileStore.open(file);
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const types: EventType[] = [
      "run_completed", "run_failed", "run_paused", "run_planned", "task_started", "task_completed", "task_reused",
      "task_stale", "task_failed", "task_retry", "task_invalidated", "task_edited", "task_approved", "task_skipped", "run_imported",
      "step_feedback",
    ];
    for (const type of types) await store.setRunStatus("r", "running", null, { type, data: { type } });
    await store.close();
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.runs.r.events.push({ seq: 99, task: null, type: "run_rescheduled", at: "2026-01-01T00:00:00.000Z", data: null });
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const reopened = await JsonFileStore.open(file);
    expect((await reopened.events("r")).map((e) => e.type)).toEqual(["run_started", ...types, "run_rescheduled"]);
    await reopened.close();
  });
});
