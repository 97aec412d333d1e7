import type { z } from "zod";
import { CrewstateError, isCrewstateError, messageOf, quote } from "../errors.js";
import { outputHashOf } from "../hash.js";
import { defaultLogger, type Logger, sealedLogOptions } from "../log.js";
import type { Crew } from "../model/crew.js";
import { crashPoint } from "../engine/crash-points.js";
import { generateRunId, kickoff, type KickoffOptions, type KickoffResult } from "../engine/kickoff.js";
import { addUsage, emptyUsage } from "../engine/ledger.js";
import { fanOut, type RunObserver, type TaskOutcome } from "../engine/observer.js";
import { DEFAULT_LEASE_TTL_MS, newWorkerId, TaskLease } from "../engine/task-lease.js";
import { tracingObserver } from "../telemetry/tracing.js";
import { checkRunId, encodeJson } from "../stores/codec.js";
import { openStore, storeUrlFrom } from "../stores/open.js";
import { newTaskRecord, type Inputs, type JsonValue, type RunParent, type Store, type TaskRecord, type TokenUsage } from "../stores/store.js";
import type { Flow, StepContext } from "./flow.js";
import { parseState } from "./state.js";
import { displayOf, FLOW_RECORD, questionOf, readStepPayload, resultOf, type StepPayload } from "./step-record.js";
import { FlowWalk, sameStepInputs, staleReason, type Execution } from "./walk.js";

export interface FlowRunOptions {
  /** The state's starting values, parsed by the flow's state schema. Default: the stored run's, else the schema's defaults. */
  inputs?: Inputs;
  /** Resume this run (the state's ID) if it exists, else start it under this ID. Default: a new generated ID. */
  runId?: string;
  store?: Store | string;
  /** Overrides the model of every agent of the crews the steps kick off. */
  model?: string;
  logger?: Logger;
  observers?: RunObserver[];
  /** OpenTelemetry spans, as for crews. Default true. */
  tracing?: boolean;
  worker?: string;
  leaseTtlMs?: number;
  signal?: AbortSignal;
  /** The run that kicked this flow off, recorded when the run is created. */
  parent?: RunParent;
}

export interface StepResult {
  /** `write#2` */
  execution: string;
  step: string;
  iteration: number;
  outcome: TaskOutcome;
  /** Why it ran, or that it was reused. */
  reason: string;
  result: JsonValue;
  /** A router's label. */
  label: string | null;
  children: string[];
}

export interface FlowResult<S = JsonValue> {
  runId: string;
  flow: string;
  /** `paused` when a feedback step (or a crew it kicked off) waits for a person. */
  status: "completed" | "paused";
  /** The step execution (or child run task) waiting, when paused. */
  awaiting: string | null;
  /** The state as the last step left it. */
  state: S;
  steps: StepResult[];
  /** The last step execution's result. */
  result: JsonValue;
  store: string;
  /** Tokens of the model calls the child crews made in this kickoff. */
  usage: TokenUsage;
  calls: { made: number; replayed: number };
}

/** Runs a flow, or goes on with the run `runId` names from its last committed step. */
export async function runFlow<Schema extends z.ZodType>(flow: Flow<Schema>, options: FlowRunOptions = {}): Promise<FlowResult<z.infer<Schema>>> {
  flow.check();
  const runId = options.runId === undefined ? generateRunId(flow.name) : checkRunId(options.runId);
  // Given inputs are checked before the store is opened: a bad state writes nothing.
  if (options.inputs !== undefined) parseState(flow, options.inputs, `the inputs of flow run ${quote(runId)}`);
  const storeSpec = options.store ?? flow.store ?? storeUrlFrom();
  const store = typeof storeSpec === "string" ? await openStore(storeSpec) : storeSpec;
  try {
    return (await new FlowKickoff(flow, store, runId, options).run()) as FlowResult<z.infer<Schema>>;
  } finally {
    if (typeof storeSpec === "string") await store.close();
  }
}

class Paused extends Error {
  constructor(readonly awaiting: string) {
    super(`paused at ${awaiting}`);
  }
}

class FlowKickoff {
  private readonly log: Logger;
  private readonly worker: string;
  private readonly observer: RunObserver;
  private readonly usage = emptyUsage();
  private readonly calls = { made: 0, replayed: 0 };
  private lease: TaskLease | undefined;

