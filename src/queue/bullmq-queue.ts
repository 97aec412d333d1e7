import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { CrewstateError, messageOf } from "../errors.js";
import { redactUrl } from "../redact.js";
import type { ActiveJob, EnqueueOptions, RunJob, RunQueue, WorkOptions } from "./run-queue.js";

/** Runs queued in BullMQ, under the store's key prefix (`<prefix>queue`). */
export class BullMqQueue implements RunQueue {
  private worker: Worker | undefined;

  private constructor(
    private readonly queue: Queue<RunJob>,
    private readonly connection: { url: string },
    private readonly prefix: string,
    private readonly name: string,
  ) {}

  static async open(storeUrl: string, name: string): Promise<BullMqQueue> {
    const url = new URL(storeUrl);
    const prefix = `${url.searchParams.get("prefix") ?? "crewstate:"}queue`;
    url.searchParams.delete("prefix");
    const connection = { url: url.toString() };
    const queue = new Queue<RunJob>(name, { connection, prefix });
    queue.on("error", () => {});
    try {
      await queue.waitUntilReady();
    } catch (error) {
      await queue.close().catch(() => {});
      throw new CrewstateError("STORE_UNAVAILABLE", `cannot open the BullMQ queue at ${redactUrl(storeUrl)}: ${messageOf(error)}`, { store: redactUrl(storeUrl) }, { cause: error });
    }
    return new BullMqQueue(queue, connection, prefix, name);
  }

  /**
   * The runs named by the queue's unfinished jobs (waiting, delayed, prioritized, paused or in
   * hand). A queue never used (no meta key: BullMQ writes one when a Queue is first made) is not
   * opened, so reading it writes nothing.
   */
  static async queuedRunIds(storeUrl: string, name: string): Promise<Set<string>> {
    const url = new URL(storeUrl);
    const prefix = `${url.searchParams.get("prefix") ?? "crewstate:"}queue`;
    url.searchParams.delete("prefix");
    const probe = new Redis(url.toString(), { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1 });
    probe.on("error", () => {});
    let used: number;
    try {
      await probe.connect();
      used = await probe.exists(`${prefix}:${name}:meta`);
    } catch (error) {
      throw new CrewstateError("STORE_UNAVAILABLE", `cannot read the BullMQ queue at ${redactUrl(storeUrl)}: ${messageOf(error)}`, { store: redactUrl(storeUrl) }, { cause: error });
    } finally {
      probe.disconnect();
    }
    if (used === 0) return new Set();
    const queue = await BullMqQueue.open(storeUrl, name);
    try {
      const jobs = await queue.queue.getJobs(["waiting", "delayed", "prioritized", "paused", "waiting-children", "active"]);
      return new Set(jobs.map((job) => job?.data?.runId).filter((id): id is string => typeof id === "string"));
    } finally {
      await queue.close();
    }
  }

  async enqueue(job: RunJob, options: EnqueueOptions = {}): Promise<void> {
    // The run ID is the job ID, so a run waiting in the queue is not queued twice; a deferred
    // retry of a run already in hand gets an ID of its own. ('#' is in no run ID; BullMQ refuses ':'.)
    const jobId = options.key !== undefined ? `${job.runId}#${options.key}` : options.delayMs ? `${job.runId}#deferred-${Date.now()}` : job.runId;
    await this.queue.add("run", job, { jobId, delay: options.delayMs, attempts: 20, backoff: { type: "fixed", delay: 1000 }, removeOnComplete: true, removeOnFail: 1000 });
  }

  async activeJobs(): Promise<ActiveJob[]> {
    const jobs = await this.queue.getJobs(["active"]);
    return jobs.filter((job) => job?.data?.runId !== undefined).map((job) => ({ job: job.data as RunJob, takenAt: new Date(job.processedOn ?? job.timestamp) }));
  }

  async work(options: WorkOptions, handler: (job: RunJob) => Promise<void>): Promise<void> {
    this.worker = new Worker<RunJob>(this.name, async (job) => handler(job.data), {
      connection: this.connection,
      prefix: this.prefix,
      concurrency: options.concurrency,
      // A dead worker's job is stalled once its lock runs out and goes back to the queue.
      lockDuration: options.jobTimeoutMs,
      stalledInterval: Math.max(500, Math.floor(options.jobTimeoutMs / 2)),
      maxStalledCount: 20,
    });
    this.worker.on("error", () => {});
    await this.worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
