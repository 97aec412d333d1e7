import type { z } from "zod";
import { sha256 } from "../hash.js";
import { CrewstateError, quote } from "../errors.js";
import type { Crew } from "../model/crew.js";
import type { KickoffOptions, KickoffResult } from "../engine/kickoff.js";
import type { JsonValue, Store } from "../stores/store.js";
import { checkFlow } from "./check.js";
import { generateRunId } from "../engine/kickoff.js";
import { enqueueRun } from "../queue/enqueue.js";
import { checkRunId } from "../stores/codec.js";
import { runFlow, type FlowResult, type FlowRunOptions } from "./run-flow.js";
import { parseState } from "./state.js";
import { type Trigger, type TriggerGroup } from "./triggers.js";

/** What a person said to a step that asked for feedback (`crewstate feedback`). */
export interface Feedback {
  text: string | null;
  /** `approved` / `rejected` from `--approve` / `--reject`; null for text alone. */
  verdict: "approved" | "rejected" | null;
  /** Who gave it: `user@host`. */
  by: string;
  at: string;
}

/** A feedback step's result once a person has answered: what the step produced, and what they said. */
export interface WithFeedback<R> {
  output: R;
  feedback: Feedback;
}

/** What a step's function gets besides the state and the previous result. */
export interface StepContext {
  /** The flow run's ID (the state's ID). */
  runId: string;
  /** This step execution, e.g. `write#2`. */
  execution: string;
  /** 1 the first time the step runs in the run, 2 the second (a loop), … */
  iteration: number;
  /** The step execution that triggered this one, e.g. `review#1`; null for a start step started by the flow. */
  trigger: string | null;
  /**
   * Kicks off a crew as a child run of this step execution, with a run ID derived from the flow
   * run, the step and its iteration: rerunning the step resumes the child from its journal.
   */
  kickoff(crew: Crew, options?: Pick<KickoffOptions, "inputs" | "model" | "budget">): Promise<KickoffResult>;
  signal: AbortSignal;
}

export type StepFunction<S, P, R> = (state: S, previous: P, context: StepContext) => R | Promise<R>;

export type StepKind = "start" | "listen" | "router" | "feedback";

/** A step of a flow, as its definition keeps it; returned by `start`, `listen`, … to be listened to. */
export interface Step<R = JsonValue> {
  readonly name: string;
  readonly kind: StepKind;
  /** What triggers the step besides the flow's start (a start step's `on`), or what it listens to. */
  readonly on: TriggerGroup | null;
  /** A router's labels. */
  readonly routes: readonly string[];
  /** Part of every execution's input hash: a change reruns the step. Default: a hash of the function's source. */
  readonly version: string;
  /** A feedback step's question. */
  readonly message: string | null;
  readonly run: StepFunction<any, any, unknown>;
  /** Phantom: the step's result type. */
  readonly __result?: R;
}

export interface StepOptions {
  /** Part of the input hash; change it to rerun the step. Default: a hash of the function's source. */
  version?: string;
}

export type PreviousOf<T> = T extends Step<infer R> ? R : T extends TriggerGroup<infer R> ? R : JsonValue;

export interface FlowConfig<Schema extends z.ZodType> {
  /** Names the flow in stored runs; a run of one flow is never resumed by another. */
  name: string;
  /** The state's schema, with defaults; the run's inputs are parsed by it. */
  state: Schema;
  /** A store, or a store URL; default `CREWSTATE_STORE` or `sqlite:.crewstate/state.db`. */
  store?: Store | string;
  /** Step executions after which a run stops with FLOW_LOOP (a cycle that never ends). Default 1000. */
  maxSteps?: number;
}

const FLOW_BRAND = Symbol.for("crewstate.Flow");
const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * A durable workflow of steps over a typed state: start steps, listeners (on one step, a router's
 * label, or `or` / `and` of several), routers whose label picks what runs next (cycles allowed),
 * and steps that wait for a person. Each step execution commits its result and the state it
 * leaves in one commit; running the flow again with the same run ID goes on from there.
 */