  constructor(
    private readonly flow: Flow,
    private readonly store: Store,
    private readonly runId: string,
    private readonly options: FlowRunOptions,
  ) {
    this.worker = options.worker ?? newWorkerId();
    this.log = (options.logger ?? defaultLogger()).child({ runId, flow: flow.name, worker: this.worker }, sealedLogOptions(store));
    const tracing = options.tracing === false ? [] : [tracingObserver()];
    this.observer = fanOut([...tracing, ...(options.observers ?? [])], (error, method) => this.log.warn({ err: messageOf(error), method }, "a run observer failed; the run goes on"));
  }

  async run(): Promise<FlowResult> {
    const existing = await this.store.getRun(this.runId);
    const inputs = this.options.inputs ?? existing?.inputs ?? {};
    const initial = parseState(this.flow, inputs, `the inputs of flow run ${quote(this.runId)}`);
    const begun = await this.store.beginRun({ runId: this.runId, crew: this.flow.name, kind: "flow", inputs, parent: this.options.parent ?? null });
    this.lease = await this.claim();
    this.observer.onRunStart!({ runId: this.runId, crew: this.flow.name, kind: "flow", store: this.store.location, tasks: this.flow.steps.map((s) => s.name), attempt: begun.attempts });
    this.log.info({ attempt: begun.attempts, store: this.store.location }, "flow run started");
    try {
      const run = await this.store.getRun(this.runId);
      const stored = new Map((run?.tasks ?? []).map((t) => [t.name, t]));
      const walk = new FlowWalk(this.flow, initial, this.store.hasher);
      const steps: StepResult[] = [];
      let awaiting: string | null = null;
      try {
        for (let execution = walk.next(); execution; execution = walk.next()) {
          const step = await this.execute(execution, stored.get(execution.key));
          steps.push(step.result);
          walk.done(execution, { result: step.result.result, state: step.state, label: step.result.label });
        }
      } catch (error) {
        if (!(error instanceof Paused)) throw error;
        awaiting = error.awaiting;
      }
      const state = walk.state;
      if (awaiting !== null) {
        await this.store.setRunStatus(this.runId, "paused", null, { type: "run_paused", task: awaiting, data: { reason: "awaiting feedback" } });
        this.log.info({ awaiting }, "flow run paused for feedback");
      } else {
        // A kickoff that lost its claim must not remove what the new holder wrote.
        this.lease.signal.throwIfAborted();
        await this.removeUnreached(stored, new Set(walk.executed));
        const record: TaskRecord = { ...newTaskRecord(FLOW_RECORD), ...this.lease.recordFields(false), status: "completed", output: displayOf(state), structured: state, completedAt: new Date().toISOString() };
        record.outputHash = outputHashOf(record.output!, record.structured);
        await this.store.saveTask(this.runId, record, { type: "task_completed", task: FLOW_RECORD, data: { kind: "flow", steps: walk.executed.length } }, this.lease.commitOptions);
        this.lease.ended();
        await this.store.setRunStatus(this.runId, "completed", null, { type: "run_completed", data: { made: this.calls.made, replayed: this.calls.replayed } });
        this.log.info({ steps: walk.executed.length }, "flow run completed");
      }
      this.observer.onRunEnd!({ runId: this.runId, status: awaiting === null ? "completed" : "paused" });
      return {
        runId: this.runId,
        flow: this.flow.name,
        status: awaiting === null ? "completed" : "paused",
        awaiting,
        state,
        steps,
        result: steps.length > 0 ? steps[steps.length - 1]!.result : null,
        store: this.store.location,
        usage: this.usage,
        calls: this.calls,
      };
    } catch (error) {
      await this.fail(error);
      throw error;
    } finally {
      await this.lease.stop();
    }
  }

  /** Takes the flow run's one claim: while it holds, this worker alone commits its steps. */
  private async claim(): Promise<TaskLease> {
    const ttl = this.options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    for (;;) {
      const record = (await this.store.getRun(this.runId))?.tasks.find((t) => t.name === FLOW_RECORD);
      const start = { task: { ...newTaskRecord(FLOW_RECORD), status: "running" as const, attempts: (record?.attempts ?? 0) + 1, startedAt: new Date().toISOString() }, event: { type: "task_started" as const, task: FLOW_RECORD, data: { kind: "flow" } } };
      const got = await TaskLease.acquire(this.store, this.runId, FLOW_RECORD, this.worker, ttl, this.log, { seenToken: record?.fencingToken ?? 0, start });
      if (got instanceof TaskLease) return got;
    }
  }

