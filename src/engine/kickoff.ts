import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { CrewstateError, isCrewstateError, messageOf, quote } from "../errors.js";
import { failureMessage } from "../llm/provider-error.js";
import { plannedData } from "./planned.js";
import { defaultLogger, type Logger, sealedLogOptions } from "../log.js";
import type { Crew } from "../model/crew.js";
import type { ConditionalTask } from "../model/conditional-task.js";
import type { Task } from "../model/task.js";
import type { TaskOutput } from "../model/task-output.js";
import { outputHashOf } from "../hash.js";
import { checkRunId } from "../stores/codec.js";
import { openStore, storeUrlFrom } from "../stores/open.js";
import { applyRetention } from "../runs/prune.js";
import {
  newTaskRecord,
  type BeginRun,
  type Inputs,
  type JsonValue,
  type Lease,
  type NewEvent,
  type NextClaim,
  type ReusedTask,
  type RunEnd,
  type RunEvent,
  type RunParent,
  type Store,
  type TaskRecord,
  type TaskStart,
  type TokenUsage,
} from "../stores/store.js";
import { runAgentLoop } from "./agent-loop.js";
import { DEFAULT_PRICES, type PriceTable } from "../llm/prices.js";
import { TaskJournal, type JournalOptions } from "./journal.js";
import { addUsage, BudgetGuard, emptyUsage, spentSoFar, usageOfCalls, usageToJson, type Budget } from "./ledger.js";
import { isApproved } from "./operator.js";
import { fanOut, type ProgressEvent, type RunObserver, type TaskOutcome, type TokenEvent } from "./observer.js";
import {
  decide,
  describeDecision,
  EMPTY_DIGEST,
  foldUpstream,
  inputHashOf,
  isResult,
  storedOutputHash,
  partsByTask,
  SKIPPED_OUTPUT_HASH,
  upstreamDigest,
  type Decision,
  type HashParts,
} from "./plan.js";
import { writeOutputFile } from "./output-file.js";
import { contextOf, isReady, scheduleOf, type Slot } from "./schedule.js";
import { prepareTasks, type PreparedTask } from "./prepare.js";
import { backoffDelay, isRetryable } from "./retry.js";
import { DEFAULT_LEASE_TTL_MS, newWorkerId, TaskLease, readTask } from "./task-lease.js";
import { crashPoint } from "./crash-points.js";
import { tracingObserver } from "../telemetry/tracing.js";

export interface KickoffOptions {
  /** Values for the `{placeholder}`s of the crew's tasks and agents: text, or any JSON value. */
  inputs?: Inputs;
  /** Resume this run if it exists, else start it under this ID. Default: a new generated ID. */
  runId?: string;
  /** Overrides the crew's store. */
  store?: Store | string;
  /** Overrides every agent's model, e.g. `demo` or `openai:gpt-4o-mini`. */
  model?: string;
  logger?: Logger;
  /** Called as each task is planned, starts, finishes or fails. */
  onProgress?: (event: ProgressEvent) => void;
  /** Watch the run as it happens: tasks, each model and tool call, streamed text (see `RunObserver`). */
  observers?: RunObserver[];
  /**
   * OpenTelemetry spans for the run, its tasks and their calls (see `tracingObserver`): recorded
   * only once the application registers an OpenTelemetry SDK. `false` leaves them out. Default true.
   */
  tracing?: boolean;
  /**
   * Called with each piece of a model answer's text as it is generated. Given this (or an observer
   * with `onToken`), agents ask their models for streams; each answer is still journaled once, whole.
   */
  onToken?: (event: TokenEvent) => void;
  /** Base of the exponential backoff between attempts of a task, in ms. Default 500. */
  retryDelayMs?: number;
  /** This process's worker ID, recorded on every task it claims. Default: `<host>:<pid>:<random>`. */
  worker?: string;
  /** How long a claim on a task lasts without renewal; renewed every third of it. Default 30 s. */
  leaseTtlMs?: number;
  /** Starts after which a task whose worker keeps dying is failed as dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Prices per model id, over the built-in table (see `DEFAULT_PRICES`). */
  prices?: PriceTable;
  /** A spending limit for the run, over all its kickoffs; when reached, the run fails with BUDGET_EXCEEDED. */
  budget?: Budget;
  signal?: AbortSignal;
  /**
   * Rerun offline from another run's recorded answers (a cassette): every model and tool call is
   * answered from that run's journal, in the same store; a call it has no answer for fails with
   * REPLAY_MISS. No model or tool is ever called.
   */
  replayFrom?: string;
  /** The run that kicked this one off (a flow's step execution); recorded when the run is created. */
  parent?: RunParent;
  /**
   * Whether a failed run is resumed (its failed task run again). Default true: an operator's
   * `crewstate run`. A worker passes false: a second delivery of a failed run's job must not
   * start its dead-lettered task again, nor may a kickoff run again a task another worker failed
   * while it decided.
   */
  resumeFailed?: boolean;
}

export type { ProgressEvent, TaskOutcome };

export interface TaskResult<T = JsonValue> {
  name: string;
  outcome: TaskOutcome;
  /** Why it ran (new, stale because …) or was reused. */
  reason: string;
  /** The accepted output; empty for a skipped task. */
  output: string;
  /** The structured output, typed by the task's `output` schema (see `KickoffResult.get`). */
  structured: T | null;
  /** The role of the agent that worked the task. */
  agent: string;
  outputHash: string;
  usage: TokenUsage | null;
  model: string | null;
}

