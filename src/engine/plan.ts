import type { JsonValue, RunEvent, TaskRecord } from "../stores/store.js";
import { hashOf, outputHashOf, sha256 } from "../hash.js";
import type { Slot } from "./schedule.js";

/**
 * Planning: what a kickoff does with each task and why. Pure — no I/O, no clock.
 *
 * A task's input hash covers everything that determines its result, kept as separate parts so
 * that a stale result can say which one changed. Upstream tasks enter through the hashes of
 * their *outputs*, folded into one running digest, so a rerun that reproduces its output leaves
 * its dependents valid (early cutoff), and hashing a long chain stays linear.
 */
export interface HashParts {
  /** The task's templates: description and expected output before interpolation. */
  prompt: string;
  /** sha256 of each input value the task's templates (and its agent's) use. */
  inputs: Record<string, string>;
  /** The structured-output schema, or null. */
  schema: string | null;
  /** Role, goal, backstory templates, model id and tool names. */
  agent: string;
  /** Digest of the upstream tasks' names and output hashes. */
  upstream: string;
}

export type RunReason =
  | "new" // never ran
  | "stale" // completed, but its input hash changed
  | "failed" // failed last time
  | "interrupted" // was running when the last process stopped
  | "upstream"; // depends on a task that is about to run (plan only: it may yet be reused)

export type Decision =
  | { action: "reuse"; adopted: boolean }
  | { action: "run"; reason: RunReason; changed: string[] };

export const EMPTY_DIGEST = "";

/** Folds one upstream task's output into a context digest. */
export function foldUpstream(digest: string, name: string, outputHash: string): string {
  return sha256(`${digest}\n${name}\n${outputHash}`);
}

/**
 * The upstream digest of a task: the outputs of its context folded in context order — by name and
 * output hash, so the order in which parallel tasks finished never matters — and, for a
 * conditional task whose context leaves it out, the previous task's output its condition read.
 * `prefixDigests[k]` folds tasks 0 … k − 1 (null once one is unknown); null when an output is
 * not known yet.
 */
export function upstreamDigest(
  slot: Slot,
  names: readonly string[],
  outputHashes: readonly (string | null | undefined)[],
  prefixDigests: readonly (string | null)[],
): string | null {
  let digest: string | null;
  let sees: (i: number) => boolean;
  if (slot.context === null) {
    digest = prefixDigests[slot.prefix] ?? null;
    sees = (i) => i < slot.prefix;
  } else {
    digest = EMPTY_DIGEST;
    for (const i of slot.context) {
      const hash = outputHashes[i];
      if (hash == null) return null;
      digest = foldUpstream(digest, names[i]!, hash);
    }
    const context = slot.context;
    sees = (i) => context.includes(i);
  }
  if (digest === null || slot.previous === null || sees(slot.previous)) return digest;
  const previous = outputHashes[slot.previous];
  return previous == null ? null : foldUpstream(digest, `(previous) ${names[slot.previous]!}`, previous);
}

/** With `hasher` (encryption at rest on, see `Store.hasher`), the keyed form of the hash. */
export function inputHashOf(parts: HashParts, hasher?: (hash: string) => string): string {
  const hash = hashOf({ v: 1, ...parts });
  return hasher ? hasher(hash) : hash;
}

/**
 * Reuse a completed result whose input hash still matches; adopt one stored without a hash (the
 * tutorial's file); run everything else.
 */
export function decide(stored: TaskRecord | undefined, inputHash: string, storedParts: HashParts | undefined, parts: HashParts): Decision {
  if (!stored) return { action: "run", reason: "new", changed: [] };
  if (stored.status === "completed" || stored.status === "skipped") {
    if (stored.inputHash === null) return { action: "reuse", adopted: true };
    if (stored.inputHash === inputHash) return { action: "reuse", adopted: false };
    // Same parts under another hash: the hashing changed (another encryption key), not the inputs.
    if (storedParts !== undefined && changedParts(storedParts, parts).length === 0) return { action: "reuse", adopted: true };
    return { action: "run", reason: "stale", changed: changedParts(storedParts, parts) };
  }
  if (stored.status === "failed") return { action: "run", reason: "failed", changed: [] };
  if (stored.status === "running") return { action: "run", reason: "interrupted", changed: [] };
  return { action: "run", reason: "new", changed: [] };
}

/** Which parts differ, in words: "prompt", "input notes", "output schema", "agent", "upstream output". */
export function changedParts(before: HashParts | undefined, after: HashParts): string[] {
  if (!before) return ["unknown (no record of the previous inputs)"];
  const changed: string[] = [];
  if (before.prompt !== after.prompt) changed.push("prompt");
  const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
  for (const key of [...keys].sort()) if (before.inputs[key] !== after.inputs[key]) changed.push(`input ${key}`);
  if (before.schema !== after.schema) changed.push("output schema");
  if (before.agent !== after.agent) changed.push("agent");
  if (before.upstream !== after.upstream) changed.push("upstream output");
  return changed;
}

/** Parts as stored in a task_completed event, or undefined when they are missing or malformed. */
export function partsFrom(data: JsonValue | undefined): HashParts | undefined {
  if (!data || typeof data !== "object" || Array.isArray(data)) return undefined;
  const { prompt, inputs, schema, agent, upstream } = data as Record<string, JsonValue>;
  if (typeof prompt !== "string" || typeof agent !== "string" || typeof upstream !== "string") return undefined;
  if (schema !== null && typeof schema !== "string") return undefined;
  if (!inputs || typeof inputs !== "object" || Array.isArray(inputs)) return undefined;
  return { prompt, inputs: inputs as Record<string, string>, schema, agent, upstream };
}

/**
 * The hash parts each task's result was made from, by task: from its last `task_completed`
 * event, or — for a result a fork copied — from the fork's `run_forked` event.
 */
export function partsByTask(events: readonly RunEvent[]): Map<string, HashParts> {
  const parts = new Map<string, HashParts>();
  for (const event of events) {
    if (event.type === "run_forked") {
      const copied = event.data?.parts;
      if (!copied || typeof copied !== "object" || Array.isArray(copied)) continue;
      for (const [task, data] of Object.entries(copied)) {
        const found = partsFrom(data);
        if (found) parts.set(task, found);
      }
    } else if (event.type === "task_completed" && event.task !== null) {
      const found = partsFrom(event.data?.parts);
      if (found) parts.set(event.task, found);
    }
  }
  return parts;
}

/** A completed or skipped record: a result a kickoff may reuse. */
export function isResult(record: TaskRecord | undefined): boolean {
  return record?.status === "completed" || record?.status === "skipped";
}

/** The output hash a reused record passes downstream. */
export function storedOutputHash(record: TaskRecord): string {
  if (record.status === "skipped") return SKIPPED_OUTPUT_HASH;
  return record.outputHash ?? outputHashOf(record.output ?? "", record.structured);
}

/** The output a skipped task leaves for the tasks after it: none. */
export const SKIPPED_OUTPUT_HASH = outputHashOf("", null);

export function describeDecision(decision: Decision, skipped = false): string {
  if (decision.action === "reuse") return decision.adopted ? "reuse (stored without a hash; adopted)" : skipped ? "reuse (skipped: its condition said no)" : "reuse";
  switch (decision.reason) {
    case "new":
      return "run: new";
    case "failed":
      return "run: failed last time";
    case "interrupted":
      return "run: interrupted last time (resumes from its journal)";
    case "upstream":
      return `run: ${decision.changed.join(", ")} will run first (reused if its output comes out the same)`;
    case "stale":
      return `rerun: stale because ${decision.changed.join(", ")} changed`;
  }
}
