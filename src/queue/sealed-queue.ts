import type { Sealer } from "../stores/seal.js";
import type { Inputs } from "../stores/store.js";
import type { ActiveJob, EnqueueOptions, RunJob, RunQueue, WorkOptions } from "./run-queue.js";

/**
 * A queue whose jobs carry their run's inputs sealed (encryption at rest, see
 * docs/encryption.md): pg-boss's and BullMQ's own tables and keys hold no input in the clear.
 * The inputs are bound to the run ID, like the run's own.
 */
export function sealedQueue(queue: RunQueue, sealer: Sealer): RunQueue {
  const binding = (runId: string) => ({ runId, task: "", field: "queued inputs" });
  const open = (job: RunJob): RunJob => ({ ...job, inputs: sealer.openObject(job.inputs, binding(job.runId)) as Inputs });
  return {
    enqueue: (job: RunJob, options?: EnqueueOptions) => queue.enqueue({ ...job, inputs: sealer.sealObject(job.inputs, binding(job.runId)) }, options),
    activeJobs: async (): Promise<ActiveJob[]> => (await queue.activeJobs()).map((active) => ({ ...active, job: open(active.job) })),
    work: (options: WorkOptions, handler: (job: RunJob) => Promise<void>) => queue.work(options, (job) => handler(open(job))),
    close: () => queue.close(),
  };
}
