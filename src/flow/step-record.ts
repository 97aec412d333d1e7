import { CrewstateError, quote } from "../errors.js";
import type { JsonValue, TaskRecord } from "../stores/store.js";
import type { Feedback } from "./flow.js";
import type { StepHashParts } from "./walk.js";

/** The name of a flow run's own record: the one its worker claims, fencing every step commit. */
export const FLOW_RECORD = "flow";

/**
 * What a step execution's record keeps in `structured`: its result and the state it left (one
 * commit), what its input hash was made of, and — for a feedback step — the question and answer.
 */
export interface StepPayload {
  kind: "step";
  iteration: number;
  /** 0-based place of the execution in the run's order (the same on every rerun that takes the same path). */
  position: number;
  result: JsonValue;
  state: JsonValue;
  /** The label a router returned. */
  label: string | null;
  trigger: string | null;
  parts: StepHashParts;
  /** Child crew runs kicked off by the execution. */
  children: string[];
  /** Set while a feedback step waits for a person: the question. */
  awaiting?: string;
  feedback?: Feedback;
}

/** `write#2` → { step: "write", iteration: 2 }; undefined for a name that is no step execution. */
export function parseExecutionKey(key: string): { step: string; iteration: number } | undefined {
  const match = /^(.+)#([1-9]\d*)$/.exec(key);
  return match ? { step: match[1]!, iteration: Number(match[2]) } : undefined;
}

/** The payload of a step record; CORRUPT_STATE naming the record when it is not one. */
export function readStepPayload(runId: string, record: TaskRecord): StepPayload {
  const value = record.structured;
  const ok =
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    value.kind === "step" &&
    typeof value.iteration === "number" &&
    "result" in value &&
    "state" in value &&
    typeof value.parts === "object" &&
    value.parts !== null;
  if (!ok) {
    throw new CrewstateError("CORRUPT_STATE", `record ${quote(record.name)} of flow run ${quote(runId)} is not a step execution's record; invalidate it to run the step again`, {
      runId,
      task: record.name,
    });
  }
  const payload = value as unknown as StepPayload;
  return { ...payload, label: payload.label ?? null, trigger: payload.trigger ?? null, children: payload.children ?? [] };
}

/** The question a feedback step's record waits on for a person; null once answered, or for any other record. */
export function questionOf(record: TaskRecord): string | null {
  const value = record.structured;
  const waiting = record.status === "pending" && typeof value === "object" && value !== null && !Array.isArray(value) && typeof value.awaiting === "string";
  return waiting ? (value.awaiting as string) : null;
}

/** A flow run's step records in the order they ran (a rerun's records are written where they were). */
export function inExecutionOrder(records: TaskRecord[]): TaskRecord[] {
  const positionOf = (record: TaskRecord) => {
    const value = record.structured;
    const position = typeof value === "object" && value !== null && !Array.isArray(value) ? value.position : undefined;
    return typeof position === "number" ? position : Number.MAX_SAFE_INTEGER;
  };
  return records
    .filter((r) => r.name !== FLOW_RECORD)
    .map((record, i) => ({ record, i }))
    .sort((a, b) => positionOf(a.record) - positionOf(b.record) || a.i - b.i)
    .map(({ record }) => record);
}

/** The result listeners get: a feedback step's, once answered, is `{ output, feedback }`. */
export function resultOf(payload: StepPayload): JsonValue {
  return payload.feedback ? { output: payload.result, feedback: payload.feedback as unknown as JsonValue } : payload.result;
}

/** A step result as text for `show` and the record's `output`: text as is, anything else as JSON. */
export function displayOf(result: JsonValue): string {
  return typeof result === "string" ? result : JSON.stringify(result, null, 2);
}
