import type { Step } from "./flow.js";

/** One thing a step can listen to: another step (its handle or name), or a router's label. */
export type TriggerSource = Step<any> | string;

/** `or`: any source fires the step; `and`: it fires once every source has fired since it last ran. */
export interface TriggerGroup<R = unknown> {
  readonly mode: "or" | "and";
  readonly sources: readonly TriggerSource[];
  /** Phantom: the previous result a listener of the group gets. */
  readonly __result?: R;
}

export type Trigger = TriggerSource | TriggerGroup;

type ResultOfSource<T> = T extends Step<infer R> ? R : unknown;

/** Fires a listener when any of `sources` fires; its previous result is that source's. */
export function or<const T extends readonly TriggerSource[]>(...sources: T): TriggerGroup<ResultOfSource<T[number]>> {
  return { mode: "or", sources };
}

/** Fires a listener once all of `sources` have fired; its previous result is the last one's. */
export function and<const T extends readonly TriggerSource[]>(...sources: T): TriggerGroup<ResultOfSource<T[number]>> {
  return { mode: "and", sources };
}

export function sourceName(source: TriggerSource): string {
  return typeof source === "string" ? source : source.name;
}

export function sourceNames(group: TriggerGroup): string[] {
  return group.sources.map(sourceName);
}