  /** Reuses the execution's record when its input hash still matches; runs the step otherwise. */
  private async execute(execution: Execution, record: TaskRecord | undefined): Promise<{ result: StepResult; state: JsonValue }> {
    const payload = record ? readStepPayload(this.runId, record) : undefined;
    const base = { execution: execution.key, step: execution.step.name, iteration: execution.iteration };
    if (record && payload && sameStepInputs(record, payload, execution)) {
      if (record.status === "completed") {
        const state = parseState(this.flow, payload.state, `the state step ${quote(execution.key)} of flow run ${quote(this.runId)} stored`);
        this.progress(execution.key, "reused", "input hash unchanged");
        this.observer.onTaskEnd!({ runId: this.runId, task: execution.key, outcome: "reused" });
        return { result: { ...base, outcome: "reused", reason: "input hash unchanged", result: resultOf(payload), label: payload.label, children: payload.children }, state };
      }
      const question = questionOf(record);
      if (question !== null) {
        this.progress(execution.key, "skipped", `still waiting for feedback: ${question}`);
        throw new Paused(execution.key);
      }
    }
    const reason = staleReason(payload?.parts ?? null, execution.parts);
    const outcome: TaskOutcome = record ? "rerun" : "ran";
    this.signal.throwIfAborted();
    return this.perform(execution, record, outcome, reason);
  }

  private async perform(execution: Execution, previous: TaskRecord | undefined, outcome: TaskOutcome, reason: string): Promise<{ result: StepResult; state: JsonValue }> {
    const { step, key } = execution;
    const startedAt = new Date().toISOString();
    this.log.info({ step: key, reason }, "step running");
    this.progress(key, "running", reason);
    this.observer.onTaskStart!({ runId: this.runId, task: key, agent: `${step.kind} step`, model: "-", attempt: (previous?.attempts ?? 0) + 1, fencingToken: this.lease!.token });
    const children: string[] = [];
    const usage = emptyUsage();
    const draft = structuredClone(execution.state) as JsonValue;
    let result: unknown;
    try {
      result = await step.run(draft, execution.trigger?.result ?? null, this.context(execution, children, usage));
    } catch (error) {
      if (error instanceof Paused || isCrewstateError(error)) throw error;
      throw new CrewstateError("STEP_FAILED", `step ${quote(key)} of flow ${quote(this.flow.name)} threw: ${messageOf(error)}`, { runId: this.runId, task: key }, { cause: error });
    }
    const state = parseState(this.flow, draft, `the state step ${quote(key)} left`) as JsonValue;
    encodeJsonOf(result, key);
    const label = step.kind === "router" ? routeOf(step.routes, result, key) : null;
    const awaiting = step.kind === "feedback";
    const payload: StepPayload = {
      kind: "step",
      iteration: execution.iteration,
      position: execution.position,
      result: result as JsonValue,
      state,
      label,
      trigger: execution.trigger?.key ?? null,
      parts: execution.parts,
      children,
      ...(awaiting ? { awaiting: step.message ?? "" } : {}),
    };
    const output = displayOf(result as JsonValue);
    const record: TaskRecord = {
      ...newTaskRecord(key),
      ...this.lease!.recordFields(false),
      status: awaiting ? "pending" : "completed",
      inputHash: execution.inputHash,
      output,
      structured: payload as unknown as JsonValue,
      outputHash: outputHashOf(output, payload),
      startedAt,
      completedAt: new Date().toISOString(),
      attempts: (previous?.attempts ?? 0) + 1,
      usage: usage.inputTokens + usage.outputTokens > 0 ? usage : null,
    };
    const data = { kind: "step", iteration: execution.iteration, outcome, reason, label, children, ...(awaiting ? { awaitingFeedback: step.message ?? "" } : {}) };
    await this.store.saveTask(this.runId, record, { type: "task_completed", task: key, data }, { ...this.lease!.commitOptions, fencedBy: FLOW_RECORD });
    crashPoint("committed");
    this.progress(key, "done", awaiting ? `waiting for feedback: ${step.message}` : label === null ? outcome : `${outcome} → ${label}`);
    if (awaiting) throw new Paused(key);
    this.observer.onTaskEnd!({ runId: this.runId, task: key, outcome });
    return { result: { execution: key, step: step.name, iteration: execution.iteration, outcome, reason, result: resultOf(payload), label, children }, state };
  }

