import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { CrewstateError, isCrewstateError, messageOf } from "../errors.js";
import { defaultLogger, type Logger } from "../log.js";
import type { Crew } from "../model/crew.js";
import { checkRunId } from "../stores/codec.js";
import { openStore, storeUrlFrom } from "../stores/open.js";
import { newTaskRecord, type JsonValue, type NewEvent, type RunEvent, type Store, type TaskRecord, type TokenUsage } from "../stores/store.js";
import { runAgentLoop } from "./agent-loop.js";
import { DEFAULT_PRICES, type PriceTable } from "../llm/prices.js";
import { TaskJournal, type JournalOptions } from "./journal.js";
import { addUsage, BudgetGuard, emptyUsage, spentSoFar, usageOfCalls, usageToJson, type Budget } from "./ledger.js";
import { isApproved } from "./operator.js";
import {
  decide,
  describeDecision,
  EMPTY_DIGEST,
  foldUpstream,
  inputHashOf,
  outputHashOf,
  partsFrom,
  type Decision,
  type HashParts,
} from "./plan.js";
import { prepareTasks, type PreparedTask } from "./prepare.js";
import { backoffDelay, isRetryable } from "./retry.js";
import { DEFAULT_LEASE_TTL_MS, newWorkerId, TaskLease } from "./task-lease.js";
import { crashPoint } from "./crash-points.js";

export interface KickoffOptions {
  /** Values for the `{placeholder}`s of the crew's tasks and agents. */
  inputs?: Record<string, string>;
  /** Resume this run if it exists, else start it under this ID. Default: a new generated ID. */
  runId?: string;
  /** Overrides the crew's store. */
  store?: Store | string;
  /** Overrides every agent's model, e.g. `demo` or `openai:gpt-4o-mini`. */
  model?: string;
  logger?: Logger;
  /** Called as each task is planned, starts, finishes or fails. */
  onProgress?: (event: ProgressEvent) => void;
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
}

export type TaskOutcome = "reused" | "ran" | "rerun";

export interface ProgressEvent {
  runId: string;
  task: string;
  /** 1-based position of the task in the crew. */
  index: number;
  total: number;
  state: "reused" | "running" | "done" | "retrying" | "failed";
  /** Where the run's state lives. */
  store: string;
  /** Why it runs or is reused, in words. */
  detail: string;
  isDemoModel: boolean;
}

export interface TaskResult {
  name: string;
  outcome: TaskOutcome;
  /** Why it ran (new, stale because …) or was reused. */
  reason: string;
  output: string;
  structured: JsonValue | null;
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
      throw new CrewstateError("RUN_NOT_FOUND", `run "${replayFrom}" to replay from not found in ${store.location}`, {
        runId: replayFrom,
        store: store.location,
      });
    }
    return await new Kickoff(crew, prepared, store, runId, inputs, options).run();
  } finally {
    if (typeof storeSpec === "string") await store.close();
  }
}

class Kickoff {
  private readonly log: Logger;
  private readonly results: TaskResult[] = [];
  private readonly usage = emptyUsage();
  private readonly saved = emptyUsage();
  private readonly calls = { made: 0, replayed: 0 };
  private events: RunEvent[] | undefined;
  private readonly worker: string;
  private readonly leaseTtlMs: number;
  private readonly maxAttempts: number;
  private ledger: JournalOptions = {};

  constructor(
    private readonly crew: Crew,
    private readonly tasks: PreparedTask[],
    private readonly store: Store,
    private readonly runId: string,
    private readonly inputs: Record<string, string>,
    private readonly options: KickoffOptions,
  ) {
    this.worker = options.worker ?? newWorkerId();
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.log = (options.logger ?? defaultLogger()).child({ runId, crew: crew.name, worker: this.worker });
  }

