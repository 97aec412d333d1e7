/**
 * When each task of a crew may start, and what it sees. Pure — no I/O, no clock.
 *
 * Tasks run in crew order, as CrewAI's sequential process does, except that an async task
 * (`asyncExecution`) runs alongside the tasks after it:
 * - a task starts once the last sync task before it (its *gate*) has finished, since that is when
 *   the crew reaches it; async tasks in a row share one gate and so start together;
 * - it also waits for every task in its context;
 * - a conditional task also waits for the task just before it, whose output its condition reads.
 *
 * A task's default context is every task that has finished when the crew reaches it: for a sync
 * task every earlier task (so it waits for the async tasks before it), for an async task every
 * task up to its gate (not the async tasks it runs beside). Default contexts are prefixes of the
 * crew, so their digests fold in one pass and planning stays linear in the number of tasks.
 */
export interface ScheduleInput {
  asyncExecution: boolean;
  conditional: boolean;
  /** Explicit context (indexes of earlier tasks), or null for the default. */
  context: readonly number[] | null;
}

export interface Slot {
  /** The last sync task before this one, or null when there is none. */
  gate: number | null;
  /** The tasks whose outputs it sees, when given explicitly; else null and `prefix` applies. */
  context: readonly number[] | null;
  /** With the default context: the task sees tasks 0 … prefix − 1. */
  prefix: number;
  /** For a conditional task: the task before it, whose output the condition reads. */
  previous: number | null;
}

export function scheduleOf(tasks: readonly ScheduleInput[]): Slot[] {
  let gate: number | null = null;
  return tasks.map((task, index) => {
    const slot: Slot = {
      gate,
      context: task.context,
      prefix: task.asyncExecution ? (gate === null ? 0 : gate + 1) : index,
      previous: task.conditional && index > 0 ? index - 1 : null,
    };
    if (!task.asyncExecution) gate = index;
    return slot;
  });
}

/** The tasks a slot's context names, in the order its outputs are shown and hashed. */
export function contextOf(slot: Slot): readonly number[] {
  return slot.context ?? Array.from({ length: slot.prefix }, (_, i) => i);
}

/**
 * Whether a task may start, given which tasks have finished and how many from the start of the
 * crew all have (`finishedPrefix`).
 */
export function isReady(slot: Slot, finished: readonly boolean[], finishedPrefix: number): boolean {
  if (slot.gate !== null && !finished[slot.gate]) return false;
  if (slot.previous !== null && !finished[slot.previous]) return false;
  if (slot.context === null) return finishedPrefix >= slot.prefix;
  return slot.context.every((i) => finished[i]);
}

/** The most tasks that can run at once: the longest row of async tasks with the sync task that closes it. */
export function widestRow(asyncExecution: readonly boolean[]): number {
  let widest = asyncExecution.length > 0 ? 1 : 0;
  let row = 0;
  for (const isAsync of asyncExecution) {
    row += 1;
    widest = Math.max(widest, row);
    if (!isAsync) row = 0;
  }
  return widest;
}