export class Flow<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly state: Schema;
  readonly store: Store | string | undefined;
  readonly maxSteps: number;
  readonly steps: Step<any>[] = [];
  readonly [FLOW_BRAND] = true;

  constructor(config: FlowConfig<Schema>) {
    if (typeof config?.name !== "string" || config.name.trim() === "") {
      throw new CrewstateError("INVALID_DEFINITION", "a Flow needs a name");
    }
    if (typeof (config.state as { safeParse?: unknown } | undefined)?.safeParse !== "function") {
      throw new CrewstateError("INVALID_DEFINITION", `flow ${quote(config.name)}: state must be a zod schema`);
    }
    this.name = config.name;
    this.state = config.state;
    this.store = config.store;
    this.maxSteps = config.maxSteps ?? 1000;
    if (!Number.isInteger(this.maxSteps) || this.maxSteps < 1) {
      throw new CrewstateError("INVALID_DEFINITION", `flow ${quote(config.name)}: maxSteps must be a positive integer`);
    }
  }

  /** A step the flow starts with; `on` also starts it again when one of those fires (a loop back). */
  start<R>(name: string, fn: StepFunction<z.infer<Schema>, PreviousOf<never> | null, R>, options?: StepOptions & { on?: Trigger }): Step<Awaited<R>> {
    return this.add(name, "start", options?.on, [], null, fn, options);
  }

  /** A step that runs after `on` fires: a step, a router's label, or `or(…)` / `and(…)` of them. */
  listen<T extends Trigger, R>(name: string, on: T, fn: StepFunction<z.infer<Schema>, PreviousOf<T>, R>, options?: StepOptions): Step<Awaited<R>> {
    return this.add(name, "listen", on, [], null, fn, options);
  }

  /** A step whose returned label (one of `routes`) triggers the steps listening to that label. */
  router<T extends Trigger, const L extends string>(
    name: string,
    on: T,
    routes: readonly L[],
    fn: StepFunction<z.infer<Schema>, PreviousOf<T>, L>,
    options?: StepOptions,
  ): Step<L> {
    if (!Array.isArray(routes) || routes.length === 0) {
      throw new CrewstateError("INVALID_DEFINITION", `flow ${quote(this.name)}: router ${quote(name)} needs at least one route label`);
    }
    return this.add(name, "router", on, routes, null, fn, options);
  }

  /**
   * A step that waits for a person: `fn`'s result is kept and the run pauses (durably, in any
   * store) until `crewstate feedback <run-id> <step> --text … | --approve | --reject`. The next run
   * goes on with `{ output, feedback }` as the step's result.
   */
  feedback<T extends Trigger, R>(
    name: string,
    on: T,
    message: string,
    fn: StepFunction<z.infer<Schema>, PreviousOf<T>, R>,
    options?: StepOptions,
  ): Step<WithFeedback<Awaited<R>>> {
    return this.add(name, "feedback", on, [], message, fn, options);
  }

  /** Checks the definition: names, triggers, labels. Runs before any step of a run. */
  check(): void {
    checkFlow(this);
  }

  /** Runs the flow, or goes on with the run `options.runId` names from its last committed step. */
  kickoff(options: FlowRunOptions = {}): Promise<FlowResult<z.infer<Schema>>> {
    return runFlow(this, options);
  }

  /** Puts a run of the flow on its queue (a postgres:// or redis:// store); a worker of the flow works it. */
  async enqueue(options: { inputs?: Record<string, JsonValue>; runId?: string; store?: string; jobTimeoutMs?: number } = {}): Promise<{ runId: string }> {
    this.check();
    const runId = options.runId === undefined ? generateRunId(this.name) : checkRunId(options.runId);
    const inputs = { ...(options.inputs ?? {}) };
    parseState(this, inputs, `the inputs of flow run ${quote(runId)}`);
    await enqueueRun(this, { runId, inputs }, options.store, { jobTimeoutMs: options.jobTimeoutMs });
    return { runId };
  }

  step(name: string): Step<any> | undefined {
    return this.steps.find((s) => s.name === name);
  }

  private add(
    name: string,
    kind: StepKind,
    on: Trigger | undefined,
    routes: readonly string[],
    message: string | null,
    fn: StepFunction<any, any, unknown>,
    options: StepOptions | undefined,
  ): Step<any> {
    const where = `flow ${quote(this.name)}`;
    if (typeof name !== "string" || !STEP_NAME.test(name)) {
      throw new CrewstateError("INVALID_DEFINITION", `${where}: step name ${quote(name)} is not valid: use 1-64 letters, digits, '_' or '-'`);
    }
    if (name === "flow") throw new CrewstateError("INVALID_DEFINITION", `${where}: "flow" is reserved (the record of the flow run itself); name the step otherwise`);
    if (typeof fn !== "function") throw new CrewstateError("INVALID_DEFINITION", `${where}: step ${quote(name)} needs a function`);
    if (kind !== "start" && on === undefined) throw new CrewstateError("INVALID_DEFINITION", `${where}: step ${quote(name)} listens to nothing`);
    const step: Step<any> = {
      name,
      kind,
      on: on === undefined ? null : groupOf(on),
      routes: [...routes],
      version: options?.version ?? sha256(fn.toString()).slice(0, 16),
      message,
      run: fn,
    };
    this.steps.push(step);
    return step;
  }
}

export function isFlow(value: unknown): value is Flow<any> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[FLOW_BRAND] === true;
}

function groupOf(trigger: Trigger): TriggerGroup {
  if (typeof trigger === "object" && trigger !== null && "mode" in trigger) return trigger;
  return { mode: "or", sources: [trigger] };
}
