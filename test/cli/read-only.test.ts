/**
 * The commands that only read (`show`, `runs`, `output`, `plan`, `export`, `doctor`) leave the store's
 * folder byte for byte as it was: no -wal or -shm file, no migration, no compaction.
 */
import { mkdirSync } from "node:fs";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "../../src/stores/sqlite/migrations.js";
import { assertBuilt, linesOf, Workspace } from "../support/cli.js";
import { snapshot } from "../stores/sqlite/files.js";
import { TWO_STEP } from "./crews.js";

const NOTES = "notes=Policy PN-9. Water in the cellar.";
let ws: Workspace;
let crew: string;

beforeAll(async () => {
  assertBuilt();
  ws = new Workspace();
  crew = ws.write("crew.ts", TWO_STEP);
  mkdirSync(ws.path("sqlite"));
  mkdirSync(ws.path("json"));
  for (const store of [`sqlite:${ws.path("sqlite", "state.db")}`, `json:${ws.path("json", "state.json")}`]) {
    const run = await ws.run(["run", crew, "--run-id", "r1", "--input", NOTES, "--store", store, "--model", "demo"]);
    expect(run.code, run.stderr).toBe(0);
  }
}, 90_000);
afterAll(() => ws?.remove());

/** The command as a title, without its store and inputs. */
const title = (args: string[]): string => args.filter((a, i) => !["--store", "--input"].includes(a) && !["--store", "--input"].includes(args[i - 1]!)).join(" ");

const READS = (store: string): string[][] => [
  ["show", "r1", "--store", store],
  ["show", "r1", "--json", "--events", "--store", store],
  ["runs", "--store", store],
  ["runs", "--json", "--store", store],
  ["output", "r1", "draft_task", "--store", store],
  ["plan", "crew.ts", "--run-id", "r1", "--input", NOTES, "--store", store, "--model", "demo"],
  ["export", "r1", "--store", store],
  ["doctor", "--store", store],
];

describe("read-only commands on a SQLite store", () => {
  for (const args of READS("sqlite:sqlite/state.db")) {
    it(`${title(args)} leaves the folder as it was`, async () => {
      const before = snapshot(ws.path("sqlite"));
      expect(Object.keys(before)).toEqual(["state.db"]);
      const result = await ws.run(args);
      expect(result.code, result.stderr).toBe(0);
      expect(snapshot(ws.path("sqlite"))).toEqual(before);
    });
  }

  it("on a store one schema version old: each says so on one line, and nothing is migrated or created", async () => {
    mkdirSync(ws.path("old"));
    const db = new Database(ws.path("old", "state.db"));
    db.pragma("journal_mode = WAL");
    for (let version = 1; version < SQLITE_SCHEMA_VERSION; version++) {
      db.exec(SQLITE_MIGRATIONS[version]!);
      db.pragma(`user_version = ${version}`);
    }
    db.close();
    const before = snapshot(ws.path("old"));
    for (const args of READS("sqlite:old/state.db")) {
      const result = await ws.run(args);
      expect(result.code, `${args.join(" ")}: ${result.stdout}`).not.toBe(0);
      expect(linesOf(result.stderr), args.join(" ")).toEqual([expect.stringMatching(/schema version \d+, older than version \d+ this crewstate reads; .* it was not changed$/)]);
      expect(snapshot(ws.path("old")), args.join(" ")).toEqual(before);
    }
  });
});

describe("read-only commands on a JSON store", () => {
  for (const args of READS("json:json/state.json")) {
    it(`${title(args)} leaves the folder as it was`, async () => {
      const before = snapshot(ws.path("json"));
      const result = await ws.run(args);
      expect(result.code, result.stderr).toBe(0);
      expect(snapshot(ws.path("json"))).toEqual(before);
    });
  }
});
