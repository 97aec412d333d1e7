import { createHash } from "node:crypto";

/** Bytes each step of the chain produces, as crewstate's bench model does. */
export const OUTPUT_BYTES = 1024;

/**
 * The work of step `i` for every peer: 1 KiB of text derived from the previous step's output,
 * deterministic and instant — the same hashing the crewstate bench model does per call.
 */
export function stepOutput(i: number, previous: string): string {
  const seed = createHash("sha256").update(`${i}\n${previous}`).digest("hex");
  return seed.repeat(Math.ceil(OUTPUT_BYTES / seed.length)).slice(0, OUTPUT_BYTES);
}

/** Stable task names, as the crewstate chain names its tasks. */
export const stepName = (i: number) => `step_${String(i).padStart(4, "0")}`;

/**
 * What each step of a peer's chain computes, so one peer module can run the chain bench's 1 KiB
 * steps or another section's trivial ones: the steps thread one value from `initial` through
 * `step(i, previous)`, and `check` says whether the last value is what `n` steps give.
 */
export interface StepWork<T = unknown> {
  /** Names the work where a peer registers it (the DBOS workflow). */
  name: string;
  initial: T;
  step(i: number, previous: T): T;
  check(last: T, n: number): boolean;
}

/** The chain bench's work: 1 KiB of text per step, derived from the previous step's. */
export const chainWork: StepWork<string> = { name: "bench_chain", initial: "", step: stepOutput, check: (last) => last.length === OUTPUT_BYTES };

/** A trivial step: a counter incremented (the flow section's steps). */
export const counterWork: StepWork<number> = { name: "bench_counter", initial: 0, step: (_i, previous) => previous + 1, check: (last, n) => last === n };
