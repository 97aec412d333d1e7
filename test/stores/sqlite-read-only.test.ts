import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { isCrewstateError, type ErrorCode } from "../../src/errors.js";
import { openStore } from "../../src/stores/open.js";
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "../../src/stores/sqlite/migrations.js";
import { SqliteStore } from "../../src/stores/sqlite/store.js";
import { newTaskRecord } from "../../src/stores/store.js";
import { populated, snapshot, tempDir } from "./sqlite/files.js";

async function expectCode(action: () => Promise<unknown>, code: ErrorCode): Promise<Error> {
  const error = await action().then(
    () => expect.fail(`expected ${code}, but it succeeded`),
    (e: unknown) => e,
  );
  if (!isCrewstateError(error, code)) expect.fail(`expected ${code}, got ${String(error)}`);
  expect(error.message).not.toContain("\n");
  return error;
}

describe("SqliteStore opened read-only", () => {
  it("reads a closed store without creating -wal or -shm files or changing a byte", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    await populated(file, 3);
    const before = snapshot(dir);
    expect(Object.keys(before)).toEqual(["state.db"]);
    const store = await openStore(`sqlite:${file}`, { readOnly: true });
    try {
      expect((await store.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["t0", "t1", "t2"]);
      expect((await store.listRuns()).map((r) => r.runId)).toEqual(["r"]);
      expect((await store.events("r")).length).toBe(4);
      expect((await store.exportRun("r"))?.run.tasks.length).toBe(3);
      expect(snapshot(dir)).toEqual(before);
    } finally {
      await store.close();
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it("reads the latest commits of a store another process has open, adding no file", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    await populated(file, 1);
    const writer = await SqliteStore.open(file);
    try {
      await writer.saveTask("r", { ...newTaskRecord("late") }, { type: "task_started" });
      const files = Object.keys(snapshot(dir));
      expect(files).toEqual(["state.db", "state.db-shm", "state.db-wal"]);
      const reader = await SqliteStore.open(file, { readOnly: true });
      try {
        expect((await reader.getRun("r"))?.tasks.map((t) => t.name)).toEqual(["t0", "late"]);
      } finally {
        await reader.close();
      }
      expect(Object.keys(snapshot(dir))).toEqual(files);
    } finally {
      await writer.close();
    }
  });

  it("refuses to write, changing nothing", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    await populated(file, 1);
    const before = snapshot(dir);
    const store = await SqliteStore.open(file, { readOnly: true });
    try {
      await expectCode(() => store.beginRun({ runId: "r2", crew: "c", inputs: {} }), "STORE_UNAVAILABLE");
      await expectCode(() => store.saveTask("r", newTaskRecord("x"), { type: "task_started" }), "STORE_UNAVAILABLE");
    } finally {
      await store.close();
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it("gives a clear error for a store whose schema is one version old, and does not migrate it", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    const old = new Database(file);
    old.pragma("journal_mode = WAL");
    for (let version = 1; version < SQLITE_SCHEMA_VERSION; version++) {
      old.exec(SQLITE_MIGRATIONS[version]!);
      old.pragma(`user_version = ${version}`);
    }
    old.close();
    const before = snapshot(dir);
    const error = await expectCode(() => openStore(`sqlite:${file}`, { readOnly: true }), "UNSUPPORTED_SCHEMA_VERSION");
    expect(error.message).toContain(`schema version ${SQLITE_SCHEMA_VERSION - 1}, older than version ${SQLITE_SCHEMA_VERSION}`);
    expect(error.message).toContain("was not changed");
    expect(snapshot(dir)).toEqual(before);
    expect(new Database(file, { readonly: true }).pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION - 1);
  });

  it("gives a clear error for an empty file, and leaves it empty", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    writeFileSync(file, "");
    const before = snapshot(dir);
    await expectCode(() => openStore(`sqlite:${file}`, { readOnly: true }), "UNSUPPORTED_SCHEMA_VERSION");
    expect(snapshot(dir)).toEqual(before);
  });

  it("refuses a store that is not there with STORE_NOT_FOUND, creating no folder", async () => {
    const dir = tempDir();
    const file = join(dir, "missing", "state.db");
    await expectCode(() => openStore(`sqlite:${file}`, { readOnly: true }), "STORE_NOT_FOUND");
    expect(existsSync(join(dir, "missing"))).toBe(false);
  });
});
