import { CrewstateError, quote } from "../errors.js";
import { outputHashOf } from "../hash.js";
import type { Run, TaskRecord } from "./store.js";

/**
 * Whether a task record's output still is the one its `outputHash` was computed from. A record
 * without a hash (imported or adopted from an older layout) has nothing to check against.
 */
export function outputMatchesHash(task: TaskRecord): boolean {
  return task.outputHash === null || outputHashOf(task.output ?? "", task.structured) === task.outputHash;
}

/**
 * Refuses a run read from `store` holding a task whose output does not match its hash: the bytes
 * changed behind crewstate's back (disk damage, a stray UPDATE), and reusing them would hand
 * dependents an output nobody produced.
 */
export function checkStoredOutputs(run: Run, store: string): Run {
  for (const task of run.tasks) {
    if (!outputMatchesHash(task)) {
      throw new CrewstateError(
        "CORRUPT_STATE",
        `${store}: the stored output of task ${quote(task.name)} in run ${quote(run.runId)} does not match its output hash; it was changed outside crewstate — restore it, or invalidate the task to rerun it`,
        { store, runId: run.runId, task: task.name },
      );
    }
  }
  return run;
}
