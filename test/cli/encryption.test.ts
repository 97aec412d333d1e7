/**
 * Encryption at rest through the real binary: a crew run with CREWSTATE_ENCRYPTION_KEY leaves no
 * input or answer in the SQLite files; reading needs the key; export writes sealed values unless
 * --decrypt; rekey re-seals every run so the old key can go; a bad key is one line and exit ≠ 0.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, Workspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { MODEL, SQLITE, TWO_STEP } from "./crews.js";

const CANARY = "canary-cli-5b1e";
const KEY = Buffer.alloc(32, 7).toString("base64");
const NEW_KEY = Buffer.alloc(32, 9).toString("base64");
const WITH_KEY = { CREWSTATE_ENCRYPTION_KEY: KEY, CREWSTATE_ENCRYPTION_KEY_ID: "old" };

let server: FakeOpenAI;
let ws: Workspace;
let crew: string;
let store: string;
let first: CliResult;

/** Every byte of the store's files (the database, its WAL and journal), as text. */
function storeBytes(): string {
  return readdirSync(ws.dir)
    .filter((f) => f.startsWith("state.db"))
    .map((f) => readFileSync(ws.path(f)).toString("latin1"))
    .join("\n");
}

function expectOneLineFailure(result: CliResult, pattern: RegExp): void {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  const lines = result.stderr.trim().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

beforeAll(async () => {
  assertBuilt();
  server = await FakeOpenAI.start();
  server.when(() => true, { reply: `the answer mentions ${CANARY}` });
  ws = new Workspace();
  crew = ws.write("crew.ts", TWO_STEP);
  store = SQLITE.url(ws);
  first = await ws.run(["run", crew, "--run-id", "claim-1", "--input", `notes=${CANARY} in the notes`, "--store", store, ...MODEL], {
    env: { ...server.env(), ...WITH_KEY, CREWSTATE_LOG_LEVEL: "debug" },
  });
}, 90_000);
afterAll(async () => {
  await server?.close();
  ws?.remove();
});

describe("encryption at rest (CLI)", () => {
  it("a run with a key completes, and neither the store's bytes nor the debug log hold an input or an answer", () => {
    expect(first.code, first.stderr).toBe(0);
    expect(server.requests.length).toBeGreaterThan(0);
    expect(storeBytes()).not.toContain(CANARY);
    expect(storeBytes()).toContain("cs1:old:");
    expect(first.stderr).not.toContain(CANARY);
  });

  it("a rerun with the key reuses every task (keyed hashes match)", async () => {
    const calls = server.requests.length;
    const again = await ws.run(["run", crew, "--run-id", "claim-1", "--input", `notes=${CANARY} in the notes`, "--store", store, ...MODEL], { env: { ...server.env(), ...WITH_KEY } });
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(calls);
  });

  it("show needs the key: without it KEY_REQUIRED in one line naming the run; runs still lists it", async () => {
    const shown = await ws.run(["show", "claim-1", "--store", store], { env: WITH_KEY });
    expect(shown.code, shown.stderr).toBe(0);
    expectOneLineFailure(await ws.run(["show", "claim-1", "--store", store]), /KEY_REQUIRED.*"claim-1"|"claim-1".*CREWSTATE_ENCRYPTION_KEY/);
    const runs = await ws.run(["runs", "--store", store]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain("claim-1");
  });

  it("export writes sealed values; --decrypt opens them (and needs the key)", async () => {
    const sealed = await ws.run(["export", "claim-1", "--store", store]);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).not.toContain(CANARY);
    expect(sealed.stdout).toContain("cs1:old:");
    const opened = await ws.run(["export", "claim-1", "--decrypt", "--store", store], { env: WITH_KEY });
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdout).toContain(CANARY);
    expect(opened.stdout).not.toContain("cs1:");
    expectOneLineFailure(await ws.run(["export", "claim-1", "--decrypt", "--store", store]), /"claim-1"/);
  });

  it("a key of the wrong length, or not base64, is one line naming the variable or option, exit ≠ 0", async () => {
    const short = Buffer.alloc(16, 1).toString("base64");
    expectOneLineFailure(await ws.run(["show", "claim-1", "--store", store], { env: { CREWSTATE_ENCRYPTION_KEY: short } }), /CREWSTATE_ENCRYPTION_KEY is 16 bytes/);
    expectOneLineFailure(await ws.run(["show", "claim-1", "--store", store], { env: { CREWSTATE_ENCRYPTION_KEY: "not base64!" } }), /CREWSTATE_ENCRYPTION_KEY is not base64/);
    expectOneLineFailure(await ws.run(["rekey", "--to-key", short, "--store", store], { env: WITH_KEY }), /--to-key is 16 bytes/);
    expectOneLineFailure(await ws.run(["rekey", "--to-key", NEW_KEY, "--to-key-id", "bad id", "--store", store], { env: WITH_KEY }), /--to-key-id/);
    expect(storeBytes()).toContain("cs1:old:");
  });

  it("rekey re-seals every run with the new key; then the old key can be dropped, and a rerun still reuses", async () => {
    const rekeyed = await ws.run(["rekey", "--to-key", NEW_KEY, "--to-key-id", "new", "--store", store], { env: WITH_KEY });
    expect(rekeyed.code, rekeyed.stderr).toBe(0);
    expect(rekeyed.stdout).toContain("re-sealed run claim-1 with key new");
    const newOnly = { CREWSTATE_ENCRYPTION_KEY: NEW_KEY, CREWSTATE_ENCRYPTION_KEY_ID: "new" };
    const exported = await ws.run(["export", "claim-1", "--store", store]);
    expect(exported.stdout).toContain("cs1:new:");
    expect(exported.stdout).not.toContain("cs1:old:");
    expectOneLineFailure(await ws.run(["show", "claim-1", "--store", store], { env: WITH_KEY }), /KEY_MISMATCH|"new"/);
    const calls = server.requests.length;
    const again = await ws.run(["run", crew, "--run-id", "claim-1", "--input", `notes=${CANARY} in the notes`, "--store", store, ...MODEL], { env: { ...server.env(), ...newOnly } });
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(calls);
    expect(storeBytes()).not.toContain(CANARY);
  });
});
