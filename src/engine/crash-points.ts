import { CrewstateError } from "../errors.js";

/**
 * Named places in the engine where a test can kill the process, as a power cut or `kill -9`
 * would: `CREWSTATE_CRASH_AT=<point>:<n>` sends SIGKILL to this process the n-th time it reaches
 * `<point>`. Unset (always, outside crash tests), a point costs one comparison.
 *
 * - `claimed`: a task's claim (and the started record it carries) is committed; no model call yet.
 * - `answered`: a model call has answered; the answer is not committed yet.
 * - `committed`: a task's result is committed; the next task has not started.
 * - `chained`: a task's result is committed together with the claim (and started record) of the
 *   next task; the next task's first model call is not made yet.
 * - `pruning`: a prune (or retention) is about to commit the deletion of one run (or its journals).
 * - `pruned`: that deletion is committed; the next run's is not.
 */
export const CRASH_POINTS = ["claimed", "answered", "committed", "chained"] as const;
/** The points of a prune (`src/runs/prune.ts`), apart from the engine's: a run never reaches them. */
export const PRUNE_CRASH_POINTS = ["pruning", "pruned"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number] | (typeof PRUNE_CRASH_POINTS)[number];
const ALL_POINTS: readonly CrashPoint[] = [...CRASH_POINTS, ...PRUNE_CRASH_POINTS];

let target: { point: CrashPoint; n: number } | null | undefined;
let reached = 0;

export function crashPoint(point: CrashPoint): void {
  target ??= parseTarget(process.env.CREWSTATE_CRASH_AT) ?? null;
  if (target === null || target.point !== point) return;
  reached += 1;
  if (reached === target.n) process.kill(process.pid, "SIGKILL");
}

function parseTarget(value: string | undefined): { point: CrashPoint; n: number } | undefined {
  if (value === undefined || value === "") return undefined;
  const match = /^([a-z]+):([1-9]\d*)$/.exec(value);
  const point = match?.[1] as CrashPoint | undefined;
  if (!match || !ALL_POINTS.includes(point!)) {
    throw new CrewstateError(
      "INVALID_INPUT",
      `CREWSTATE_CRASH_AT=${JSON.stringify(value)} is not <point>:<n>; the points are ${ALL_POINTS.join(", ")} and n counts from 1`,
    );
  }
  return { point: point!, n: Number(match[2]) };
}
