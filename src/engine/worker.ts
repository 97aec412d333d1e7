import { isCrewstateError, messageOf, quote, type CrewstateError } from "../errors.js";
import { defaultLogger, type Logger } from "../log.js";
import type { Crew } from "../model/crew.js";
import { isFlow, type Flow } from "../flow/flow.js";
import { runFlow } from "../flow/run-flow.js";
import { openQueue, type RunJob } from "../queue/run-queue.js";
import { queueStoreUrl } from "../queue/enqueue.js";
import { openStore } from "../stores/open.js";
import { kickoff } from "./kickoff.js";
import type { RunObserver, RunStartEvent } from "./observer.js";
import { widestRow } from "./schedule.js";
import { startOrphanSweep } from "./orphan-sweep.js";
import { DEFAULT_LEASE_TTL_MS } from "./task-lease.js";

export interface WorkerOptions {
  /** A postgres:// or redis:// store URL; its server also carries the queue. */
  store?: string;
  /** Runs worked at once. Default 1. */
  concurrency?: number;
  /** Lease TTL of each claimed task. Default 30 s. */
  leaseTtlMs?: number;
  /**
   * How long the queue waits for a dead worker's job before handing it out again. Default 2 × the
   * lease TTL. Live workers adopt a dead worker's run sooner: about a lease TTL after it died.
   */
  jobTimeoutMs?: number;
  /** Starts after which a task whose worker keeps dying is dead-lettered. Default 5. */
  maxAttempts?: number;
  logger?: Logger;
  /** Called as each job ends. */
  onRun?: (event: RunOutcome) => void;
  /** Watch the runs this worker works, as `kickoff({ observers })` does. */
  observers?: RunObserver[];
}

export interface RunOutcome {
  runId: string;
  /** `joined`: a join found the run over before it started. */
  outcome: "completed" | "paused" | "failed" | "deferred" | "fenced" | "joined";
  detail?: string;
}

export interface RunningWorker {
  /** Stops taking runs, lets the runs in hand finish, and disconnects. */
  stop(): Promise<void>;
}

/** What a worker works and a queue carries runs of: a crew, or a flow. */
export type Workable = Crew | Flow<any>;

/** Failures that are the run's own (a task or step that failed, a bad state): retrying the job would fail the same way. */
const RUN_FAILURES = ["TASK_FAILED", "STEP_FAILED", "STATE_INVALID", "FLOW_LOOP"] as const;

function isRunFailure(error: unknown): error is CrewstateError {
  return RUN_FAILURES.some((code) => isCrewstateError(error, code));
}

/**
 * Takes runs of one crew (or flow) from the queue and kicks each off (resuming it when it exists).
 * A run whose task another live worker holds is put back for later; a run that failed stays failed
 * in the store; anything else that goes wrong fails the job, and the queue retries it.
 */
export async function startWorker(crew: Workable, options: WorkerOptions = {}): Promise<RunningWorker> {
  const url = queueStoreUrl(crew, options.store);
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const log = options.logger ?? defaultLogger();
  const store = await openStore(url);
  const queue = await openQueue(url, crew.name).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const report = (event: RunOutcome) => {
    log.info(event, "run job done");
    options.onRun?.(event);
  };

  // A run's parallel tasks are shared: the worker that has a run queues one join per extra task
  // that can run at once, and the workers that take them work the tasks no one holds yet.
  const joins = isFlow(crew) ? 0 : Math.min(widestRow(crew.tasks.map((t) => t.asyncExecution)), crew.maxConcurrency) - 1;
  const queueJoins = (job: RunJob) => (event: RunStartEvent) => {
    for (let k = 1; k <= joins; k++) {
      queue.enqueue({ ...job, join: true }, { key: `join-${event.attempt}-${k}` }).catch((error: unknown) => log.warn({ runId: job.runId, err: messageOf(error) }, "could not queue a join of the run"));
    }
  };

  const handle = async (job: RunJob): Promise<void> => {
    const run = await store.getRun(job.runId);
    if (job.join && run?.status !== "running") return report({ runId: job.runId, outcome: "joined", detail: `the run is ${run?.status ?? "gone"}; nothing left to share` });
    // A second delivery of a failed run's job (the queue's retry, a sweep) must not start its
    // dead-lettered or failed task again: resuming a failed run is the operator's call.
    if (run?.status === "failed") {
      return report({ runId: job.runId, outcome: "failed", detail: `the run had already failed (${run.error}); resume it with crewstate run --run-id ${quote(job.runId)}` });
    }
    try {
      const observers = [...(options.observers ?? []), ...(job.join || joins === 0 ? [] : [{ onRunStart: queueJoins(job) }])];
      const result = isFlow(crew)
        ? await runFlow(crew, { runId: job.runId, inputs: Object.keys(job.inputs).length > 0 ? job.inputs : undefined, store, leaseTtlMs, logger: log, observers })
        : await kickoff(crew, { runId: job.runId, inputs: job.inputs, store, leaseTtlMs, maxAttempts: options.maxAttempts, logger: log, observers, resumeFailed: false });
      report({ runId: job.runId, outcome: result.status });
    } catch (error) {
      if (isRunFailure(error)) {
        report({ runId: job.runId, outcome: "failed", detail: error.message });
      } else if (isCrewstateError(error, "LEASE_HELD")) {
        await queue.enqueue(job, { delayMs: leaseTtlMs });
        report({ runId: job.runId, outcome: "deferred", detail: error.message });
      } else if (isCrewstateError(error, "FENCED_OUT")) {
        report({ runId: job.runId, outcome: "fenced", detail: error.message });
      } else {
        log.warn({ runId: job.runId, err: error }, `run job failed; the queue will retry it: ${messageOf(error)}`);
        throw error;
      }
    }
  };

  await queue.work({ concurrency: options.concurrency ?? 1, jobTimeoutMs: options.jobTimeoutMs ?? 2 * leaseTtlMs }, handle);
  const sweep = startOrphanSweep(queue, store, leaseTtlMs, log);
  return {
    async stop() {
      try {
        await sweep.stop();
        await queue.close();
      } finally {
        await store.close();
      }
    },
  };
}


export { enqueueRun } from "../queue/enqueue.js";
