import { CrewstateError, quote } from "../errors.js";
import { redactUrl } from "../redact.js";
import { sealerFrom } from "../stores/seal.js";
import type { Inputs } from "../stores/store.js";
import { sealedQueue } from "./sealed-queue.js";

/**
 * The queue that hands runs to workers: pg-boss on PostgreSQL, BullMQ on Redis — existing queue
 * engines, next to the store they share a server with. A job names a run; the worker that takes
 * it kicks the run off (resuming it if it exists), and task leases in the store keep two workers
 * from ever working one task. Embedded stores (SQLite, JSON) have no queue: several `crewstate
 * run` processes on one machine already share their file safely.
 */
export interface RunJob {
  runId: string;
  inputs: Inputs;
  /** Queued by the worker that has the run, for another to share its parallel tasks while it runs. */
  join?: boolean;
}

export interface WorkOptions {
  /** Jobs worked at once by this process. */
  concurrency: number;
  /** How long a job may go unacknowledged before the queue gives it to another worker (a dead worker's). */
  jobTimeoutMs: number;
}

/** A job a worker has taken and not yet finished (or a dead worker took), and when it was taken. */
export interface ActiveJob {
  job: RunJob;
  takenAt: Date;
}

export interface EnqueueOptions {
  delayMs?: number;
  /** How long a worker may hold the job unacknowledged before it goes to another (pg-boss; default 60 s; BullMQ takes it from the workers' lock instead). */
  timeoutMs?: number;
  /** A job with this key is queued once, however many processes queue it. */
  key?: string;
}

export interface RunQueue {
  /** Queues a run; a run already waiting in the queue is not queued twice. */
  enqueue(job: RunJob, options?: EnqueueOptions): Promise<void>;
  /** The jobs taken by workers and not finished: those of live workers, and a dead worker's until the queue expires them. */
  activeJobs(): Promise<ActiveJob[]>;
  /** Starts taking jobs; `handler` resolving completes a job, throwing fails it (the queue retries). */
  work(options: WorkOptions, handler: (job: RunJob) => Promise<void>): Promise<void>;
  /** Stops taking jobs, waits for those in hand, and disconnects. */
  close(): Promise<void>;
}

/** The queue name of a crew: one queue per crew, so a worker only gets runs of the crew it knows. */
export function queueName(crew: string): string {
  return `crewstate-${crew.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "crew"}`;
}

export async function openQueue(storeUrl: string, crew: string): Promise<RunQueue> {
  // With CREWSTATE_ENCRYPTION_KEY set, jobs carry their inputs sealed.
  const sealer = sealerFrom(undefined);
  const queue = await openBackEndQueue(storeUrl, crew);
  return sealer ? sealedQueue(queue, sealer) : queue;
}

async function openBackEndQueue(storeUrl: string, crew: string): Promise<RunQueue> {
  const scheme = /^([a-z]+):/i.exec(storeUrl)?.[1]?.toLowerCase();
  switch (scheme) {
    case "postgres":
    case "postgresql": {
      const { PgBossQueue } = await import("./pg-boss-queue.js");
      return PgBossQueue.open(storeUrl, queueName(crew));
    }
    case "redis":
    case "rediss": {
      const { BullMqQueue } = await import("./bullmq-queue.js");
      return BullMqQueue.open(storeUrl, queueName(crew));
    }
    default:
      throw new CrewstateError(
        "UNKNOWN_STORE",
        `store ${quote(redactUrl(storeUrl))} has no queue: workers need a postgres:// or redis:// store (on sqlite: or json:, several \`crewstate run\` processes share the file safely)`,
        { store: redactUrl(storeUrl) },
      );
  }
}

/**
 * The IDs of the runs a job still names in a crew's queue — waiting, delayed, being retried or in
 * hand — read without creating anything (a store whose queue was never used has none). Embedded
 * stores have no queue: an empty set. `crewstate prune` never removes such a run.
 */
export async function queuedRunIds(storeUrl: string, crew: string): Promise<Set<string>> {
  const scheme = /^([a-z]+):/i.exec(storeUrl)?.[1]?.toLowerCase();
  switch (scheme) {
    case "postgres":
    case "postgresql": {
      const { PgBossQueue } = await import("./pg-boss-queue.js");
      return PgBossQueue.queuedRunIds(storeUrl, queueName(crew));
    }
    case "redis":
    case "rediss": {
      const { BullMqQueue } = await import("./bullmq-queue.js");
      return BullMqQueue.queuedRunIds(storeUrl, queueName(crew));
    }
    default:
      return new Set();
  }
}
