import type { RunKind, RunStatus } from "./store.js";

/**
 * What a back end's atomic step reports. Back ends never word an error for a refusal: they say
 * what they found, and the checked layer (`BaseStore`) turns it into the one error every store
 * gives for it.
 */
export type Ok<T = undefined> = { outcome: "ok"; value: T };
/** The run the step names does not exist. */
export type NoRun = { outcome: "noRun" };
/**
 * A write fenced by a token that is no longer current: `task` is the record whose token was
 * checked (the one written, or `fencedBy`), `current` its token now.
 */
export type Fenced = { outcome: "fenced"; task: string; current: number };
/** An import of a run ID that exists, without overwrite. */
export type Exists = { outcome: "exists" };
/** A begin of a run that belongs to another crew. */
export type OtherCrew = { outcome: "otherCrew"; crew: string };
/** A begin of a run of another kind (crew or flow). */
export type OtherKind = { outcome: "otherKind"; kind: RunKind };

/**
 * A deletion of a run still in use, judged inside its commit: the run is `running` or `paused`
 * (`task` null), or task `task` holds a lease that runs until `expiresAt` by the store's clock.
 */
export type Busy = { outcome: "busy"; status: RunStatus; task: string | null; expiresAt: string | null };

export type Refusal = NoRun | Fenced | Exists | OtherCrew | OtherKind | Busy;

export function ok(): Ok;
export function ok<T>(value: T): Ok<T>;
export function ok<T>(value?: T): Ok<T | undefined> {
  return { outcome: "ok", value };
}

export const noRun: NoRun = { outcome: "noRun" };
export const exists: Exists = { outcome: "exists" };

export function fenced(task: string, current: number): Fenced {
  return { outcome: "fenced", task, current };
}

export function busy(status: RunStatus, task: string | null = null, expiresAt: string | null = null): Busy {
  return { outcome: "busy", status, task, expiresAt };
}
