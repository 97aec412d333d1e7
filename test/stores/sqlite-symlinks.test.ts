import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { SqliteStore } from "../../src/stores/sqlite/store.js";
import { populated, snapshot, tempDir } from "./sqlite/files.js";

async function refusal(file: string): Promise<Error> {
  const error = await SqliteStore.open(file).then(
    (store) => (store.close(), expect.fail("expected the store to refuse the link")),
    (e: unknown) => e as Error,
  );
  if (!isCrewstateError(error, "STORE_UNAVAILABLE")) expect.fail(`expected STORE_UNAVAILABLE, got ${String(error)}`);
  expect(error.message).not.toContain("\n");
  return error;
}

describe("SqliteStore and symbolic links", () => {
  it("refuses a state.db that is a symlink to a database outside the folder, writing nothing there", async () => {
    const root = tempDir();
    const [store, outside] = [join(root, "store"), join(root, "outside")];
    mkdirSync(store);
    mkdirSync(outside);
    await populated(join(outside, "real.db"));
    symlinkSync(join(outside, "real.db"), join(store, "state.db"));
    const before = snapshot(root);
    const error = await refusal(join(store, "state.db"));
    expect(error.message).toContain(`${join(store, "state.db")} is a symbolic link`);
    expect(snapshot(root)).toEqual(before);
  });

  it("refuses a dangling state.db symlink without creating its target", async () => {
    const root = tempDir();
    symlinkSync(join(root, "elsewhere.db"), join(root, "state.db"));
    const before = snapshot(root);
    await refusal(join(root, "state.db"));
    expect(snapshot(root)).toEqual(before);
  });

  for (const suffix of ["-wal", "-shm", "-journal"]) {
    it(`refuses a state.db${suffix} that is a symlink, naming it and writing nothing through it`, async () => {
      const root = tempDir();
      const [store, outside] = [join(root, "store"), join(root, "outside")];
      mkdirSync(store);
      mkdirSync(outside);
      await populated(join(store, "state.db"));
      symlinkSync(join(outside, `target${suffix}`), join(store, `state.db${suffix}`));
      const before = snapshot(root);
      const error = await refusal(join(store, "state.db"));
      expect(error.message).toContain(`${join(store, `state.db${suffix}`)} is a symbolic link`);
      expect(snapshot(root)).toEqual(before);
    });
  }
});
