import { messageOf } from "../errors.js";
import type { Logger } from "../log.js";
import type { ActiveJob, RunQueue } from "../queue/run-queue.js";
import type { Run, Store } from "../stores/store.js";

/**
 * When a run a worker took is orphaned, or null while it is not (it is over, or paused). A run is
 * orphaned once a lease TTL has passed with no sign of life: its job taken, the run updated, a
 * task started or finished, and every task lease run out. A live worker gives a sign at least
 * every third of the TTL while it works a task (the lease renewal), and between tasks it starts
 * the next within moments of finishing the last.
 */
export function orphanedAt(run: Run | undefined, takenAt: Date[], ttlMs: number): number | null {
  if (run !== undefined && run.status !== "running") return null;
  const lastSign = Math.max(...takenAt.map((at) => at.getTime()), run ? Date.parse(run.updatedAt) : 0);
  let at = lastSign + ttlMs;
  for (const task of run?.tasks ?? []) {
    for (const sign of [task.startedAt, task.completedAt]) if (sign !== null) at = Math.max(at, Date.parse(sign) + ttlMs);
    if (task.leaseExpiresAt !== null) at = Math.max(at, Date.parse(task.leaseExpiresAt));
  }
  return at;
}

export interface OrphanSweep {
  stop(): Promise<void>;
}

/**
 * Every live worker looks, every half TTL or every second (whichever is sooner), at the runs whose
 * jobs are in the queue's hands, and queues again each orphaned run — its worker died — so that
 * recovery takes about the lease TTL, not the queue's job expiry. The job is keyed by the run and
 * the moment it became orphaned, so the sweepers that see the same orphan queue it once; should two
 * workers still pick a run up, task leases and fencing tokens keep them from working one task
 * twice.
 */
export function startOrphanSweep(queue: RunQueue, store: Store, ttlMs: number, log: Logger): OrphanSweep {
  const adopt = async (runId: string, jobs: ActiveJob[]) => {
    const run = await store.getRun(runId);
    const at = orphanedAt(run, jobs.map((j) => j.takenAt), ttlMs);
    if (at === null || at > Date.now()) return;
    await queue.enqueue({ runId, inputs: run?.inputs ?? jobs[0]!.job.inputs }, { key: `orphaned-${at}` });
    log.warn({ runId, since: new Date(at).toISOString() }, "run orphaned by a worker that is gone; queued it again");
  };
  const sweep = async () => {
    const active = await queue.activeJobs().catch((error: unknown) => log.warn({ err: error }, `orphan sweep cannot list the queue's jobs: ${messageOf(error)}`));
    for (const [runId, jobs] of byRun(active ?? [])) {
      await adopt(runId, jobs).catch((error: unknown) => log.warn({ runId, err: error }, `orphan sweep cannot look at the run: ${messageOf(error)}`));
    }
  };
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= sweep().finally(() => (sweeping = undefined));
  }, Math.min(1_000, Math.max(100, Math.floor(ttlMs / 2))));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}

function byRun(active: ActiveJob[]): Map<string, ActiveJob[]> {
  const runs = new Map<string, ActiveJob[]>();
  for (const job of active) runs.set(job.job.runId, [...(runs.get(job.job.runId) ?? []), job]);
  return runs;
}
