/**
 * Crash safety of `crewstate prune`: the binary is killed (SIGKILL) at each prune crash point
 * (`pruning` before a run's delete commit, `pruned` after it) for every run it removes, on every
 * persistent store. Afterwards each run is whole — its export equal to the one before — or gone,
 * never half; exactly the runs whose commit came before the kill are gone; a second prune finishes.
 */
import { describe, expect, it } from "vitest";
import { PRUNE_CRASH_POINTS } from "../../src/engine/crash-points.js";
import { openStore } from "../../src/stores/open.js";
import type { RunDump } from "../../src/stores/store.js";
import { crashBackends } from "../engine/fixtures/crash-harness.js";
import { assertBuilt, runCli } from "../support/cli.js";
import { SEED, seeded } from "../runs/prune-fixtures.js";

const { backends } = await crashBackends();
/** What `prune` (30 days, completed and failed) removes, in its order: oldest first. */
const REMOVED = ["b-old-done", "a-old-done", "a-old-failed"];

async function state(url: string): Promise<Map<string, RunDump | undefined>> {
  const store = await openStore(url);
  try {
    return new Map(await Promise.all(SEED.map(async ([id]) => [id, await store.exportRun(id)] as const)));
  } finally {
    await store.close();
  }
}

describe.each(backends)("a prune killed at each point on $name", ({ available, url: urlFor }) => {
  it.skipIf(!available)(
    "leaves every run whole or gone, and a second prune finishes the job",
    async () => {
      assertBuilt();
      for (const point of PRUNE_CRASH_POINTS) {
        for (let n = 1; n <= REMOVED.length; n++) {
          const label = `${point}:${n}`;
          const url = urlFor(`prune-${point}-${n}`);
          const seed = await openStore(url);
          const before = await seeded(seed).finally(() => seed.close());

          const killed = await runCli(["prune", "--store", url], { env: { CREWSTATE_CRASH_AT: label } });
          expect(killed.signal, `${label}: ${killed.stderr}`).toBe("SIGKILL");

          const after = await state(url);
          const goneNow = [...after].filter(([, d]) => d === undefined).map(([id]) => id);
          expect(new Set(goneNow), label).toEqual(new Set(REMOVED.slice(0, point === "pruned" ? n : n - 1)));
          for (const [id, d] of after) if (d !== undefined) expect(d, `${label}: ${id}`).toEqual(before.get(id));

          const again = await runCli(["prune", "--store", url]);
          expect(again.code, `${label}: ${again.stderr}`).toBe(0);
          const final = await state(url);
          for (const [id, d] of final) expect(d, `${label}: ${id}`).toEqual(REMOVED.includes(id) ? undefined : before.get(id));
        }
      }
    },
    300_000,
  );
});
