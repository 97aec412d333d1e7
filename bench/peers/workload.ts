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
