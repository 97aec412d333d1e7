/**
 * The JSON file store's bad and hand-edited files through the real binary: a file `run` refuses is
 * refused by `show` too (one validation on every load), before anything is written — duplicate
 * keys, fractional token counts, a file or journal line nested 5,000 deep, a FIFO — and a task
 * output edited by hand in state.json is reused as edited while the task reading it reruns.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { assertBuilt, linesOf, testWorkspace, Workspace } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { JSON_FILE, MODEL, TWO_STEP } from "./crews.js";

const TIMEOUT = 90_000;

/** One completed run, claim-1, of TWO_STEP, as the JSON store left it. */
let good: string;
let fixture: Workspace;

beforeAll(async () => {
  assertBuilt();
  const server = await FakeOpenAI.start();
  fixture = new Workspace();
  const crew = fixture.write("crew.js", TWO_STEP);
  const result = await fixture.run(["run", crew, "--run-id", "claim-1", "--input", "notes=Policy PN-1", "--store", JSON_FILE.url(fixture), ...MODEL], { env: server.env() });
  await server.close();
  expect(result.code, result.stderr).toBe(0);
  good = readFileSync(JSON_FILE.file(fixture), "utf8");
}, TIMEOUT);
afterAll(() => fixture?.remove());

/** A workspace with the crew module and `state` as its state file (and `journal` beside it). */
function workspace(context: TestContext, state: string | null, journal?: string): Workspace {
  const ws = testWorkspace(context);
  ws.write("crew.js", TWO_STEP);
  if (state !== null) ws.write("state.json", state);
  if (journal !== undefined) ws.write("state.json.journal", journal);
  return ws;
}

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** A journal record as the store writes it, checksum included: only its content is hostile. */
function journalRecord(seq: number, opText: string): string {
  const sum = createHash("sha256").update(`${seq}\n${opText}`).digest("hex").slice(0, 16);
  return `{"seq":${seq},"len":${Buffer.byteLength(opText)},"sum":"${sum}","op":${opText}}\n`;
}

const BAD_FILES: Array<{ name: string; state: () => string; journal?: () => string; culprit: RegExp }> = [
  {
    name: "a duplicate key",
    state: () => good.replace('"status": "completed"', '"status": "failed", "status": "completed"'),
    culprit: /duplicate key in an object at byte \d+/,
  },
  {
    name: "a token count of 1.5",
    state: () => good.replace(/"input_tokens": \d+/, '"input_tokens": 1.5'),
    culprit: /input_tokens must be a whole number/,
  },
  {
    name: "a file nested 5,000 deep",
    state: () => good.replace('"runs": {', `"deep": ${nested(5000)},\n  "runs": {`),
    culprit: /nested deeper than \d+ levels at byte \d+/,
  },
  {
    name: "a journal line nested 5,000 deep",
    state: () => good,
    journal: () => {
      const seq = (JSON.parse(good) as { journal_seq: number }).journal_seq + 1;
      const op = `{"type":"begin_run","run_id":"claim-2","crew":"cli-two-step","inputs":{"notes":${nested(5000)}},"at":"2026-01-01T00:00:00.000Z"}`;
      return journalRecord(seq, op);
    },
    culprit: /journal is corrupt at byte 0: nested deeper than \d+ levels/,
  },
];