  async run(): Promise<KickoffResult> {
    const run = await this.store.beginRun({ runId: this.runId, crew: this.crew.name, inputs: this.inputs });
    this.log.info({ attempt: run.attempts, store: this.store.location }, "run started");
    const stored = new Map(run.tasks.map((t) => [t.name, t]));
    const prices = { ...DEFAULT_PRICES, ...(this.options.prices ?? {}) };
    this.ledger = { prices };
    if (this.options.budget) {
      const spent = await spentSoFar(this.store, this.runId, [...stored.keys()], await this.loadEvents());
      this.ledger = { prices, budget: new BudgetGuard(this.options.budget, this.runId, spent) };
    }
    const names = new Set(this.tasks.map((t) => t.name));
    const orphaned = run.tasks.map((t) => t.name).filter((name) => !names.has(name));
    if (orphaned.length > 0) {
      await this.store.setRunStatus(this.runId, "running", null, { type: "run_planned", data: { tasks: [...names], orphaned } });
      this.log.info({ orphaned }, "stored tasks that the crew no longer has are kept but not used");
    }

    let digest = EMPTY_DIGEST;
    const outputHashes: string[] = [];
    let awaiting: string | null = null;
    for (const task of this.tasks) {
      const upstream = task.context === null ? digest : task.context.reduce((d, i) => foldUpstream(d, this.tasks[i]!.name, outputHashes[i]!), EMPTY_DIGEST);
      const parts: HashParts = { ...task.parts, upstream };
      const result = await this.runTask(task, parts, stored.get(task.name));
      this.results.push(result);
      outputHashes.push(result.outputHash);
      digest = foldUpstream(digest, task.name, result.outputHash);
      if (task.task.humanReview && !isApproved(await this.loadEvents(), task.name, result.outputHash)) {
        awaiting = task.name;
        break;
      }
    }

    if (awaiting !== null) {
      await this.store.setRunStatus(this.runId, "paused", null, { type: "run_paused", task: awaiting, data: { reason: "awaiting approval" } });
      this.log.info({ task: awaiting }, "run paused for human review");
    } else {
      await this.store.setRunStatus(this.runId, "completed", null, {
        type: "run_completed",
        data: { made: this.calls.made, replayed: this.calls.replayed },
      });
      this.log.info({ calls: this.calls }, "run completed");
    }
    const last = this.results[this.results.length - 1]!;
    return {
      runId: this.runId,
      crew: this.crew.name,
      status: awaiting === null ? "completed" : "paused",
      awaiting,
      store: this.store.location,
      tasks: this.results,
      output: last.output,
      outputs: Object.fromEntries(this.results.map((r) => [r.name, r.output])),
      usage: this.usage,
      saved: this.saved,
      calls: this.calls,
      orphaned,
      isDemoModel: this.tasks.some((t) => t.agent.model.isDemo || (t.coworkers ?? []).some((c) => c.model.isDemo)),
    };
  }

  /** Decides what to do with a task from its record, and does it; decides again if the record moved on meanwhile. */
  private async runTask(task: PreparedTask, parts: HashParts, stored: TaskRecord | undefined): Promise<TaskResult> {
    const inputHash = inputHashOf(parts);
    const log = this.log.child({ task: task.name });
    for (;;) {
      const storedParts = stored?.status === "completed" && stored.inputHash !== inputHash ? await this.storedParts(task.name) : undefined;
      const decision = decide(stored, inputHash, storedParts, parts);
      const detail = describeDecision(decision);
      if (decision.action === "reuse") {
        const record = { ...stored!, inputHash };
        // Fenced by the token it was read with: a worker that claimed the task since wins.
        await this.store.saveTask(this.runId, record, { type: "task_reused", data: { adopted: decision.adopted } }, { fencingToken: stored!.fencingToken });
        log.info({ adopted: decision.adopted }, "task reused");
        this.progress(task, "reused", detail);
        return this.resultOf(record, "reused", detail);
      }
      if (decision.reason === "stale") {
        log.info({ changed: decision.changed }, "task stale");
      }
      const outcome = await this.execute(task, parts, inputHash, stored, decision, detail);
      if (!("changed" in outcome)) return outcome;
      log.info("the task's record changed since it was read; deciding again");
      stored = outcome.changed;
    }
  }

