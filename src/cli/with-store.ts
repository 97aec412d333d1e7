import { CrewstateError, isCrewstateError, quote } from "../errors.js";
import { openStore, storeUrlFrom } from "../stores/open.js";
import type { Store } from "../stores/store.js";

/**
 * Opens the store a command names (or the default), runs `work`, and always closes it. A command
 * that does not write (`writes` not set) never creates a file store that is not there; one that
 * only reads (`readOnly`) opens it read-only: no file created or changed, nothing migrated.
 */
export async function withStore<T>(
  url: string | undefined,
  work: (store: Store) => Promise<T>,
  options: { writes?: boolean; readOnly?: boolean; runId?: string } = {},
): Promise<T> {
  const store = await openStore(storeUrlFrom(url), { mustExist: options.writes !== true, readOnly: options.readOnly === true }).catch((error: unknown) => {
    if (options.runId !== undefined && isCrewstateError(error, "STORE_NOT_FOUND")) {
      throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(options.runId)} not found: ${error.message}`, { ...error.context, runId: options.runId });
    }
    throw error;
  });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
