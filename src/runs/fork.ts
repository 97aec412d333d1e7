import { randomBytes } from "node:crypto";
import { CrewstateError, isCrewstateError, quote } from "../errors.js";
import { requireRun } from "../engine/operator.js";
import type { Inputs, RunStatus, Store } from "../stores/store.js";
import { forkDump } from "./fork-dump.js";

export interface ForkOptions {
  /** The fork's run ID. Default: `<source>-fork-<4 hex digits>`. */
  runId?: string;
  /** Copy only what comes before this task (a flow: step, or step execution `write#2`). */
  at?: string;
  /** Inputs that replace the source's, key by key. */
  inputs?: Inputs;
}

export interface ForkResult {
  runId: string;
  from: string;
  at: string | null;
  status: RunStatus;
  /** Tasks (a flow: step executions) copied, in the run's order. */
  copied: string[];
  /** Tasks of the source left out: the fork's next kickoff runs them. */
  dropped: string[];
  inputsChanged: string[];
  store: string;
}

/**
 * Copies a run under a new ID, for a kickoff to take on from there: with other inputs, or from a
 * task on (`at`). Reads the source in one snapshot and writes the fork in one import; the source
 * is never changed, and an existing run is never overwritten. A flow's child runs stay the source's.
 */
export async function fork(store: Store, sourceRunId: string, options: ForkOptions = {}): Promise<ForkResult> {
  const source = await store.exportRun(sourceRunId);
  if (!source) {
    await requireRun(store, sourceRunId); // RUN_NOT_FOUND, naming the run and the store
    throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(sourceRunId)} was removed from ${store.location} while it was read`, { runId: sourceRunId, store: store.location });
  }
  const runId = options.runId ?? `${sourceRunId}-fork-${randomBytes(2).toString("hex")}`;
  const at = options.at ?? null;
  const forked = forkDump(source, { runId, at, inputs: options.inputs ?? {}, now: new Date().toISOString() });
  try {
    await store.importRun(forked.dump);
  } catch (error) {
    if (!isCrewstateError(error, "RUN_EXISTS")) throw error;
    throw new CrewstateError("RUN_EXISTS", `run ${quote(runId)} already exists in ${store.location}; a fork never overwrites a run: choose another run ID (--run-id)`, {
      runId,
      store: store.location,
    }, { cause: error });
  }
  const { copied, dropped, inputsChanged } = forked;
  return { runId, from: sourceRunId, at, status: forked.dump.run.status, copied, dropped, inputsChanged, store: store.location };
}
