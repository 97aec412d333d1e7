import type { Store } from "./store.js";

/**
 * Re-seals every run of `store` with its current key: each run is read with the key list (its
 * values opened) and written back whole with `importRun(…, { overwrite: true })` — one atomic
 * back-end step per run on every store — so the old keys can be dropped afterwards. Run it while
 * no worker is writing. Returns the IDs re-sealed, oldest first.
 */
export async function rekeyRuns(store: Store, onRun: (runId: string) => void = () => {}): Promise<string[]> {
  const done: string[] = [];
  for (const { runId } of (await store.listRuns()).reverse()) {
    const dump = await store.exportRun(runId);
    if (!dump) continue;
    await store.importRun(dump, { overwrite: true });
    done.push(runId);
    onRun(runId);
  }
  return done;
}
