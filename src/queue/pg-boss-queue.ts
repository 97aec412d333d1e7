import PgBoss from "pg-boss";
import { CrewstateError, messageOf } from "../errors.js";
import { redactUrl } from "../redact.js";
import type { RunJob, RunQueue, WorkOptions } from "./run-queue.js";

/** Runs queued in pg-boss, in a schema next to the store's (`<store schema>_queue`). */
export class PgBossQueue implements RunQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly name: string,
  ) {}

  static async open(storeUrl: string, name: string): Promise<PgBossQueue> {
    const url = new URL(storeUrl);
    const schema = `${url.searchParams.get("schema") ?? "crewstate"}_queue`;
    url.searchParams.delete("schema");
    const boss = new PgBoss({
      connectionString: url.toString(),
      schema,
      // Expired jobs (a dead worker's) go back to the queue within seconds.
      maintenanceIntervalSeconds: 1,
      monitorStateIntervalSeconds: 60,
      max: 4,
    });
    boss.on("error", () => {
      // pg-boss retries its own maintenance; a worker's failures surface through its jobs.
    });
    try {
      await boss.start();
      await boss.createQueue(name).catch((error: unknown) => {
        if (!/already exists/i.test(messageOf(error))) throw error;
      });
    } catch (error) {
      await boss.stop({ graceful: false, wait: false }).catch(() => {});
      throw new CrewstateError("STORE_UNAVAILABLE", `cannot open the pg-boss queue at ${redactUrl(storeUrl)}: ${messageOf(error)}`, { store: redactUrl(storeUrl) }, { cause: error });
    }
    return new PgBossQueue(boss, name);
  }

  async enqueue(job: RunJob, options: { delayMs?: number; timeoutMs?: number } = {}): Promise<void> {
    await this.boss.send(this.name, job, {
      ...(options.delayMs ? { startAfter: new Date(Date.now() + options.delayMs) } : {}),
      retryLimit: 20,
      retryDelay: 1,
      expireInSeconds: options.timeoutMs === undefined ? this.expireInSeconds : Math.max(1, Math.ceil(options.timeoutMs / 1000)),
    });
  }

  /** Job expiry for runs this process puts back: its workers' own timeout once it works. */
  private expireInSeconds = 60;

  async work(options: WorkOptions, handler: (job: RunJob) => Promise<void>): Promise<void> {
    this.expireInSeconds = Math.max(1, Math.ceil(options.jobTimeoutMs / 1000));
    for (let i = 0; i < options.concurrency; i++) {
      let id = "";
      id = await this.boss.work<RunJob>(this.name, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
        if (!job) return;
        try {
          await handler(job.data);
        } finally {
          // After a job, look for the next at once rather than after the polling interval.
          this.boss.notifyWorker(id);
        }
      });
    }
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 30_000 });
  }
}
