import PgBoss from "pg-boss";
import pg from "pg";
import { CrewstateError, messageOf } from "../errors.js";
import { createHash } from "node:crypto";
import { redactUrl } from "../redact.js";
import { quoteSchema } from "../stores/postgres/migrations.js";
import type { ActiveJob, EnqueueOptions, RunJob, RunQueue, WorkOptions } from "./run-queue.js";

/** Runs queued in pg-boss, in a schema next to the store's (`<store schema>_queue`). */
export class PgBossQueue implements RunQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly name: string,
    private readonly schema: string,
  ) {}

  static async open(storeUrl: string, name: string): Promise<PgBossQueue> {
    const url = new URL(storeUrl);
    const schema = `${url.searchParams.get("schema") ?? "crewstate"}_queue`;
    quoteSchema(schema, redactUrl(storeUrl));
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
    return new PgBossQueue(boss, name, schema);
  }

  /**
   * The runs named by the queue's unfinished jobs (created, retry, active), read with one plain
   * query: pg-boss is not started, so nothing is created when the queue's schema is not there.
   */
  static async queuedRunIds(storeUrl: string, name: string): Promise<Set<string>> {
    const url = new URL(storeUrl);
    const schema = quoteSchema(`${url.searchParams.get("schema") ?? "crewstate"}_queue`, redactUrl(storeUrl));
    url.searchParams.delete("schema");
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      const table = (await client.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [`${schema}.job`])).rows[0]?.t;
      if (!table) return new Set();
      const { rows } = await client.query<{ run_id: string | null }>(
        `SELECT DISTINCT data->>'runId' AS run_id FROM ${schema}.job WHERE name = $1 AND state IN ('created', 'retry', 'active')`,
        [name],
      );
      return new Set(rows.map((r) => r.run_id).filter((id): id is string => id !== null));
    } catch (error) {
      throw new CrewstateError("STORE_UNAVAILABLE", `cannot read the pg-boss queue at ${redactUrl(storeUrl)}: ${messageOf(error)}`, { store: redactUrl(storeUrl) }, { cause: error });
    } finally {
      await client.end().catch(() => {});
    }
  }

  async enqueue(job: RunJob, options: EnqueueOptions = {}): Promise<void> {
    await this.boss.send(this.name, job, {
      // A keyed job's ID is derived from its key: a second insert of it does nothing.
      ...(options.key !== undefined ? { id: uuidOf(`${job.runId}#${options.key}`) } : {}),
      ...(options.delayMs ? { startAfter: new Date(Date.now() + options.delayMs) } : {}),
      retryLimit: 20,
      retryDelay: 1,
      expireInSeconds: options.timeoutMs === undefined ? this.expireInSeconds : Math.max(1, Math.ceil(options.timeoutMs / 1000)),
    });
  }

  async activeJobs(): Promise<ActiveJob[]> {
    const { rows } = await this.boss
      .getDb()
      .executeSql(`SELECT data, started_on FROM ${quoteSchema(this.schema, "pg-boss")}.job WHERE name = $1 AND state = 'active'`, [this.name]);
    return rows.map((row: { data: RunJob; started_on: Date }) => ({ job: row.data, takenAt: row.started_on }));
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

/** A UUID made from a key, so that the same key always names the same job. */
function uuidOf(key: string): string {
  const hex = createHash("sha256").update(key).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