  private executions = 0;

  /** Aborted when the claim is lost to another worker, or by the caller's `signal`. */
  private get signal(): AbortSignal {
    return this.options.signal ? AbortSignal.any([this.lease!.signal, this.options.signal]) : this.lease!.signal;
  }

  private progress(task: string, state: "reused" | "running" | "done" | "skipped", detail: string): void {
    if (state !== "done") this.executions += 1;
    this.observer.onProgress!({ runId: this.runId, task, index: this.executions, total: 0, state, store: this.store.location, detail, isDemoModel: false });
  }

  private context(execution: Execution, children: string[], usage: TokenUsage): StepContext {
    return {
      runId: this.runId,
      execution: execution.key,
      iteration: execution.iteration,
      trigger: execution.trigger?.key ?? null,
      signal: this.signal,
      kickoff: async (crew: Crew, options: Pick<KickoffOptions, "inputs" | "model" | "budget"> = {}): Promise<KickoffResult> => {
        const childId = checkRunId(`${this.runId}.${execution.step.name}.${execution.iteration}${children.length === 0 ? "" : `.${children.length + 1}`}`);
        children.push(childId);
        const result = await kickoff(crew, {
          ...options,
          model: options.model ?? this.options.model,
          runId: childId,
          store: this.store,
          parent: { runId: this.runId, task: execution.key },
          logger: this.options.logger,
          worker: this.worker,
          leaseTtlMs: this.options.leaseTtlMs,
          observers: this.options.observers?.map(withinStep),
          tracing: this.options.tracing,
          signal: this.signal,
        });
        addUsage(usage, result.usage);
        addUsage(this.usage, result.usage);
        this.calls.made += result.calls.made;
        this.calls.replayed += result.calls.replayed;
        if (result.status === "paused") throw new Paused(`${childId}/${result.awaiting}`);
        return result;
      },
    };
  }

  /** Executions a rerun took another way past: their records go, so `show` tells this run's path. */
  private async removeUnreached(stored: Map<string, TaskRecord>, reached: Set<string>): Promise<void> {
    for (const name of stored.keys()) {
      if (name === FLOW_RECORD || reached.has(name)) continue;
      await this.store.removeTask(this.runId, name, { type: "task_invalidated", data: { reason: "no longer reached by the flow", by: this.worker } });
    }
  }

  private async fail(error: unknown): Promise<void> {
    const message = messageOf(error);
    const task = isCrewstateError(error) ? (error.context.task ?? null) : null;
    this.observer.onRunEnd!({ runId: this.runId, status: "failed", error: message });
    if (isCrewstateError(error, "FENCED_OUT") || isCrewstateError(error, "LEASE_HELD")) return;
    await this.store.setRunStatus(this.runId, "failed", message, { type: "run_failed", task: typeof task === "string" ? task : null, data: { error: message } }).catch((cause: unknown) => {
      this.log.warn({ err: messageOf(cause) }, "could not record the flow run as failed");
    });
  }
}

/**
 * An observer of the flow as the crews inside its steps see it: their tasks and calls, but not
 * their run's start and end, which are not the flow's (a view would close at the first crew's end).
 */
function withinStep(observer: RunObserver): RunObserver {
  return {
    onProgress: observer.onProgress?.bind(observer),
    onTaskStart: observer.onTaskStart?.bind(observer),
    onTaskEnd: observer.onTaskEnd?.bind(observer),
    onCallStart: observer.onCallStart?.bind(observer),
    onCallEnd: observer.onCallEnd?.bind(observer),
    onToken: observer.onToken?.bind(observer),
  };
}

function encodeJsonOf(result: unknown, key: string): void {
  if (result === undefined) throw new CrewstateError("STEP_FAILED", `step ${quote(key)} returned nothing; return a JSON value (null if there is nothing to say)`, { task: key });
  try {
    encodeJson(result, `the result of step ${quote(key)}`);
  } catch (error) {
    throw new CrewstateError("STEP_FAILED", messageOf(error), { task: key }, { cause: error });
  }
}

function routeOf(routes: readonly string[], result: unknown, key: string): string {
  if (typeof result !== "string" || !routes.includes(result)) {
    throw new CrewstateError("STEP_FAILED", `router ${quote(key)} returned ${quote(typeof result === "string" ? result : JSON.stringify(result) ?? String(result))}, which is none of its routes (${routes.join(", ")})`, {
      task: key,
    });
  }
  return result;
}
