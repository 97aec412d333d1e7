import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { CrewstateError, isCrewstateError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CommitOptions, Lease, Store, TaskRecord, TaskStart } from "../stores/store.js";

export const DEFAULT_LEASE_TTL_MS = 30_000;

/** A worker ID that says where the worker runs: `<host>:<pid>:<random>`. */
export function newWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

/** True when `worker` names a process on this host that no longer exists. */
export function isDeadLocalWorker(worker: string | null): boolean {
  const match = worker ? /^(.*):(\d+):[0-9a-f]+$/.exec(worker) : null;
  if (!match || match[1] !== os.hostname()) return false;
  try {
    process.kill(Number(match[2]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * A task claimed for this worker: renewed every third of its TTL while the task runs. If a renewal
 * is fenced out — another worker took the task over — `signal` aborts the work, and every commit
 * carrying `commitOptions` is refused by the store, so a paused or cut-off worker never overwrites
 * newer work.
 */
export class TaskLease {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private renewal: Promise<void> = Promise.resolve();
  private endedByCommit = false;

  private constructor(
    private readonly store: Store,
    private current: Lease,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.renew(), Math.max(1, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  /**
   * Claims the task for a worker that decided to run it from the record it read, whose token was
   * `seenToken`. A live holder is waited for once: until it commits or releases the task, or until
   * the lease seen runs out; a holder that renewed past it is still at work, and the claim fails
   * with LEASE_HELD. A holder on this host whose process is gone is taken over at once. With
   * `start`, the claim that is granted also commits the task's started record and event.
   *
   * Returns `{ changed }` — the task's record as it is now — instead of a lease when the record may
   * have moved on since it was read (another worker claimed the task, or a holder was waited for):
   * the caller decides again from it before claiming again. With `wait: false`, a live holder is
   * not waited for: `{ held }` says who holds the task, so the caller can do other work first.
   */
  static async acquire(
    store: Store,
    runId: string,
    task: string,
    worker: string,
    ttlMs: number,
    log: Logger,
    claim: { seenToken: number; start?: TaskStart; wait?: boolean },
  ): Promise<TaskLease | { changed: TaskRecord | undefined } | { held: TaskRecord }> {
    for (;;) {
      const lease = await store.claimTask(runId, task, worker, ttlMs, claim);
      if (lease) return new TaskLease(store, lease, ttlMs, log);
      const holder = await readTask(store, runId, task);
      if ((holder?.fencingToken ?? 0) !== claim.seenToken) return { changed: holder };
      if (holder && isDeadLocalWorker(holder.worker)) {
        const taken = await store.claimTask(runId, task, worker, ttlMs, { ...claim, takeOverFrom: holder.worker! });
        if (taken) {
          log.warn({ task, from: holder.worker }, "took over a task from a worker that is gone");
          return new TaskLease(store, taken, ttlMs, log);
        }
        continue;
      }
      const expiresAt = holder?.leaseExpiresAt ?? null;
      // Released since the claim was refused: the holder may have finished the task.
      if (expiresAt === null) return { changed: holder };
      if (claim.wait === false) return { held: holder! };
      log.info({ task, holder: holder!.worker, until: expiresAt }, "task held by another worker; waiting for it to commit, release, or let its lease run out");
      const after = await waitForHolder(store, runId, task, holder!, expiresAt);
      if (after?.fencingToken === holder!.fencingToken && isDeadLocalWorker(holder!.worker)) continue;
      if (after?.fencingToken === holder!.fencingToken && after.leaseExpiresAt != null && after.leaseExpiresAt > expiresAt) {
        throw new CrewstateError(
          "LEASE_HELD",
          `task "${task}" of run "${runId}" is being worked on by ${after.worker} (its lease was renewed until ${after.leaseExpiresAt}); wait for it to finish, or stop it`,
          { runId, task, worker: after.worker, store: store.location },
        );
      }
      return { changed: after };
    }
  }

  /** Holds a lease granted elsewhere: by the commit of the task before it (see `CommitOptions.next`). */
  static adopt(store: Store, lease: Lease, ttlMs: number, log: Logger): TaskLease {
    return new TaskLease(store, lease, ttlMs, log);
  }

  get token(): number {
    return this.current.token;
  }

  /** Aborted when another worker has taken the task over. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the lease was lost, once it was. */
  get lost(): unknown {
    return this.controller.signal.aborted ? this.controller.signal.reason : undefined;
  }

  get commitOptions(): CommitOptions {
    return { fencingToken: this.current.token };
  }

  /** The lease fields a task record committed under this lease carries. */
  recordFields(holding: boolean): Pick<TaskRecord, "worker" | "fencingToken" | "leaseExpiresAt"> {
    return { worker: this.current.worker, fencingToken: this.current.token, leaseExpiresAt: holding ? this.current.expiresAt : null };
  }

  /** Says that a commit has ended the lease (its record no longer holds one). */
  ended(): void {
    this.endedByCommit = true;
  }

  /**
   * Stops renewing. A lease no commit ended — the task's commit failed — is released, so that a
   * retry need not wait for it to run out; if that fails too, it runs out by itself.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewal;
    if (!this.endedByCommit && this.lost === undefined) await this.store.releaseTask(this.current).catch(() => undefined);
  }

  private renew(): void {
    this.renewal = this.renewal.then(async () => {
      if (this.controller.signal.aborted) return;
      try {
        this.current = await this.store.heartbeat(this.current, this.ttlMs);
      } catch (error) {
        if (isCrewstateError(error, "FENCED_OUT")) {
          this.log.warn({ task: this.current.task, token: this.current.token }, "lease lost to another worker; abandoning the task");
          this.controller.abort(error);
        } else {
          this.log.warn({ err: error, task: this.current.task }, "lease renewal failed; will retry");
        }
      }
    });
  }
}

/** How often a waiter looks at the task a live holder has: soon at first, then every quarter second. */
const FIRST_LOOK_MS = 25;
const MAX_LOOK_MS = 250;

/**
 * Waits until the holder's claim ends — a commit or release (the record's lease is gone), another
 * claim (its token moved on), its process died (on this host) — or until `expiresAt`, the end of
 * the lease first seen, has passed. Returns the task's record as it is then.
 */
async function waitForHolder(store: Store, runId: string, task: string, holder: TaskRecord, expiresAt: string): Promise<TaskRecord | undefined> {
  for (let look = FIRST_LOOK_MS; ; look = Math.min(2 * look, MAX_LOOK_MS)) {
    const untilExpiry = Date.parse(expiresAt) - Date.now();
    await sleep(Math.max(0, Math.min(look, untilExpiry + 50)));
    const now = await readTask(store, runId, task);
    const ended = now?.fencingToken !== holder.fencingToken || now.leaseExpiresAt === null;
    if (ended || untilExpiry + 50 <= look || isDeadLocalWorker(holder.worker)) return now;
  }
}

/** A task's record as the store holds it now. */
export async function readTask(store: Store, runId: string, task: string): Promise<TaskRecord | undefined> {
  return (await store.getRun(runId))?.tasks.find((t) => t.name === task);
}