  private async execute(
    task: PreparedTask,
    parts: HashParts,
    inputHash: string,
    stored: TaskRecord | undefined,
    decision: Extract<Decision, { action: "run" }>,
    detail: string,
  ): Promise<TaskResult | { changed: TaskRecord | undefined }> {
    const log = this.log.child({ task: task.name });
    // An interrupted or failed attempt with the same inputs resumes its journal; a stale result starts
    // afresh, and what its discarded journal cost stays on the ledger through the started event.
    const resumeJournal = stored !== undefined && stored.status !== "completed" && stored.inputHash === inputHash;
    const discardsJournal = stored !== undefined && !resumeJournal;
    const deadLetter = decision.reason === "interrupted" && stored!.attempts >= this.maxAttempts;
    let record: TaskRecord = {
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
    // The claim commits the started record too, unless the old journal must be read and priced first.
    const start = deadLetter || discardsJournal ? undefined : { task: record, event: started() };
    const lease = await TaskLease.acquire(this.store, this.runId, task.name, this.worker, this.leaseTtlMs, log, {
      seenToken: stored?.fencingToken ?? 0,
      start,
    });
    if (!(lease instanceof TaskLease)) return lease;
    crashPoint("claimed");
    try {
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
      }
      const cassette = this.options.replayFrom === undefined ? undefined : await this.store.calls(this.options.replayFrom, task.name);
      const journal = new TaskJournal(this.store, this.runId, task.name, resumeJournal ? previous : [], cassette, { ...this.ledger, fence: lease.signal, fencingToken: lease.token });
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
        this.progress(task, "running", attempt === 1 ? detail : `attempt ${attempt}`);
        try {
          const answer = await runAgentLoop(task, this.contextText(task), journal, signal);
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
          await this.commitTask(
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
          );
          lease.ended();
          crashPoint("committed");
          this.collect(journal);
          log.info({ calls: journal.stats.called, replayed: journal.stats.replayed }, "task completed");
          this.progress(task, "done", `${journal.stats.called} model/tool call(s), ${journal.stats.replayed} replayed`);
          return this.resultOf(record, stored?.status === "completed" ? "rerun" : "ran", detail);
        } catch (error) {
          const lost = lease.lost ?? (isCrewstateError(error, "FENCED_OUT") ? error : undefined);
          if (lost !== undefined) throw this.fencedOut(task, lost);
          const message = messageOf(error);
          // Answers that never made a valid output are not replayed: the model is asked afresh, and
          // what they cost stays on the ledger through the event of the next commit.
          discarded = isCrewstateError(error, "OUTPUT_INVALID") ? { discardedUsage: usageToJson(await journal.forget()) } : {};
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
    await this.commitTask(record, { type: "task_failed", data: { attempt: record.attempts, error: message, ...data } }, lease, journal);
    lease.ended();
    await this.store.setRunStatus(this.runId, "failed", `task "${task.name}": ${message}`, { type: "run_failed", task: task.name, data: { error: message } });
    this.progress(task, "failed", message);
    throw new CrewstateError(
      "TASK_FAILED",
      `task "${task.name}" of run "${this.runId}" failed after ${attempts} attempt(s): ${message}; what was done is saved — run again with the same run ID to resume`,
      { runId: this.runId, task: task.name, store: this.store.location },
      { cause },
    );
  }

  /** Commits a task's record and event under its lease, with the answers its journal has not committed yet. */
  private async commitTask(record: TaskRecord, event: NewEvent, lease: TaskLease, journal?: TaskJournal): Promise<void> {
    await this.store.saveTask(this.runId, record, event, { ...lease.commitOptions, calls: journal?.uncommitted() ?? [] });
    journal?.committed();
  }

  private fencedOut(task: PreparedTask, cause: unknown): CrewstateError {
    this.progress(task, "failed", "another worker took this task over");
    return new CrewstateError(
      "FENCED_OUT",
      `worker ${this.worker} lost task "${task.name}" of run "${this.runId}" to another worker; its work on the task was discarded`,
      { runId: this.runId, task: task.name, worker: this.worker, store: this.store.location },
      { cause },
    );
  }

  /** The outputs a task sees: its context tasks', or every earlier task's. */
  private contextText(task: PreparedTask): string {
    const indexes = task.context ?? this.results.map((_, i) => i);
    return indexes.map((i) => this.results[i]!.output).join("\n\n");
  }

  /** The run's event log, read once and only when a decision needs it. */
  private async loadEvents(): Promise<RunEvent[]> {
    this.events ??= await this.store.events(this.runId);
    return this.events;
  }

  private async storedParts(name: string): Promise<HashParts | undefined> {
    const events = await this.loadEvents();
    for (let i = events.length - 1; i >= 0; i--) {
      const event = events[i]!;
      if (event.task === name && event.type === "task_completed") return partsFrom(event.data?.parts);
    }
    return undefined;
  }

  private collect(journal: TaskJournal): void {
    this.calls.made += journal.stats.called;
    this.calls.replayed += journal.stats.replayed;
    addUsage(this.usage, journal.stats.usage);
    addUsage(this.saved, journal.stats.savedUsage);
  }

  private resultOf(record: TaskRecord, outcome: TaskOutcome, reason: string): TaskResult {
    return {
      name: record.name,
      outcome,
      reason,
      output: record.output ?? "",
      structured: record.structured,
      outputHash: record.outputHash ?? outputHashOf(record.output ?? "", record.structured),
      usage: record.usage,
      model: record.model,
    };
  }

  private progress(task: PreparedTask, state: ProgressEvent["state"], detail: string): void {
    this.options.onProgress?.({
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

/** `<crew>-<yyyymmddThhmmss>-<4 hex>`, a valid run ID whatever the crew's name. */
export function generateRunId(crewName: string, now = new Date()): string {
  const slug = crewName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "run";
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "");
  return `${slug}-${stamp}-${randomBytes(2).toString("hex")}`;
}