describe.concurrent("the JSON store refuses a bad state file in every command, before writing anything", () => {
  for (const bad of BAD_FILES) {
    it(`${bad.name}: run and show both refuse it in one line naming the file; the store folder is byte-identical`, { timeout: TIMEOUT }, async (context) => {
      const ws = workspace(context, bad.state(), bad.journal?.());
      const server = await FakeOpenAI.forTest(context);
      const store = ["--store", JSON_FILE.url(ws)];
      const commands = [
        ["run", ws.path("crew.js"), "--run-id", "claim-1", "--input", "notes=Policy PN-1", ...store, ...MODEL],
        ["run", ws.path("crew.js"), "--run-id", "claim-3", "--input", "notes=Policy PN-3", ...store, ...MODEL],
        ["show", "claim-1", ...store],
        ["runs", ...store],
        ["export", "claim-1", ...store],
      ];
      for (const args of commands) {
        const before = ws.snapshot();
        const result = await ws.run(args, { env: server.env() });
        const what = `crewstate ${args[0]}: ${result.stderr}`;
        expect(result.code, what).not.toBe(0);
        expect(result.signal, what).toBeNull();
        expect(linesOf(result.stderr), what).toHaveLength(1);
        expect(result.stderr, what).toContain(bad.journal ? ws.path("state.json.journal") : ws.path("state.json"));
        expect(result.stderr, what).toMatch(bad.culprit);
        expect(result.stderr, what).not.toMatch(/Maximum call stack/);
        expect(ws.snapshot(), `bytes of the store folder after ${what}`).toEqual(before);
      }
      expect(server.count(), "model calls").toBe(0);
    });
  }

  it("a FIFO at the store path: run and show fail at once in one line naming it, and leave no lock", { timeout: TIMEOUT }, async (context) => {
    const ws = workspace(context, null);
    const server = await FakeOpenAI.forTest(context);
    execFileSync("mkfifo", [ws.path("state.json")]);
    const store = ["--store", JSON_FILE.url(ws)];
    for (const args of [["run", ws.path("crew.js"), "--run-id", "claim-1", "--input", "notes=x", ...store, ...MODEL], ["show", "claim-1", ...store]]) {
      const result = await ws.run(args, { env: server.env(), timeoutMs: 30_000 });
      expect(result.code, result.stderr).not.toBe(0);
      expect(result.signal).toBeNull();
      expect(linesOf(result.stderr)).toHaveLength(1);
      expect(result.stderr).toContain(`${ws.path("state.json")} is not a regular file`);
      expect(execFileSync("ls", ["-A", ws.dir], { encoding: "utf8" }).split("\n").filter(Boolean).sort()).toEqual(["crew.js", "node_modules", "package.json", "state.json"]);
    }
  });
});

describe("a task output edited by hand in the JSON state file", () => {
  it("is reused with the edited text; the task reading it reruns; show --json lists the edit by hand", { timeout: TIMEOUT }, async (context) => {
    const ws = workspace(context, good);
    const server = await FakeOpenAI.forTest(context);
    const doc = JSON.parse(good);
    const analyze = doc.runs["claim-1"].tasks.analyze_task;
    const previousOutputHash = analyze.output_hash;
    analyze.output = "- policy PN-1\n- edited by hand: the loss date is 2026-03-01";
    writeFileSync(ws.path("state.json"), `${JSON.stringify(doc, null, 2)}\n`);
    const store = ["--store", JSON_FILE.url(ws)];

    const result = await ws.run(["run", ws.path("crew.js"), "--run-id", "claim-1", "--input", "notes=Policy PN-1", ...store, ...MODEL], { env: server.env() });
    expect(result.code, result.stderr).toBe(0);
    expect(server.count("ANALYZE"), "analyze_task reused").toBe(0);
    expect(server.count("DRAFT"), "draft_task reran").toBe(1);
    expect(server.requests.find((r) => r.taskPrompt.includes("DRAFT"))!.messages.map((m) => JSON.stringify(m.content)).join("\n")).toContain("edited by hand: the loss date");

    const show = await ws.run(["show", "claim-1", "--json", ...store]);
    expect(show.code, show.stderr).toBe(0);
    const shown = JSON.parse(show.stdout) as { tasks: Array<{ name: string; output: string }>; events?: Array<{ type: string; task: string; data: unknown }> };
    expect(shown.tasks.find((t) => t.name === "analyze_task")!.output).toBe(analyze.output);
    const events = shown.events ?? (JSON.parse((await ws.run(["show", "claim-1", "--json", "--events", ...store])).stdout) as typeof shown).events!;
    const edits = events.filter((e) => e.type === "task_edited");
    expect(edits).toHaveLength(1);
    expect(edits[0]).toMatchObject({ task: "analyze_task", data: { by: "hand", previousOutputHash, outputHash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  });
});
