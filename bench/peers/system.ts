/**
 * One system under benchmark — a crewstate store, a peer library with one of its checkpointers,
 * the tutorial's pattern, or a physical floor — behind one small interface, so `bench/run.ts`
 * can interleave their repetitions and pair each sample with its own no-persistence baseline
 * taken in the same repetition.
 *
 * Glossary, as the tables use it:
 * - *per task*: wall time of one whole chain run divided by N.
 * - *overhead*: per task minus the per task of the system's baseline (the same framework with
 *   nothing persisted), paired repetition by repetition.
 * - *floor*: one primitive operation (a 1 KiB write + fsync, a commit, a round trip); its
 *   overhead is the time per operation itself.
 * - *in persistence calls*: wall time spent inside the store's / checkpointer's own methods,
 *   measured directly (no subtraction, so no noise from the framework's own work). Everything a
 *   persistence layer adds happens inside its calls, so for crewstate it bounds the overhead from
 *   above; a checkpointer's framework also works outside its saver, so for LangGraph it is a
 *   lower bound.
 * - *resume*: a new handle's open + load (+ plan, where the system plans) of the completed run.
 */
import { runInNewContext } from "node:vm";
import v8 from "node:v8";

export type Family = "crewstate" | "LangGraph.js" | "DBOS" | "tutorial" | "floor";

export interface Sample {
  /** Wall time of the whole chain (or of all floor operations), in ms. */
  ms: number;
  /**
   * Wall time spent inside the persistence layer's calls during the chain (crewstate: the
   * store's methods; LangGraph: the checkpointer's; the tutorial: `save_state`), in ms;
   * undefined where the layer cannot be separated (DBOS) or there is none.
   */
  insideMs?: number;
  /** Chain steps (or floor operations) the sample covers. */
  steps: number;
  /** Bytes the run left in the system's storage; 0 where nothing is stored. */
  bytes: number;
}

export interface System {
  /** Stable key: `crewstate:sqlite`, `langgraph:sqlite`, `floor:fsync`… */
  id: string;
  /** What the tables call it. */
  label: string;
  family: Family;
  /** What a committed step survives: "—", "process crash", "power loss", "server crash". */
  durability: string;
  /** The `id` of this system's no-persistence baseline; absent for baselines and floors. */
  baseline?: string;
  /**
   * The largest N a default run measures this system at: set on the variants whose N = 1000 run
   * takes 20–45 s each, which would push the full bench past 10 minutes. `--all` lifts it.
   */
  upTo?: number;
  /** Runs the chain of `n` steps (a floor: its operations) on fresh state named `tag`. */
  run(n: number, tag: string): Promise<Sample>;
  /** Opens the state `run(n, tag)` left with a new handle and loads the run; returns ms. */
  resume?(n: number, tag: string): Promise<number>;
  /** Frees the state of `tag` once it has been measured. */
  discard?(tag: string): Promise<void>;
  close(): Promise<void>;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
}

export function stats(values: number[]): Stats {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/**
 * A full garbage collection before each sample, so one system's garbage (LangGraph's N = 1000
 * runs leave hundreds of MB) is not collected on another's clock. `npm run bench` starts node
 * without `--expose-gc`, so the flag is set at run time and `gc` taken from a fresh context.
 */
export const collectGarbage: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  return gc ?? (() => {});
})();

export const elapsedSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

/** Accumulated wall time inside an instrumented object's methods. */
export interface Meter {
  readonly ms: number;
}

/**
 * Wraps every method `target` has (own and inherited, `constructor` and `close` aside) so the
 * wall time spent inside them accumulates in the returned meter. Overlapping and nested calls
 * (a public method calling a wrapped helper) count once: the meter adds the union of the
 * intervals during which at least one call is in flight.
 */
export function instrument(target: object): Meter {
  let active = 0;
  let since = 0n;
  let total = 0;
  const enter = () => {
    if (active++ === 0) since = process.hrtime.bigint();
  };
  const leave = () => {
    if (--active === 0) total += Number(process.hrtime.bigint() - since) / 1e6;
  };
  const names = new Set<string>();
  for (let proto: object | null = target; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== "constructor" && name !== "close" && typeof descriptor?.value === "function") names.add(name);
    }
  }
  const record = target as Record<string, unknown>;
  for (const name of names) {
    const method = record[name] as (...args: unknown[]) => unknown;
    record[name] = function (this: unknown, ...args: unknown[]) {
      enter();
      let result: unknown;
      try {
        result = method.apply(this, args);
      } catch (error) {
        leave();
        throw error;
      }
      if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
        return (result as Promise<unknown>).finally(leave);
      }
      leave();
      return result;
    };
  }
  return {
    get ms() {
      return total;
    },
  };
}
