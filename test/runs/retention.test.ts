/**
 * Retention: a store's `retention` option and a crew's, applied at the end of each run after its
 * final status commit — never the run just finished, and a failure only warns.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Agent, Crew, Task, isCrewstateError, type Store } from "../../src/index.js";
import type { RetentionOptions } from "../../src/runs/prune-plan.js";
import { openStore } from "../../src/stores/open.js";
import { freshName } from "../services.js";
import { dump } from "./prune-fixtures.js";

const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-retention-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function crew(store: Store | string, retention?: RetentionOptions): Crew {
  const agent = new Agent({ role: "Analyst", goal: "Be right", backstory: "Careful.", model: "demo" });
  const task = new Task({ name: "a", description: "Summarise {notes}", expectedOutput: "a summary", agent });
  return new Crew({ name: "alpha", tasks: [task], store, ...(retention ? { retention } : {}) });
}

async function seedOld(store: Store): Promise<void> {
  await store.importRun(dump("old-1", "alpha", "completed", 40));
  await store.importRun(dump("old-2", "alpha", "failed", 35));
  await store.importRun(dump("old-running", "alpha", "running", 50));
  await store.importRun(dump("beta-old", "beta", "completed", 60));
}

const ids = async (store: Store) => (await store.listRuns()).map((r) => r.runId).sort();
const dbUrl = () => `sqlite:${path.join(scratch, `${freshName("r")}.db`)}`;

describe("retention", () => {
  it("a store's retention removes old finished runs once a run ends, keeping the one just finished", async () => {
    const store = await openStore(dbUrl(), { retention: { olderThan: "30d" } });
    try {
      await seedOld(store);
      const result = await crew(store).kickoff({ runId: "new", inputs: { notes: "hail" } });
      expect(result.status).toBe("completed");
      expect(await ids(store)).toEqual(["new", "old-running"]);
    } finally {
      await store.close();
    }
  });

  it("a crew's retention applies to a store it opens from a URL; keepLast is per crew", async () => {
    const url = dbUrl();
    const seed = await openStore(url);
    await seedOld(seed);
    await seed.close();
    await crew(url, { keepLast: 1 }).kickoff({ runId: "new", inputs: { notes: "hail" } });
    const store = await openStore(url);
    try {
      // alpha keeps only its newest (the run just finished); beta keeps its newest too.
      expect(await ids(store)).toEqual(["beta-old", "new", "old-running"]);
    } finally {
      await store.close();
    }
  });

  it("never removes the run just finished, even when the rules select it", async () => {
    const store = await openStore(dbUrl(), { retention: { olderThan: 0, keepLast: 0 } });
    try {
      await crew(store).kickoff({ runId: "new", inputs: { notes: "hail" } });
      expect(await ids(store)).toEqual(["new"]);
      await crew(store).kickoff({ runId: "newer", inputs: { notes: "hail" } });
      expect(await ids(store)).toEqual(["newer"]);
    } finally {
      await store.close();
    }
  });

  it("a failure of retention warns and never fails the run", async () => {
    const store = await openStore(dbUrl(), { retention: { olderThan: "1d" } });
    const warned = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      await seedOld(store);
      store.deleteRun = async () => {
        throw new Error("disk on fire");
      };
      const result = await crew(store).kickoff({ runId: "new", inputs: { notes: "hail" } });
      expect(result.status).toBe("completed");
      expect(warned).toHaveBeenCalledWith(expect.stringContaining("retention failed (the run is not affected): disk on fire"), { code: "CREWSTATE_RETENTION" });
      expect(await store.getRun("new")).toBeDefined();
    } finally {
      warned.mockRestore();
      await store.close();
    }
  });

  it("bad rules are refused up front, naming the option", async () => {
    const url = dbUrl();
    await expect(openStore(url, { retention: { olderThan: "soon" } })).rejects.toSatisfy((e) => isCrewstateError(e, "INVALID_INPUT") && /retention\.olderThan "soon"/.test((e as Error).message));
    expect(() => crew(url, { keepLast: -1 })).toThrow(/retention\.keepLast/);
    expect(() => crew(url, {})).toThrow(/retention needs olderThan, keepLast or both/);
  });
});
