import { CrewstateError, quote } from "../errors.js";
import { canonicalJson, hashOf } from "../hash.js";
import type { JsonValue } from "../stores/store.js";
import type { Flow, Step } from "./flow.js";
import { sourceNames } from "./triggers.js";

/** What a step execution's input hash is made of, kept in its record to say why it reruns. */
export interface StepHashParts {
  /** The step's `version`, or its function's source hash. */
  version: string;
  /** Hash of the state the step starts from. */
  state: string;
  /** The triggering execution and the hash of its result; null for a start. */
  trigger: string | null;
}

/** One execution of a step, decided but not yet done: what it starts from and its input hash. */
export interface Execution {
  step: Step<any>;
  /** `write#2`: the step's name and its iteration, the record's name. */
  key: string;
  iteration: number;
  /** Executions before this one in the run. */
  position: number;
  trigger: { key: string; result: JsonValue } | null;
  /** The state it starts from. */
  state: JsonValue;
  parts: StepHashParts;
  inputHash: string;
}

/** What a step execution left: its result (a router's: its label) and the state after it. */
export interface Done {
  result: JsonValue;
  state: JsonValue;
  /** The label a router returned. */
  label: string | null;
}

/**
 * The order a flow's steps run in, decided from the definition and each execution's result
 * alone (no I/O): start steps first, in the order they were declared; then, as each execution is
 * done, every step it fires (a listener of the step, of the label a router returned, an `or`
 * with one of them, an `and` whose sources have all fired), first in first out. A step already
 * waiting is not queued twice. The same results always give the same executions with the same
 * keys, which is what lets a rerun find each execution's record.
 */
export class FlowWalk {
  private readonly queue: Array<{ step: Step<any>; trigger: Execution["trigger"] }>;
  private readonly queued = new Set<Step<any>>();
  /** By step name or label: the steps listening to it, in the order they were declared. */
  private readonly listeners = new Map<string, Step<any>[]>();
  private readonly runs = new Map<string, number>();
  private readonly arrived = new Map<string, Set<string>>();
  readonly executed: string[] = [];

  constructor(
    private readonly flow: Flow,
    public state: JsonValue,
    /** The store's keyed hashing when encryption at rest is on (`Store.hasher`). */
    private readonly hasher?: (hash: string) => string,
  ) {
    this.queue = flow.steps.filter((s) => s.kind === "start").map((step) => ({ step, trigger: null }));
    for (const { step } of this.queue) this.queued.add(step);
    for (const step of flow.steps) {
      for (const source of new Set(step.on ? sourceNames(step.on) : [])) this.listeners.set(source, [...(this.listeners.get(source) ?? []), step]);
    }
  }

  /** The next execution, or undefined when the flow is over. */
  next(): Execution | undefined {
    const item = this.queue.shift();
    if (!item) return undefined;
    this.queued.delete(item.step);
    if (this.executed.length >= this.flow.maxSteps) {
      throw new CrewstateError(
        "FLOW_LOOP",
        `flow ${quote(this.flow.name)} ran ${this.flow.maxSteps} step executions without ending (next: ${quote(item.step.name)}); a router keeps sending work back — raise maxSteps if that is meant`,
      );
    }
    const iteration = (this.runs.get(item.step.name) ?? 0) + 1;
    const key = `${item.step.name}#${iteration}`;
    const parts: StepHashParts = {
      version: item.step.version,
      state: hashOf(this.state),
      trigger: item.trigger ? `${item.trigger.key}:${hashOf(item.trigger.result)}` : null,
    };
    return { step: item.step, key, iteration, position: this.executed.length, trigger: item.trigger, state: this.state, parts, inputHash: this.keyed(hashOf({ flow: this.flow.name, step: key, parts })) };
  }

  private keyed(hash: string): string {
    return this.hasher ? this.hasher(hash) : hash;
  }

  /** Records an execution as done and queues what it fires. */
  done(execution: Execution, outcome: Done): void {
    this.runs.set(execution.step.name, execution.iteration);
    this.executed.push(execution.key);
    this.state = outcome.state;
    const fired = new Set([execution.step.name, ...(outcome.label === null ? [] : [outcome.label])]);
    const trigger = { key: execution.key, result: outcome.result };
    const order = this.flow.steps;
    const hearing = [...new Set([...fired].flatMap((name) => this.listeners.get(name) ?? []))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    for (const step of hearing) {
      const heard = sourceNames(step.on!).filter((s) => fired.has(s));
      if (step.on!.mode === "and") {
        const arrived = this.arrived.get(step.name) ?? new Set<string>();
        for (const source of heard) arrived.add(source);
        if (!sourceNames(step.on!).every((s) => arrived.has(s))) {
          this.arrived.set(step.name, arrived);
          continue;
        }
        this.arrived.delete(step.name);
      }
      if (!this.queued.has(step)) {
        this.queued.add(step);
        this.queue.push({ step, trigger });
      }
    }
  }
}

/** Why an execution runs instead of reusing its record, in `plan`'s words. */
export function staleReason(stored: StepHashParts | null, now: StepHashParts): string {
  if (stored === null) return "new";
  const why: string[] = [];
  if (stored.version !== now.version) why.push("the step's code changed");
  if (stored.state !== now.state) why.push("the state it starts from changed");
  if (stored.trigger !== now.trigger) why.push(`the result it listens to changed (${now.trigger?.split(":")[0] ?? "start"})`);
  return why.length === 0 ? "stale" : `stale: ${why.join("; ")}`;
}

/**
 * Whether a stored step execution was made from the same inputs: its input hash matches, or —
 * the hashing changed (another encryption key) — the parts it stored do.
 */
export function sameStepInputs(record: { inputHash: string | null }, stored: { parts: unknown } | undefined, execution: Execution): boolean {
  if (record.inputHash === execution.inputHash) return true;
  return stored !== undefined && canonicalJson(stored.parts) === canonicalJson(execution.parts);
}
