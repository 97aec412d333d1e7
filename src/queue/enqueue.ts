import { storeUrlFrom } from "../stores/open.js";
import { openQueue, type RunJob } from "./run-queue.js";

/** What a queue is named after and where it lives: a crew or a flow. */
interface Queued {
  name: string;
  store?: unknown;
}

/**
 * Puts a run of the crew on its queue; a worker of the crew will kick it off. `jobTimeoutMs` is
 * how long a worker may hold it unacknowledged before the queue gives it to another (default 60 s).
 */
export async function enqueueRun(crew: Queued, job: RunJob, storeUrl?: string, options: { jobTimeoutMs?: number } = {}): Promise<void> {
  const queue = await openQueue(queueStoreUrl(crew, storeUrl), crew.name);
  try {
    await queue.enqueue(job, { timeoutMs: options.jobTimeoutMs });
  } finally {
    await queue.close();
  }
}

/** The store URL whose server carries a crew's queue: the one given, the crew's own, or the default. */
export function queueStoreUrl(crew: Queued, given: string | undefined): string {
  return given ?? (typeof crew.store === "string" ? crew.store : undefined) ?? storeUrlFrom();
}