export interface KickoffResult {
  runId: string;
  crew: string;
  /** `paused` when a task with `humanReview` awaits approval; `tasks` then ends with it. */
  status: "completed" | "paused";
  /** The task awaiting approval, when paused. */
  awaiting: string | null;
  /** Where the state lives. */
  store: string;
  tasks: TaskResult[];
  /** The last task's output. */
  output: string;
  outputs: Record<string, string>;
  /** Tokens (and cost) of the model calls this kickoff made. */
  usage: TokenUsage;
  /** Tokens (and cost) of the calls answered from the journal instead: what resuming saved. */
  saved: TokenUsage;
  calls: { made: number; replayed: number };
  /** Stored tasks the crew no longer has: kept, not used. */
  orphaned: string[];
  isDemoModel: boolean;
  /** One task's result, its `structured` typed by the task's `output` schema; undefined if it did not finish in this kickoff. */
  get<T>(task: Task<T>): TaskResult<T> | undefined;
}

/** Runs a crew: reuses every completed task whose input hash still matches, runs the rest. */
export async function kickoff(crew: Crew, options: KickoffOptions = {}): Promise<KickoffResult> {
  const inputs = { ...(options.inputs ?? {}) };
  const runId = options.runId === undefined ? generateRunId(crew.name) : checkRunId(options.runId);
  const replayFrom = options.replayFrom === undefined ? undefined : checkRunId(options.replayFrom);
  const prepared = await prepareTasks(crew, inputs, options.model, { offline: replayFrom !== undefined });
  const storeSpec = options.store ?? crew.store ?? storeUrlFrom();
  const store = typeof storeSpec === "string" ? await openStore(storeSpec) : storeSpec;
  try {
    if (replayFrom !== undefined && !(await store.getRun(replayFrom))) {
      throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(replayFrom)} to replay from not found in ${store.location}`, {
        runId: replayFrom,
        store: store.location,
      });
    }
    try {
      return await new Kickoff(crew, prepared, store, runId, inputs, options).run();
    } finally {
      // After the run's final status commit: the crew's or the store's retention (never fails the run).
      await applyRetention(store, runId, crew.retention, options.logger, typeof storeSpec === "string" ? storeSpec : undefined);
    }
  } finally {
    if (typeof storeSpec === "string") await store.close();
  }
}

class Kickoff {
  private readonly log: Logger;
  /** By crew position: the result of each task finished in this kickoff. */
  private readonly results: (TaskResult | undefined)[] = [];
  private readonly outputHashes: (string | undefined)[] = [];
  /** `prefixDigests[k]` folds the outputs of tasks 0 … k − 1: the upstream digest of a default context. */
  private readonly prefixDigests: string[] = [EMPTY_DIGEST];
  private readonly usage = emptyUsage();
  private readonly saved = emptyUsage();
  private readonly calls = { made: 0, replayed: 0 };
  private events: RunEvent[] | undefined;
  private parts: Map<string, HashParts> | undefined;
  private readonly worker: string;
  private readonly leaseTtlMs: number;
  private readonly maxAttempts: number;
  private ledger: JournalOptions = {};
  /** Set once this kickoff has recorded the run as failed. */
  private failedRun = false;
  private readonly observer: RunObserver;
  /** Whether someone listens for streamed text: then models are asked for streams. */
  private readonly streams: boolean;
  /** The stored records read at the kickoff's begin, by task name; decisions start from them. */
  private stored = new Map<string, TaskRecord>();
  private readonly slots: Slot[];
  /** The crew's task names, by position. */
  private readonly names: string[];
  /** The scheduler's state: which tasks were launched, finished, handed back; how many run. */
  private readonly sched: Schedule;
  /** Claims made in the commit of the task before, by task position (see `chainAfter`). */
  private readonly preclaimed = new Map<number, Preclaim>();
  /** Reused results not committed yet: they commit together, with the next write that needs them. */
  private reused: ReusedTask[] = [];
  private adopted: string[] = [];
  /** Set once a commit has also set the run's final status. */
  private runEnded = false;
  /** The begin of a run that exists, not committed yet: it rides with the kickoff's first commit. */
  private pendingBegin: BeginRun | undefined;
  /** The commit that began the run, once made or under way; every other write waits for it. */
  private begun: Promise<void> | undefined;

  constructor(
    private readonly crew: Crew,
    private readonly tasks: PreparedTask[],
    private readonly store: Store,
    private readonly runId: string,
    private readonly inputs: Inputs,
    private readonly options: KickoffOptions,
  ) {
    this.worker = options.worker ?? newWorkerId();
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.log = (options.logger ?? defaultLogger()).child({ runId, crew: crew.name, worker: this.worker }, sealedLogOptions(store));
    const { onProgress, onToken } = options;
    const tracing = options.tracing === false ? [] : [tracingObserver()];
    const observers: RunObserver[] = [...(onProgress ? [{ onProgress }] : []), ...(onToken ? [{ onToken }] : []), ...tracing, ...(options.observers ?? [])];
    this.streams = observers.some((observer) => typeof observer.onToken === "function");
    this.observer = fanOut(observers, (error, method) => this.log.warn({ err: messageOf(error), method }, "a run observer failed; the run goes on"));
    const n = tasks.length;
    this.names = tasks.map((t) => t.name);
    this.slots = scheduleOf(tasks.map((t) => ({ asyncExecution: t.task.asyncExecution, conditional: t.conditional, context: t.context })));
    this.sched = { launched: new Array<boolean>(n).fill(false), finished: new Array<boolean>(n).fill(false), deferred: new Array<boolean>(n).fill(false), finishedPrefix: 0, finishedCount: 0, running: 0, stop: {} };
  }

  async run(): Promise<KickoffResult> {
    // The crew's task list as of this kickoff, in the begin's commit: `runs` counts against it, `show` follows its order.
    const begin: BeginRun = { runId: this.runId, crew: this.crew.name, inputs: this.inputs, parent: this.options.parent ?? null, planned: plannedData(this.tasks) };
    // A run of this crew that exists is begun with the kickoff's first commit (see `commitPending`); any other now, for its refusal to come first.
    const existing = await this.store.getRun(this.runId);
    if (existing?.status === "failed" && this.options.resumeFailed === false) throw this.alreadyFailed(existing.error);
    const resumes = existing !== undefined && existing.kind === "crew" && (existing.crew === this.crew.name || existing.crew === "");
    const run = resumes ? existing : await this.store.beginRun(begin);
    if (resumes) this.pendingBegin = begin;
    else this.begun = Promise.resolve();
    const attempt = resumes ? run.attempts + 1 : run.attempts;
    this.log.info({ attempt, store: this.store.location }, "run started");
    this.observer.onRunStart!({ runId: this.runId, crew: this.crew.name, store: this.store.location, tasks: this.names, attempt });
    const stored = new Map(run.tasks.map((t) => [t.name, t]));
    this.stored = stored;
    const prices = { ...DEFAULT_PRICES, ...(this.options.prices ?? {}) };
    this.ledger = { prices };
    if (this.options.budget) {
      const spent = await spentSoFar(this.store, this.runId, [...stored.keys()], await this.loadEvents());
      this.ledger = { prices, budget: new BudgetGuard(this.options.budget, this.runId, spent) };
    }
    const names = new Set(this.tasks.map((t) => t.name));
    const orphaned = run.tasks.map((t) => t.name).filter((name) => !names.has(name));
    if (orphaned.length > 0) this.log.info({ orphaned }, "stored tasks that the crew no longer has are kept but not used");

    const stop = await this.schedule(stored);
    if (stop.error !== undefined) {
      // A callback on a reused result, or an output file, failed after every commit: the run says so.
      const error = stop.error;
      const after = isCrewstateError(error, "HOOK_FAILED") || isCrewstateError(error, "OUTPUT_FILE_FAILED");
      if (after && !this.failedRun) {
        const failed = error as CrewstateError;
        await this.endRun({ status: "failed", error: failed.message, event: { type: "run_failed", task: failed.context.task ?? null, data: { error: failed.message } } });
      } else {
        await this.commitPending();
      }
      this.observer.onRunEnd!({ runId: this.runId, status: "failed", error: messageOf(error) });
      throw stop.error;
    }
    const awaiting = stop.awaiting ?? null;
    if (awaiting !== null) {
      await this.endRun({ status: "paused", error: null, event: { type: "run_paused", task: awaiting, data: { reason: "awaiting approval" } } });
      this.log.info({ task: awaiting }, "run paused for human review");
    } else {
      if (!this.runEnded) await this.endRun(this.completion(this.calls));
      this.log.info({ calls: this.calls }, "run completed");
    }
    this.observer.onRunEnd!({ runId: this.runId, status: awaiting === null ? "completed" : "paused" });
    const results = this.results.filter((r): r is TaskResult => r !== undefined);
    const last = results[results.length - 1]!;
    const byName = new Map(results.map((r) => [r.name, r]));
    return {
      runId: this.runId,
      crew: this.crew.name,
      status: awaiting === null ? "completed" : "paused",
      awaiting,
      store: this.store.location,
      tasks: results,
      output: last.output,
      outputs: Object.fromEntries(results.map((r) => [r.name, r.output])),
      usage: this.usage,
      saved: this.saved,
      calls: this.calls,
      orphaned,
      isDemoModel: this.tasks.some((t) => t.agent.model.isDemo || (t.coworkers ?? []).some((c) => c.model.isDemo)),
      get: <T>(task: Task<T>) => byName.get(task.name) as TaskResult<T> | undefined,
    };
  }

  /**
   * Works the crew's tasks in crew order, each once it is ready (see `scheduleOf`), at most
   * `maxConcurrency` at once. A failure or a pause for review stops new starts; the tasks
   * already under way finish and commit before the kickoff returns.
   */
  private schedule(stored: Map<string, TaskRecord>): Promise<{ error?: unknown; awaiting?: string }> {
    const n = this.tasks.length;
    const slots = this.slots;
    const { finished, launched, deferred, stop } = this.sched;
    let next = 0;
    const stopped = () => stop.error !== undefined || stop.awaiting !== undefined;

    return new Promise((resolve) => {
      const pump = () => {
        while (next < n && launched[next]) next++;
        const ready: number[] = [];
        for (let i = next; i < n; i++) {
          if (launched[i]) continue;
          if (isReady(slots[i]!, finished, this.sched.finishedPrefix)) ready.push(i);
          // Every task after an unstarted sync task waits for it.
          else if (!this.tasks[i]!.task.asyncExecution) break;
        }
        // A task another worker holds goes after the free ones, and is then waited for.
        const order = [...ready.filter((i) => !deferred[i]), ...ready.filter((i) => deferred[i])];
        for (const i of order) {
          if (stopped() || this.sched.running >= this.crew.maxConcurrency) break;
          launch(i);
        }
        if (this.sched.running === 0) resolve(stop);
      };
      const launch = (i: number) => {
        launched[i] = true;
        this.sched.running += 1;
        const task = this.tasks[i]!;
        this.runScheduled(task, slots[i]!, stored.get(task.name), !deferred[i])
          .then(async (result) => {
            if ("held" in result) {
              this.log.info({ task: task.name, holder: result.held.worker }, "task held by another worker; working on the others first");
              launched[i] = false;
              deferred[i] = true;
              next = Math.min(next, i);
              stored.set(task.name, result.held);
              return;
            }
            this.results[i] = result;
            this.outputHashes[i] = result.outputHash;
            finished[i] = true;
            this.sched.finishedCount += 1;
            while (this.sched.finishedPrefix < n && finished[this.sched.finishedPrefix]) {
              const k = this.sched.finishedPrefix;
              this.prefixDigests.push(foldUpstream(this.prefixDigests[k]!, this.tasks[k]!.name, this.outputHashes[k]!));
              this.sched.finishedPrefix += 1;
            }
            if (task.task.humanReview && result.outcome !== "skipped" && !isApproved(await this.loadEvents(), task.name, result.outputHash)) {
              stop.awaiting ??= task.name;
            }
          })
          .catch((error: unknown) => {
            stop.error ??= error;
          })
          .finally(() => {
            this.sched.running -= 1;
            pump();
          });
      };
      pump();
    });
  }

  /** With `mayDefer`, a task another worker holds is handed back (`{ held }`) instead of waited for. */
  private async runScheduled(task: PreparedTask, slot: Slot, stored: TaskRecord | undefined, mayDefer: boolean): Promise<TaskResult | Held> {
    const upstream = upstreamDigest(slot, this.names, this.outputHashes, this.prefixDigests);
    const parts: HashParts = { ...task.parts, upstream: upstream! };
    const previous = slot.previous === null ? undefined : this.results[slot.previous];
    try {
      const result = await this.runTask(task, parts, stored, slot, previous, mayDefer);
      // Handed back: the task is worked later, and ends then.
      if ("held" in result) return result;
      if (result.outcome !== "skipped") {
        if (task.outputFile !== null) await writeOutputFile(task.outputFile, result.output, task.name, this.runId);
        if (result.outcome === "reused" && this.crew.callbackOnReuse) await this.callBack(task, result);
      }
      this.observer.onTaskEnd!({ runId: this.runId, task: task.name, outcome: result.outcome });
      return result;
    } catch (error) {
      this.observer.onTaskEnd!({ runId: this.runId, task: task.name, outcome: "failed", error: messageOf(error) });
      throw error;
    }
  }

  /** Decides what to do with a task from its record, and does it; decides again if the record moved on meanwhile. */
  private async runTask(
    task: PreparedTask,
    parts: HashParts,
    stored: TaskRecord | undefined,
    slot: Slot,
    previous: TaskResult | undefined,
    mayDefer: boolean,
  ): Promise<TaskResult | Held> {
    const inputHash = inputHashOf(parts, this.store.hasher);
    const log = this.log.child({ task: task.name });
    for (;;) {
      const decision = await this.decideFrom(task.name, stored, inputHash, parts);
      const skipped = stored?.status === "skipped";
      const detail = describeDecision(decision, skipped);
      if (decision.action === "reuse") {
        const record = { ...stored!, inputHash };
        // Committed with the kickoff's next write, fenced by the token it was read with: a worker that claimed the task since wins.
        this.reused.push({ record, fencingToken: stored!.fencingToken });
        if (decision.adopted) this.adopted.push(task.name);
        log.info({ adopted: decision.adopted, skipped }, "task reused");
        this.progress(task, "reused", detail);
        return this.resultOf(task, record, skipped ? "skipped" : "reused", detail);
      }
      if (decision.reason === "stale") {
        log.info({ changed: decision.changed }, "task stale");
      }
      const outcome =
        task.conditional && !(await this.conditionHolds(task, previous!))
          ? await this.skip(task, inputHash, stored, decision, slot, mayDefer)
          : await this.execute(task, parts, inputHash, stored, decision, detail, slot, mayDefer);
      if (!("changed" in outcome)) return outcome;
      log.info("the task's record changed since it was read; deciding again");
      if (outcome.changed?.status === "failed" && stored?.status !== "failed" && this.options.resumeFailed === false) {
        // Another worker failed the task (and so the run) meanwhile: the run stays failed.
        const error = `task ${quote(task.name)}: ${outcome.changed.error ?? "failed"}`;
        await this.endRun({ status: "failed", error, event: { type: "run_failed", task: task.name, data: { error: outcome.changed.error } } });
        this.failedRun = true;
        throw this.alreadyFailed(error);
      }
      stored = outcome.changed;
    }
  }

  /** Asks a conditional task's condition, with the previous task's output. */
  private async conditionHolds(task: PreparedTask, previous: TaskResult): Promise<boolean> {
    const condition = (task.task as ConditionalTask).condition;
    let verdict: unknown;
    try {
      verdict = await condition(taskOutputOf(previous));
    } catch (error) {
      throw await this.hookFailed(task, `the condition of task ${quote(task.name)} threw: ${messageOf(error)}`, error);
    }
    if (typeof verdict !== "boolean") {
      throw await this.hookFailed(task, `the condition of task ${quote(task.name)} returned ${typeof verdict}, not true or false`);
    }
    return verdict;
  }

  /** Commits a conditional task's "no": the task is `skipped`, reused as such while its inputs stay the same. */
  private async skip(
    task: PreparedTask,
    inputHash: string,
    stored: TaskRecord | undefined,
    decision: Extract<Decision, { action: "run" }>,
    slot: Slot,
    mayDefer: boolean,
  ): Promise<TaskResult | Held | { changed: TaskRecord | undefined }> {
    const log = this.log.child({ task: task.name });
    await this.commitPending();
    const lease = await TaskLease.acquire(this.store, this.runId, task.name, this.worker, this.leaseTtlMs, this.log, { seenToken: stored?.fencingToken ?? 0, wait: !mayDefer });
    if (!(lease instanceof TaskLease)) return lease;
    try {
      const moved = await this.movedSince(stored);
      if (moved) return moved;
      const now = new Date().toISOString();
      const record: TaskRecord = {
        ...(stored ?? newTaskRecord(task.name)),
        ...lease.recordFields(false),
        status: "skipped",
        inputHash,
        output: "",
        structured: null,
        outputHash: SKIPPED_OUTPUT_HASH,
        startedAt: now,
        completedAt: now,
        error: null,
        usage: null,
        model: null,
      };
      const previous = this.tasks[slot.previous!]!.name;
      // A result this decision replaces leaves its journal behind, and its cost on the ledger.
      const old = stored === undefined ? [] : await this.store.calls(this.runId, task.name);
      if (old.length > 0) await this.store.clearCalls(this.runId, task.name);
      const discarded: { [key: string]: JsonValue } = old.length > 0 ? { discardedUsage: usageToJson(usageOfCalls(old)) } : {};
      await this.commitTask(record, { type: "task_skipped", data: { reason: decision.reason, changed: decision.changed, previous, ...discarded } }, lease);
      lease.ended();
      crashPoint("committed");
      const detail = `skipped: its condition said no to the output of ${previous}`;
      log.info({ previous }, "task skipped");
      this.progress(task, "skipped", detail);
      return this.resultOf(task, record, "skipped", detail);
    } finally {
      await lease.stop();
    }
  }

  private async execute(
    task: PreparedTask,
    parts: HashParts,
    inputHash: string,
    stored: TaskRecord | undefined,
    decision: Extract<Decision, { action: "run" }>,
    detail: string,
    slot: Slot,
    mayDefer: boolean,
  ): Promise<TaskResult | Held | { changed: TaskRecord | undefined }> {
    const log = this.log.child({ task: task.name });
    const preclaim = this.takePreclaim(task.index, inputHash);
    const plan = preclaim?.plan ?? this.planStart(task, inputHash, stored, decision);
    const { resumeJournal, discardsJournal, deadLetter, start, started } = plan;
    let record = plan.record;
    let lease: TaskLease | Held | { changed: TaskRecord | undefined };
    if (preclaim) {
      lease = TaskLease.adopt(this.store, preclaim.lease, this.leaseTtlMs, this.log);
    } else {
      await this.commitPending();
      lease = await TaskLease.acquire(this.store, this.runId, task.name, this.worker, this.leaseTtlMs, this.log, {
        seenToken: stored?.fencingToken ?? 0,
        start,
        wait: !mayDefer,
      });
      if (!(lease instanceof TaskLease)) return lease;
    }
    crashPoint("claimed");
    try {
      const moved = await this.movedSince(stored);
      if (moved) return moved;
      if (deadLetter) {
        const message = `task was started ${stored!.attempts} times and never finished (its worker died each time); it is dead-lettered`;
        return await this.fail(task, { ...stored!, ...lease.recordFields(false), status: "failed", error: message }, lease, message, stored!.attempts, {
          deadLetter: true,
        });
      }
      const previous = stored === undefined ? [] : await this.store.calls(this.runId, task.name);
      record = { ...record, ...lease.recordFields(true) };
      if (discardsJournal) {
        if (previous.length > 0) await this.store.clearCalls(this.runId, task.name);
        const discarded = previous.length > 0 ? started({ discardedUsage: usageToJson(usageOfCalls(previous)) }) : started();
        await this.commitTask(record, discarded, lease);
      } else if (start === undefined) {
        await this.commitTask(record, started(), lease);
      }
      const cassette = this.options.replayFrom === undefined ? undefined : await this.store.calls(this.options.replayFrom, task.name);
      const journal = new TaskJournal(this.store, this.runId, task.name, resumeJournal ? previous : [], cassette, {
        ...this.ledger,
        fence: lease.signal,
        fencingToken: lease.token,
        observer: this.observer,
      });
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, lease.signal]) : lease.signal;

      // What the last attempt's forgotten answers cost, for the next attempt's event to carry.
      let discarded: { [key: string]: JsonValue } = {};
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) {
          record = { ...record, ...lease.recordFields(true), attempts: record.attempts + 1 };
          const data = { attempt: record.attempts, reason: decision.reason, changed: decision.changed, worker: this.worker, previousError: record.error, ...discarded };
          await this.commitTask(record, { type: "task_retry", data }, lease, journal);
        }
        log.info({ attempt: record.attempts, reason: decision.reason }, "task started");
        this.observer.onTaskStart!({ runId: this.runId, task: task.name, agent: task.agent.role, model: task.agent.model.id, attempt: record.attempts, fencingToken: lease.token, description: task.description });
        this.progress(task, "running", attempt === 1 ? detail : `attempt ${attempt}`);
        try {
          const answer = await runAgentLoop(task, this.contextText(slot), journal, signal, {
            guardrail: task.task.guardrail,
            guardrailMaxRetries: task.task.guardrailMaxRetries,
            onStep: this.crew.stepCallback,
            stream: this.streams,
          });
          // Callbacks see the answer before it is committed: one that throws fails the task, and its
          // journaled answers let a resume call it again without paying for them twice.
          await this.callBack(task, { name: task.name, output: answer.output, structured: answer.structured, agent: task.agent.role });
          record = {
            ...record,
            ...lease.recordFields(false),
            status: "completed",
            output: answer.output,
            structured: answer.structured,
            outputHash: outputHashOf(answer.output, answer.structured),
            completedAt: new Date().toISOString(),
            error: null,
            // Everything the task's journal paid for, in this kickoff or before a crash.
            usage: journal.usage(),
          };
          const outputChanged = stored?.outputHash != null && stored.outputHash !== record.outputHash;
          const chain = await this.chainAfter(task, record.outputHash!, journal);
          const granted = await this.commitTask(
            record,
            {
              type: "task_completed",
              data: {
                parts: parts as unknown as JsonValue,
                calls: journal.stats.called,
                replayed: journal.stats.replayed,
                usage: usageToJson(journal.stats.usage),
                savedUsage: usageToJson(journal.stats.savedUsage),
                outputChanged,
              },
            },
            lease,
            journal,
            chain,
          );
          lease.ended();
          crashPoint("committed");
          if (chain.endRun) this.runEnded = true;
          if (granted && chain.next) {
            this.preclaimed.set(chain.next.index, { inputHash: chain.next.inputHash, plan: chain.next.plan, lease: granted });
            crashPoint("chained");
          }
          this.collect(journal);
          log.info({ calls: journal.stats.called, replayed: journal.stats.replayed }, "task completed");
          this.progress(task, "done", `${journal.stats.called} model/tool call(s), ${journal.stats.replayed} replayed`);
          return this.resultOf(task, record, stored?.status === "completed" || stored?.status === "skipped" ? "rerun" : "ran", detail);
        } catch (error) {
          const lost = lease.lost ?? (isCrewstateError(error, "FENCED_OUT") ? error : undefined);
          if (lost !== undefined) throw this.fencedOut(task, lost);
          const message = failureMessage(error);
          // Answers that never made a valid output are not replayed: the model is asked afresh, and
          // what they cost stays on the ledger through the event of the next commit.
          const ledNowhere = isCrewstateError(error, "OUTPUT_INVALID") || isCrewstateError(error, "GUARDRAIL_REFUSED");
          discarded = ledNowhere ? { discardedUsage: usageToJson(await journal.forget()) } : {};
          if (attempt > task.task.retries || !isRetryable(error) || this.options.signal?.aborted) {
            this.collect(journal);
            log.error({ err: error, attempt: record.attempts }, "task failed");
            const failed = { ...record, ...lease.recordFields(false), status: "failed" as const, error: message };
            return await this.fail(task, failed, lease, message, attempt, discarded, error, journal);
          }
          record = { ...record, error: message };
          const wait = backoffDelay(attempt, this.options.retryDelayMs ?? 500);
          log.warn({ err: error, attempt: record.attempts, waitMs: wait }, "task attempt failed; retrying");
          this.progress(task, "retrying", `${message} (retrying in ${wait} ms)`);
          await sleep(wait);
        }
      }
    } finally {
      await lease.stop();
    }
  }

  /** The refusal of a worker's kickoff of a run that failed (see `resumeFailed`). */
  private alreadyFailed(error: string | null): CrewstateError {
    return new CrewstateError(
      "TASK_FAILED",
      `run ${quote(this.runId)} has failed (${error ?? "no error recorded"}); a worker does not resume it — resume it with crewstate run --run-id ${quote(this.runId)}`,
      { runId: this.runId, store: this.store.location },
    );
  }

  /** Records a task's failure and the run's, then throws TASK_FAILED. */
  private async fail(
    task: PreparedTask,
    record: TaskRecord,
    lease: TaskLease,
    message: string,
    attempts: number,
    data: { [key: string]: JsonValue },
    cause?: unknown,
    journal?: TaskJournal,
  ): Promise<never> {
    // The run fails in the task's commit when nothing else is under way, else once the others are done.
    const endRun: RunEnd = { status: "failed", error: `task ${quote(task.name)}: ${message}`, event: { type: "run_failed", task: task.name, data: { error: message } } };
    const alone = this.sched.running === 1;
    await this.commitTask(record, { type: "task_failed", data: { attempt: record.attempts, error: message, ...data } }, lease, journal, alone ? { endRun } : {});
    lease.ended();
    if (!alone) await this.store.setRunStatus(this.runId, endRun.status, endRun.error, endRun.event);
    this.failedRun = true;
    this.progress(task, "failed", message);
    throw new CrewstateError(
      "TASK_FAILED",
      `task ${quote(task.name)} of run ${quote(this.runId)} failed after ${attempts} attempt(s): ${message}; ` +
        (isCrewstateError(cause, "REPLAY_MISS")
          ? `run ${JSON.stringify(this.options.replayFrom)} recorded no answer to replay — replay from a run that made this call, or run without --replay-from to call the model`
          : "what was done is saved — run again with the same run ID to resume"),
      { runId: this.runId, task: task.name, store: this.store.location },
      { cause },
    );
  }

  /**
   * Commits a task's record and event under its lease, with the answers its journal has not
   * committed yet and, per `chain`, the next task's claim and the run's status. Returns the next
   * task's lease when that claim was granted.
   */
  private async commitTask(record: TaskRecord, event: NewEvent, lease: TaskLease, journal?: TaskJournal, chain: Chain = {}): Promise<Lease | undefined> {
    const granted = await this.store.saveTask(this.runId, record, event, {
      ...lease.commitOptions,
      calls: journal?.uncommitted() ?? [],
      ...(chain.next ? { next: chain.next.claim } : {}),
      ...(chain.endRun ? { endRun: chain.endRun } : {}),
    });
    journal?.committed();
    return granted;
  }

  /** How a task starts from the record read: what its claim writes, and what it does with the old journal. */
  private planStart(task: PreparedTask, inputHash: string, stored: TaskRecord | undefined, decision: Extract<Decision, { action: "run" }>): StartPlan {
    // An interrupted or failed attempt with the same inputs resumes its journal; a stale result starts
    // afresh, and what its discarded journal cost stays on the ledger through the started event.
    const resumeJournal = stored !== undefined && !isResult(stored) && stored.inputHash === inputHash;
    const discardsJournal = stored !== undefined && !resumeJournal;
    const deadLetter = decision.reason === "interrupted" && stored!.attempts >= this.maxAttempts;
    const record: TaskRecord = {
      ...(stored ?? newTaskRecord(task.name)),
      status: "running",
      inputHash,
      startedAt: new Date().toISOString(),
      completedAt: null,
      error: null,
      model: task.agent.model.id,
      attempts: (stored?.attempts ?? 0) + 1,
    };
    const started = (data: { [key: string]: JsonValue } = {}): NewEvent => ({
      type: decision.reason === "stale" ? "task_stale" : "task_started",
      data: { attempt: record.attempts, reason: decision.reason, changed: decision.changed, worker: this.worker, ...data },
    });
    // The claim commits the started record too, unless the old journal must be read and priced
    // first, or the record read was held and must be read again under the claim.
    const start = deadLetter || discardsJournal || wasHeld(stored) ? undefined : { task: record, event: started() };
    return { record, start, started, resumeJournal, discardsJournal, deadLetter };
  }

  /**
   * What rides in the commit of a task's result (see `CommitOptions`): when the task is the last
   * one to finish, the run's end; when the task the crew reaches next becomes ready with it, nothing
   * else runs, and it will run, that task's claim with its started record — one commit per task on a chain.
   */
  private async chainAfter(task: PreparedTask, outputHash: string, journal: TaskJournal): Promise<Chain> {
    const { finished, launched, deferred, stop } = this.sched;
    const i = task.index;
    const n = this.tasks.length;
    // A result a person must approve, or whose file is written after the commit, decides the run's end later.
    if (this.sched.running !== 1 || stop.error !== undefined || stop.awaiting !== undefined || task.task.humanReview || task.outputFile !== null) return {};
    if (this.sched.finishedCount === n - 1) return { endRun: this.completion({ made: this.calls.made + journal.stats.called, replayed: this.calls.replayed + journal.stats.replayed }) };
    // The task the crew reaches next; tasks that run side by side do not follow one another: their claims commit on their own.
    const j = launched.indexOf(false);
    const next = j < 0 ? undefined : this.tasks[j];
    if (next === undefined || deferred[j] || next.conditional || next.task.asyncExecution) return {};
    const slot = this.slots[j]!;
    // As the scheduler will see it once task i has finished: its output hash is final now.
    this.outputHashes[i] = outputHash;
    const extends_ = this.sched.finishedPrefix === i;
    if (extends_) this.prefixDigests.push(foldUpstream(this.prefixDigests[i]!, task.name, outputHash));
    finished[i] = true;
    let upstream: string | null;
    try {
      if (!isReady(slot, finished, this.prefixDigests.length - 1)) return {};
      upstream = upstreamDigest(slot, this.names, this.outputHashes, this.prefixDigests);
    } finally {
      finished[i] = false;
      if (extends_) this.prefixDigests.pop();
    }
    if (upstream === null) return {};
    const parts: HashParts = { ...next.parts, upstream };
    const inputHash = inputHashOf(parts, this.store.hasher);
    const stored = this.stored.get(next.name);
    const decision = await this.decideFrom(next.name, stored, inputHash, parts);
    if (decision.action !== "run") return {};
    const plan = this.planStart(next, inputHash, stored, decision);
    if (plan.start === undefined) return {};
    const claim: NextClaim = { task: next.name, worker: this.worker, ttlMs: this.leaseTtlMs, seenToken: stored?.fencingToken ?? 0, start: plan.start };
    return { next: { index: j, inputHash, plan, claim } };
  }

  /** What to do with a task from its record; a stale result's stored parts are read to say what changed. */
  private async decideFrom(name: string, stored: TaskRecord | undefined, inputHash: string, parts: HashParts): Promise<Decision> {
    const storedParts = isResult(stored) && stored!.inputHash !== inputHash ? await this.storedParts(name) : undefined;
    return decide(stored, inputHash, storedParts, parts);
  }

  /** The claim the commit before made for task `index`, when it was for these inputs; another is released. */
  private takePreclaim(index: number, inputHash: string): Preclaim | undefined {
    const preclaim = this.preclaimed.get(index);
    if (!preclaim) return undefined;
    this.preclaimed.delete(index);
    if (preclaim.inputHash === inputHash) return preclaim;
    void this.store.releaseTask(preclaim.lease).catch(() => undefined);
    return undefined;
  }

  /**
   * Commits what is not committed yet — the run's begin, the reused results, and the run's end
   * when given — in one commit. Called before every other write of the kickoff (a claim, a status).
   */
  private async commitPending(endRun?: RunEnd): Promise<void> {
    const reused = this.reused;
    const event: NewEvent = { type: "tasks_reused", data: { tasks: reused.map((r) => r.record.name), adopted: this.adopted } };
    this.reused = [];
    this.adopted = [];
    const options = endRun ? { endRun } : {};
    if (this.begun === undefined) {
      const begin = this.pendingBegin!;
      this.begun = reused.length > 0 || endRun ? this.store.reuseTasks(this.runId, reused, event, { ...options, begin }) : this.store.beginRun(begin).then(() => undefined);
      return this.begun;
    }
    await this.begun;
    if (reused.length > 0) await this.store.reuseTasks(this.runId, reused, event, options);
    else if (endRun) await this.store.setRunStatus(this.runId, endRun.status, endRun.error, endRun.event);
  }

  /** Sets the run's final status, with the reused results not committed yet. */
  private async endRun(end: RunEnd): Promise<void> {
    await this.commitPending(end);
    this.runEnded = true;
  }

  private completion(calls: { made: number; replayed: number }): RunEnd {
    return { status: "completed", error: null, event: { type: "run_completed", data: { made: calls.made, replayed: calls.replayed } } };
  }

  private fencedOut(task: PreparedTask, cause: unknown): CrewstateError {
    this.progress(task, "failed", "another worker took this task over");
    return new CrewstateError(
      "FENCED_OUT",
      `worker ${this.worker} lost task ${quote(task.name)} of run ${quote(this.runId)} to another worker; its work on the task was discarded`,
      { runId: this.runId, task: task.name, worker: this.worker, store: this.store.location },
      { cause },
    );
  }

  /** The outputs a task sees: its context tasks' (a skipped task has none). */
  private contextText(slot: Slot): string {
    return contextOf(slot)
      .map((i) => this.results[i]!.output)
      .filter((output) => output !== "")
      .join("\n\n");
  }

  /** The task's `callback`, then the crew's `taskCallback`; a throw becomes HOOK_FAILED naming the task. */
  private async callBack(task: PreparedTask, result: Pick<TaskResult, "name" | "output" | "structured" | "agent">): Promise<void> {
    const output = taskOutputOf(result);
    for (const [which, callback] of [["callback", task.task.callback], ["crew's taskCallback", this.crew.taskCallback]] as const) {
      if (!callback) continue;
      try {
        await callback(output);
      } catch (error) {
        throw new CrewstateError("HOOK_FAILED", `the ${which} of task ${quote(task.name)} threw: ${messageOf(error)}`, { runId: this.runId, task: task.name }, { cause: error });
      }
    }
  }

  /** A condition that failed outside any claim: the run is failed, naming the task, and nothing of the task is written. */
  private async hookFailed(task: PreparedTask, message: string, cause?: unknown): Promise<CrewstateError> {
    await this.endRun({ status: "failed", error: message, event: { type: "run_failed", task: task.name, data: { error: message } } });
    this.failedRun = true;
    this.progress(task, "failed", message);
    return new CrewstateError("HOOK_FAILED", message, { runId: this.runId, task: task.name, store: this.store.location }, { cause });
  }

  /** The run's event log, read once and only when a decision needs it. */
  /**
   * A record read while a worker held it may have been committed since by that worker: a commit
   * keeps the token a claim is checked against. Under this kickoff's claim nothing can change it
   * any more, so it is read again; `{ changed }` when it moved on, for the task to be decided again.
   */
  private async movedSince(stored: TaskRecord | undefined): Promise<{ changed: TaskRecord | undefined } | undefined> {
    if (!wasHeld(stored)) return undefined;
    const now = await readTask(this.store, this.runId, stored!.name);
    const same = now !== undefined && now.status === stored!.status && now.attempts === stored!.attempts && now.inputHash === stored!.inputHash && now.completedAt === stored!.completedAt;
    return same ? undefined : { changed: now };
  }

  private async loadEvents(): Promise<RunEvent[]> {
    this.events ??= await this.store.events(this.runId);
    return this.events;
  }

  private async storedParts(name: string): Promise<HashParts | undefined> {
    this.parts ??= partsByTask(await this.loadEvents());
    return this.parts.get(name);
  }

  private collect(journal: TaskJournal): void {
    this.calls.made += journal.stats.called;
    this.calls.replayed += journal.stats.replayed;
    addUsage(this.usage, journal.stats.usage);
    addUsage(this.saved, journal.stats.savedUsage);
  }

  private resultOf(task: PreparedTask, record: TaskRecord, outcome: TaskOutcome, reason: string): TaskResult {
    return {
      name: record.name,
      outcome,
      reason,
      output: record.output ?? "",
      structured: record.structured,
      agent: task.agent.role,
      outputHash: storedOutputHash(record),
      usage: record.usage,
      model: record.model,
    };
  }

  private progress(task: PreparedTask, state: ProgressEvent["state"], detail: string): void {
    this.observer.onProgress!({
      runId: this.runId,
      task: task.name,
      index: task.index + 1,
      total: this.tasks.length,
      state,
      detail,
      isDemoModel: task.agent.model.isDemo,
      store: this.store.location,
    });
  }
}

/** Whether a task record was read while a worker held its lease (expired or not). */
function wasHeld(record: TaskRecord | undefined): boolean {
  return record !== undefined && record.leaseExpiresAt !== null;
}

/** A task another worker was found holding, handed back to the scheduler to try again later. */
type Held = { held: TaskRecord };

interface Schedule {
  launched: boolean[];
  finished: boolean[];
  /** Tasks handed back because another worker held them: worked after the free ones. */
  deferred: boolean[];
  /** How many tasks from the start of the crew have all finished. */
  finishedPrefix: number;
  finishedCount: number;
  running: number;
  stop: { error?: unknown; awaiting?: string };
}

/** How a task starts (see `planStart`). */
interface StartPlan {
  record: TaskRecord;
  /** The started record and event the claim writes; undefined when they are written after it. */
  start: TaskStart | undefined;
  started: (data?: { [key: string]: JsonValue }) => NewEvent;
  resumeJournal: boolean;
  discardsJournal: boolean;
  deadLetter: boolean;
}

/** What rides in a result's commit (see `chainAfter`). */
interface Chain {
  next?: { index: number; inputHash: string; plan: StartPlan; claim: NextClaim };
  endRun?: RunEnd;
}

/** A task's claim, granted in the commit of the task before it. */
interface Preclaim {
  inputHash: string;
  plan: StartPlan;
  lease: Lease;
}

function taskOutputOf(result: Pick<TaskResult, "name" | "output" | "structured" | "agent">): TaskOutput {
  return { name: result.name, raw: result.output, structured: result.structured, agent: result.agent };
}

/** `<crew>-<yyyymmddThhmmss>-<4 hex>`, a valid run ID whatever the crew's name. */
export function generateRunId(crewName: string, now = new Date()): string {
  const slug = crewName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "run";
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "");
  return `${slug}-${stamp}-${randomBytes(2).toString("hex")}`;
}
